"""Checks and solutions of the exercises in the course notebooks (02, 03, 06 and 07).

Each ``check_*`` function takes what a student wrote (a number, a function, an
:class:`~headwidgets.Intervention`, a choice) and says whether it is right (✅), wrong (an
``AssertionError`` that starts with ❌ and gives a hint), or not answered yet (the ``...`` left
in place). Checks recompute the right answer from the model itself, never from a stored number,
and a check of a function feeds it inputs on which the usual mistakes give different answers.
``solution_*`` functions hold one way to solve each exercise; ``show_solution(n)`` prints it.

They live in the package so that ``from headwidgets.exercises import induction`` works from any
working directory; ``notebooks/solutions/`` re-exports them for older copies of the notebooks.
"""

from __future__ import annotations

__all__ = ["circuits", "induction", "inside", "ioi"]
