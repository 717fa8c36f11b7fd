"""Checks and solutions for ``02_induction_heads.ipynb``.

Try the exercises before reading on: the solutions are in ``solutions.py``; the checks
(``checks.py``) compare an answer with references the model computes (``reference.py``).

A prompt here is BOS + R + R: a sequence R of ``n`` random tokens, repeated once. Positions:
0 is BOS, 1..n the first copy, n+1..2n the second copy. ``nll[t]`` is the loss of predicting
token t+1 from position t. Token 1 (after BOS) and token n+1 (the first token of the second
copy) cannot be predicted from what comes before them, so the losses of the two copies are
taken over tokens 2..n (``nll[1:n]``) and n+2..2n (``nll[n+1:]``).
"""

from __future__ import annotations

from headwidgets.exercises._check import show
from headwidgets.exercises.induction import solutions
from headwidgets.exercises.induction.checks import (
    check_ablation,
    check_choice,
    check_heads,
    check_induction_score,
    check_loss_halves,
    check_side,
    check_sides,
    check_widget,
)
from headwidgets.exercises.induction.reference import copy_losses

# the solutions, which the notebooks call as ``induction.solution_<n>``
from headwidgets.exercises.induction.solutions import (
    solution_1,  # noqa: F401
    solution_2,  # noqa: F401
    solution_3,  # noqa: F401
    solution_4,  # noqa: F401
    solution_5,  # noqa: F401
    solution_6,  # noqa: F401
    solution_7,  # noqa: F401
    solution_8,  # noqa: F401
)

__all__ = [
    "check_ablation",
    "check_choice",
    "check_heads",
    "check_induction_score",
    "check_loss_halves",
    "check_side",
    "check_sides",
    "check_widget",
    "copy_losses",
    "show_solution",
]


def show_solution(number: int) -> None:
    """Print the solution of exercise ``number``."""
    show(vars(solutions), number, solutions.COUNT)
