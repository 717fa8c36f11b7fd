"""Re-export of :mod:`headwidgets.exercises.circuits` (checks and solutions of notebook 07)."""

from headwidgets.exercises.circuits import *  # noqa: F403
from headwidgets.exercises.circuits import __all__  # noqa: F401
