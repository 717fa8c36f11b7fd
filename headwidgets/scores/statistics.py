"""The attention statistics: their names, labels and per-layer reducers.

:func:`~headwidgets.scores.patterns.pattern_scores` runs the model once and hands each layer's
attention probabilities to the reducers built here; the statistics themselves are the pure
functions of :mod:`.reductions`. :data:`STATISTIC_INFO` holds each one's ``long_name`` and
``units`` (the retrieval score's too).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from headwidgets.scores import _run
from headwidgets.scores import reductions as red

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_STATISTICS",
    "STATISTICS",
    "STATISTIC_INFO",
    "Statistic",
    "layer_reducers",
    "repeat_period",
]


Statistic = Literal[
    "previous_token",
    "induction",
    "duplicate_token",
    "sink",
    "self",
    "entropy",
    "normalized_entropy",
    "attention_distance",
    "future_influence",
    "token_set",
]
STATISTICS: tuple[str, ...] = get_args(Statistic)
DEFAULT_STATISTICS: tuple[str, ...] = (
    "previous_token",
    "sink",
    "self",
    "entropy",
    "normalized_entropy",
    "attention_distance",
    "future_influence",
)


@dataclass(frozen=True)
class _Info:
    long_name: str
    units: str
    axis: Literal["query", "key"] = "query"


STATISTIC_INFO: dict[str, _Info] = {
    "previous_token": _Info("attention to the previous token, A[q, q-1]", "probability"),
    "induction": _Info("induction: attention to the token after the earlier copy", "probability"),
    "duplicate_token": _Info("attention to the earlier copy of the same token", "probability"),
    "sink": _Info("attention to the first position, A[q, 0]", "probability"),
    "self": _Info("attention to the own position, A[q, q]", "probability"),
    "entropy": _Info("attention entropy", "nats"),
    "normalized_entropy": _Info("attention entropy / log(keys)", "fraction"),
    "attention_distance": _Info("mean attended distance (windowed)", "positions"),
    "future_influence": _Info("mean attention a position receives later", "probability", "key"),
    "token_set": _Info("attention to a set of tokens", "probability"),
    "retrieval": _Info("retrieval: copy steps whose argmax is the source", "fraction"),
}


def repeat_period(ids: Sequence[int], period: int | None = None) -> tuple[int, int]:
    """``(period, offset)`` of a prompt that is ``prefix + R + R`` (``len(R) = period``).

    Without ``period`` the prefix is the BOS (offset 1) or nothing (offset 0).

    Example
    -------
    >>> repeat_period([1, 7, 8, 9, 7, 8, 9])
    (3, 1)
    """
    n = len(ids)
    if period is not None:
        offset = n - 2 * period
        if (
            period < 1
            or offset < 0
            or list(ids[offset : offset + period]) != list(ids[offset + period :])
        ):
            raise ValueError(
                f"the prompt ({n} tokens) does not end in two copies of {period} tokens"
            )
        return period, offset
    for offset in (1, 0):
        if n - offset >= 2 and (n - offset) % 2 == 0:
            half = (n - offset) // 2
            if list(ids[offset : offset + half]) == list(ids[offset + half :]):
                return half, offset
    raise ValueError(
        f"the prompt ({n} tokens) is not BOS + R + R (a random sequence repeated); "
        "use hw.datasets.repeated_tokens(hm) or pass period=len(R)"
    )


def _token_positions(rows: Sequence[_run.Encoded], tokens: Iterable[int | str]) -> list[list[int]]:
    wanted = list(tokens)
    if not wanted:
        raise ValueError("token_set needs tokens=[...]: key positions (int) or token texts (str)")
    found: list[list[int]] = []
    unmatched = {w for w in wanted if isinstance(w, str)}
    for row in rows:
        positions: set[int] = set()
        for item in wanted:
            if isinstance(item, str):
                hits = [i for i, t in enumerate(row.tokens) if t.strip() == item.strip()]
                unmatched -= {item} if hits else set()
                positions.update(hits)
            elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
                if not -len(row) <= item < len(row):
                    raise ValueError(
                        f"token_set position {item} is out of range for {len(row)} tokens"
                    )
                positions.add(int(item) % len(row))
            else:
                raise TypeError(f"token_set items are positions or token texts, got {item!r}")
        found.append(sorted(positions))
    if unmatched:
        raise ValueError(
            f"token_set: no position of any prompt has the token(s) {sorted(unmatched)}"
        )
    return found


def layer_reducers(
    hm: Any,
    rows: Sequence[_run.Encoded],
    names: Sequence[str],
    period: int | None,
    window: int,
    tokens: Iterable[int | str] | None,
) -> dict[str, _run.RowFn]:
    """One reducer per statistic of ``names``: ``fn(layer, A, p)`` reduces the attention
    probabilities ``A`` of one layer for prompt ``p`` of ``rows`` (what ``_run.stream`` calls)."""
    unknown = [n for n in names if n not in STATISTICS]
    if unknown:
        raise ValueError(f"unknown statistics {unknown}; valid: {', '.join(STATISTICS)}")
    causal = bool(hm.is_causal)
    repeats: list[tuple[int, int]] = []
    if {"induction", "duplicate_token"} & set(names):
        repeats = [repeat_period(r.ids, period) for r in rows]
    keys = _token_positions(rows, tokens or []) if "token_set" in names else []

    def make(name: str) -> _run.RowFn:
        def fn(layer: int, A: torch.Tensor, p: int) -> torch.Tensor:
            if name == "previous_token":
                return red.previous_token(A)
            if name == "induction":
                return red.induction(A, *repeats[p])
            if name == "duplicate_token":
                return red.duplicate_token(A, *repeats[p])
            if name == "sink":
                return red.sink(A, causal)
            if name == "self":
                return red.self_attention(A, causal)
            if name in ("entropy", "normalized_entropy"):
                return red.entropy(A, name == "normalized_entropy", causal)
            if name == "attention_distance":
                return red.attention_distance(A, window, causal)
            if name == "future_influence":
                return red.future_influence(A)
            return red.token_set(A, keys[p])

        return fn

    return {name: make(name) for name in dict.fromkeys(names)}
