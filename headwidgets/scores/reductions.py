"""Pure reductions of attention probabilities to per-position statistics (METHODS.md).

Every function takes the attention of ONE unpadded prompt, ``A`` of shape ``(..., T, T)``
(``A[..., q, k]``: query ``q`` attends to key ``k``; rows sum to 1; leading dims are usually
heads), and returns ``(..., T)``: the statistic at each query position (each key position for
:func:`future_influence`), NaN where it is not defined. A score averages the defined positions.

For causal models the first position can only attend to itself (``A[0, 0] = 1``), so the
statistics whose value is forced there (sink, self, entropy, attention_distance) are NaN at
``q = 0`` when ``causal=True``.

Example
-------
>>> import torch
>>> A = torch.tensor([[1.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.5, 0.5, 0.0]])
>>> previous_token(A).tolist()
[nan, 0.25, 0.5]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = [
    "attention_distance",
    "duplicate_token",
    "entropy",
    "future_influence",
    "induction",
    "previous_token",
    "retrieval_hits",
    "self_attention",
    "sink",
    "token_set",
]


def _check(A: torch.Tensor) -> int:
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(
            f"attention must be (..., T, T) for one prompt, got shape {tuple(A.shape)}"
        )
    return int(A.shape[-1])


def _offset_diagonal(A: torch.Tensor, shift: int) -> torch.Tensor:
    """``out[..., q] = A[..., q, q - shift]`` where ``0 <= q - shift < T``, else NaN."""
    import torch

    n = _check(A)
    out = torch.full(A.shape[:-1], math.nan, dtype=torch.float32, device=A.device)
    if abs(shift) < n:
        diag = torch.diagonal(A.float(), offset=-shift, dim1=-2, dim2=-1)
        if shift >= 0:
            out[..., shift:] = diag
        else:
            out[..., : n + shift] = diag
    return out


def previous_token(A: torch.Tensor) -> torch.Tensor:
    """``A[q, q-1]`` for ``q >= 1`` (NaN at ``q = 0``).

    Example
    -------
    >>> import torch
    >>> previous_token(torch.eye(3)).tolist()
    [nan, 0.0, 0.0]
    """
    return _offset_diagonal(A, 1)


def _repeat_mask(out: torch.Tensor, period: int, offset: int) -> torch.Tensor:
    if period < 1 or offset < 0:
        raise ValueError(f"need period >= 1 and offset >= 0, got period={period}, offset={offset}")
    out[..., : offset + period] = math.nan
    return out


def induction(A: torch.Tensor, period: int, offset: int = 1) -> torch.Tensor:
    """On ``prefix + R + R`` (``len(R) = period``, ``len(prefix) = offset``): ``A[q, q-period+1]``
    for ``q`` in the second copy, NaN elsewhere.

    Example
    -------
    >>> import torch
    >>> A = torch.zeros(5, 5); A[3, 2] = A[4, 3] = 1.0   # BOS + (a b) + (a b)
    >>> induction(A, period=2).tolist()
    [nan, nan, nan, 1.0, 1.0]
    """
    return _repeat_mask(_offset_diagonal(A, period - 1), period, offset)


def duplicate_token(A: torch.Tensor, period: int, offset: int = 1) -> torch.Tensor:
    """On ``prefix + R + R``: ``A[q, q-period]`` (the earlier copy of the same token) for ``q`` in
    the second copy, NaN elsewhere.

    Example
    -------
    >>> import torch
    >>> A = torch.zeros(5, 5); A[3, 1] = A[4, 2] = 1.0
    >>> duplicate_token(A, period=2).tolist()
    [nan, nan, nan, 1.0, 1.0]
    """
    return _repeat_mask(_offset_diagonal(A, period), period, offset)


def _skip_first(out: torch.Tensor, causal: bool) -> torch.Tensor:
    if causal:
        out[..., 0] = math.nan
    return out


def sink(A: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """``A[q, 0]``: attention to the first position (BOS), NaN at ``q = 0`` when causal.

    Example
    -------
    >>> import torch
    >>> sink(torch.tensor([[1.0, 0.0], [0.9, 0.1]])).tolist()
    [nan, 0.8999999761581421]
    """
    _check(A)
    return _skip_first(A[..., :, 0].float().clone(), causal)


def self_attention(A: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """``A[q, q]``: attention to the query's own position, NaN at ``q = 0`` when causal.

    Example
    -------
    >>> import torch
    >>> self_attention(torch.tensor([[1.0, 0.0], [0.5, 0.5]])).tolist()
    [nan, 0.5]
    """
    return _skip_first(_offset_diagonal(A, 0), causal)


def entropy(A: torch.Tensor, normalized: bool = False, causal: bool = True) -> torch.Tensor:
    """``-Σ_k A[q,k] log A[q,k]`` in nats (``0 log 0 = 0``).

    ``normalized=True`` divides by the log of the number of keys the query can see:
    ``log(q+1)`` for causal models, ``log(T)`` otherwise. NaN at ``q = 0`` when causal.

    Example
    -------
    >>> import torch
    >>> entropy(torch.tensor([[1.0, 0.0], [0.5, 0.5]]), normalized=True).tolist()
    [nan, 1.0]
    """
    import torch

    n = _check(A)
    probs = A.float()
    out = -torch.special.xlogy(probs, probs).sum(dim=-1)
    if normalized:
        keys = torch.arange(1, n + 1, device=A.device) if causal else torch.full((n,), n)
        out = out / torch.log(keys.to(device=A.device, dtype=torch.float32))
    return _skip_first(out, causal)


def attention_distance(A: torch.Tensor, window: int = 64, causal: bool = True) -> torch.Tensor:
    """``Σ_k A[q,k] · min(|q-k|, window)``: mean attended distance, capped at ``window``.

    NaN at ``q = 0`` when causal (the distance there is 0 by construction).

    Example
    -------
    >>> import torch
    >>> attention_distance(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
    ...                    window=64).tolist()
    [nan, 0.0, 2.0]
    """
    import torch

    n = _check(A)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    pos = torch.arange(n, device=A.device)
    dist = (pos[:, None] - pos[None, :]).abs().clamp(max=window).float()
    return _skip_first((A.float() * dist).sum(dim=-1), causal)


def future_influence(A: torch.Tensor) -> torch.Tensor:
    """Per KEY position ``k``: mean over ``q > k`` of ``A[q, k]`` (NaN at the last key).

    Example
    -------
    >>> import torch
    >>> A = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.1, 0.2, 0.7]])
    >>> [round(x, 4) for x in future_influence(A).tolist()]
    [0.3, 0.2, nan]
    """
    import torch

    n = _check(A)
    later = torch.tril(torch.ones(n, n, dtype=torch.bool, device=A.device), diagonal=-1)
    total = (A.float() * later).sum(dim=-2)
    count = later.sum(dim=0).float()
    out = total / count
    out[..., count == 0] = math.nan
    return out


def token_set(A: torch.Tensor, positions: Sequence[int]) -> torch.Tensor:
    """``Σ_{k ∈ S} A[q, k]`` for a set ``S`` of key positions (negative counts from the end).

    Example
    -------
    >>> import torch
    >>> A = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.1, 0.2, 0.7]])
    >>> [round(x, 4) for x in token_set(A, [0, -1]).tolist()]
    [1.0, 0.5, 0.8]
    """
    n = _check(A)
    bad = [p for p in positions if not -n <= p < n]
    if bad:
        raise ValueError(f"token_set positions {bad} are out of range for {n} tokens")
    keys = sorted({p % n for p in positions})
    return A[..., keys].float().sum(dim=-1)


def retrieval_hits(A: torch.Tensor, steps: Sequence[tuple[int, Sequence[int]]]) -> torch.Tensor:
    """1.0 where the query's argmax attention lands on one of its source positions, else 0.0.

    ``steps`` lists ``(query, sources)``: the query position that predicted a copied token and
    the positions in the needle holding that token. Other queries are NaN.

    Example
    -------
    >>> import torch
    >>> A = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.8, 0.0], [0.6, 0.3, 0.1]])
    >>> retrieval_hits(A, [(1, [1]), (2, [1])]).tolist()
    [nan, 1.0, 0.0]
    """
    import torch

    n = _check(A)
    out = torch.full(A.shape[:-1], math.nan, dtype=torch.float32, device=A.device)
    if not steps:
        return out
    queries = [q for q, _ in steps]
    bad = [q for q in queries if not 0 <= q < n]
    if bad:
        raise ValueError(f"retrieval query positions {bad} are out of range for {n} tokens")
    top = A[..., queries, :].argmax(dim=-1)  # (..., S)
    for i, (query, sources) in enumerate(steps):
        src = torch.as_tensor(list(sources), device=A.device)
        out[..., query] = torch.isin(top[..., i], src).float()
    return out
