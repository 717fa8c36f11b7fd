"""Re-export of :mod:`headwidgets.exercises.induction` (checks and solutions of notebook 02)."""

from headwidgets.exercises.induction import *  # noqa: F403
from headwidgets.exercises.induction import __all__  # noqa: F401
