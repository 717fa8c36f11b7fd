"""Per-head steering vectors from contrastive prompt sets, for ``Intervention.add``.

v_h = mean over ``positive`` prompts of z_h at ``position`` − the same mean over
``negative`` prompts (METHODS.md, "Interventions": ``add``). Steering with it,
``Intervention.add(vectors, alpha=α)``, moves head h's output by α times the difference the
two sets make at that position.

Example
-------
>>> import headwidgets as hw
>>> from headwidgets.steering import steering_vectors
>>> hm = hw.load("induction-2l")
>>> v = steering_vectors(hm, ["ba be bi ba be"], ["ba be bi bo bu"], heads=[(1, 0)])
>>> len(v[(1, 0)]) == hm.head_dim
True
>>> spec = hw.Intervention.add(v, alpha=1.0, positions=[-1])   # the last position
>>> logits = hm.run_batch("ba be bi ba be", [spec])   # run_batch knows where the end is
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from headwidgets.scores._run import head_list

__all__ = ["steering_vectors"]

Head = tuple[int, int]


def steering_vectors(
    hm: Any,
    positive: Sequence[str],
    negative: Sequence[str],
    heads: Iterable[Head] | None = None,
    position: int = -1,
) -> dict[Head, list[float]]:
    """Mean z at ``position`` over ``positive`` minus the mean over ``negative``, per head.

    Parameters
    ----------
    hm
        The bound model.
    positive, negative
        Non-empty lists of prompts (a single string counts as one prompt).
    heads
        (layer, head) pairs (default every head).
    position
        The token position read in every prompt (negative from each prompt's end; the
        default -1 is each prompt's last token, so prompts may differ in length).

    Returns
    -------
    dict
        ``{(layer, head): [float, ...]}`` (head_dim numbers each), ready for
        :meth:`headwidgets.Intervention.add`.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> v = steering_vectors(hm, ["lot dom buv"], ["ki kib ki"], heads=[(0, 1), (1, 2)])
    >>> sorted(v), len(v[(1, 2)])
    ([(0, 1), (1, 2)], 32)
    """

    chosen = head_list(hm, heads)
    means = [_mean_z(hm, prompts, position, name) for prompts, name in _sets(positive, negative)]
    diff = means[0] - means[1]  # (L, H, D)
    return {(layer, head): diff[layer, head].tolist() for layer, head in chosen}


def _sets(positive: Any, negative: Any) -> list[tuple[list[str], str]]:
    out = []
    for prompts, name in ((positive, "positive"), (negative, "negative")):
        listed = [prompts] if isinstance(prompts, str) else list(prompts)
        if not listed or not all(isinstance(p, str) for p in listed):
            raise ValueError(f"{name} must be a non-empty list of prompts (strings)")
        out.append((listed, name))
    return out


def _mean_z(hm: Any, prompts: Sequence[str], position: int, name: str) -> Any:
    import torch

    rows = []
    for text in prompts:
        z = hm.head_z(text)  # (L, T, H, D)
        n_pos = z.shape[1]
        if not -n_pos <= position < n_pos:
            raise ValueError(
                f"position {position} is out of range for the {name} prompt {text!r} "
                f"({n_pos} tokens; valid: {-n_pos}..{n_pos - 1})"
            )
        rows.append(z[:, position])
    return torch.stack(rows).mean(dim=0)  # (L, H, D)
