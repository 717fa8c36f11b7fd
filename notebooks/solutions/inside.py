"""Re-export of :mod:`headwidgets.exercises.inside` (checks and solutions of notebook 06)."""

from headwidgets.exercises.inside import *  # noqa: F403
from headwidgets.exercises.inside import __all__  # noqa: F401
