"""Solutions of the exercises of ``02_induction_heads.ipynb``: try the exercises first.

``show_solution(n)`` (in :mod:`headwidgets.exercises.induction`) prints one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from headwidgets.exercises.induction.reference import Head

COUNT = 8  # exercises in the notebook


def solution_1(nll: Any, n: int) -> tuple[float, float]:
    """Exercise 1: skip the two unpredictable tokens (1 and n+1), average each copy."""
    first = nll[1:n].mean()  # targets 2..n
    second = nll[n + 1 :].mean()  # targets n+2..2n
    return float(first), float(second)


def solution_2(cubes: dict[str, Any], threshold: float) -> tuple[list[Head], list[Head]]:
    """Exercise 2: read the heads above the threshold off the score cubes."""

    def above(cube: Any) -> list[Head]:
        table = cube.to_series()
        return [(int(layer), int(head)) for (layer, head), v in table.items() if v > threshold]

    return above(cubes["previous_token"]), above(cubes["induction"])


def solution_3(pattern: np.ndarray, n: int) -> np.ndarray:
    """Exercise 3: A[q, q-n+1] for the queries of the second copy, averaged."""
    q = np.arange(n + 1, 2 * n + 1)
    return pattern[:, :, q, q - n + 1].mean(-1)


def solution_4(induction_heads: Sequence[Head]) -> Any:
    """Exercise 4: zero-ablate the induction heads."""
    import headwidgets as hw

    return hw.Intervention.zero(induction_heads)


def solution_5(copy_losses: Callable[..., tuple[float, float]], previous_token_heads: Any) -> str:
    """Exercise 5: measure, then read off which copy got worse."""
    import headwidgets as hw

    base = copy_losses()
    ablated = copy_losses(hw.Intervention.zero(previous_token_heads))
    up = (ablated[0] - base[0] > 0.5, ablated[1] - base[1] > 0.5)
    return {(False, False): "neither", (True, False): "first", (False, True): "second"}.get(
        up, "both"
    )


def solution_6(previous_token_heads: Sequence[Head], n: int) -> tuple[Any, Any]:
    """Exercise 6: the same heads, zeroed at the first copy's or at the second copy's positions."""
    import headwidgets as hw

    key_side = hw.Intervention.zero(previous_token_heads, positions=range(1, n + 1))
    query_side = hw.Intervention.zero(previous_token_heads, positions=range(n + 1, 2 * n + 1))
    return key_side, query_side


def solution_7(clean: float, key_side: float, query_side: float) -> str:
    """Exercise 7: the side whose ablation lowers the induction score more."""
    return "key" if clean - key_side > clean - query_side else "query"


def solution_8(explorer: Any, head: Head, induction_head: Head) -> None:
    """Exercise 8 (in the widget: select both heads, drag the first one's α to 0)."""
    import headwidgets as hw

    explorer.controls.select([head, induction_head])
    explorer.controls.intervention = hw.Intervention.scale({head: 0.0, induction_head: 1.0})
