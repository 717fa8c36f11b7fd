"""Re-export of :mod:`headwidgets.exercises.ioi` (checks and solutions of notebook 03)."""

from headwidgets.exercises.ioi import *  # noqa: F403
from headwidgets.exercises.ioi import __all__  # noqa: F401
