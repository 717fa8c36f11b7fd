"""What every exercise check shares: the three verdicts and printing a solution."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NoReturn

TODO = "✏️  not answered yet: replace the ... with your answer and run the cell again"


def unanswered(*values: Any) -> bool:
    """True (and say so) when any value is still the ``...`` placeholder."""
    if any(value is Ellipsis for value in values):
        print(TODO)
        return True
    return False


def ok(message: str) -> None:
    print(f"✅ correct! {message}")


def wrong(message: str) -> NoReturn:
    raise AssertionError(f"❌ not quite: {message}")


def call(fn: Any, *args: Any) -> Any:
    """``fn(*args)``, reporting an exception in the student's function as a wrong answer."""
    if not callable(fn):
        wrong("give a function (def ...), not a value")
    try:
        return fn(*args)
    except Exception as exc:  # the student's code failed: say so instead of a traceback
        wrong(f"your function raised {type(exc).__name__}: {exc}")


def show(namespace: dict[str, Any], number: int, count: int) -> None:
    """Print the source of ``solution_<number>`` from a module's ``namespace``."""
    fn: Callable[..., Any] | None = namespace.get(f"solution_{number}")
    if fn is None:
        raise ValueError(f"there is no exercise {number}; exercises are 1..{count}")
    print(inspect.getsource(fn))
