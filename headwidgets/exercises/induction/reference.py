"""Reference answers of ``02_induction_heads.ipynb``, computed from the model's own outputs
(independent of ``hw.scores``).

A prompt here is BOS + R + R: a sequence R of ``n`` random tokens, repeated once. Positions:
0 is BOS, 1..n the first copy, n+1..2n the second copy. ``nll[t]`` is the loss of predicting
token t+1 from position t.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Head", "copy_losses"]

Head = tuple[int, int]


def _period(hm: Any, prompt: str) -> int:
    ids = hm.tokenize(prompt).input_ids[0].tolist()
    n = (len(ids) - 1) // 2
    if len(ids) != 2 * n + 1 or ids[1 : n + 1] != ids[n + 1 :]:
        raise ValueError("the prompt is not BOS + R + R")
    return n


def _nll(hm: Any, prompt: str, intervention: Any = None) -> Any:
    """Per-position loss of one prompt, a torch tensor: ``nll[t]`` predicts token t+1."""
    out = hm.run(prompt, intervention=intervention)
    logp = out.logits[0].log_softmax(-1)
    ids = out.input_ids[0].cpu()
    return -logp[:-1].gather(-1, ids[1:, None])[:, 0]


def _halves(nll: Any, n: int) -> tuple[float, float]:
    return float(nll[1:n].mean()), float(nll[n + 1 :].mean())


def copy_losses(hm: Any, prompts: Sequence[str], intervention: Any = None) -> tuple[float, float]:
    """Mean loss on the first copy (tokens 2..n) and on the second copy (tokens n+2..2n)."""
    first, second = [], []
    for prompt in prompts:
        halves = _halves(_nll(hm, prompt, intervention), _period(hm, prompt))
        first.append(halves[0])
        second.append(halves[1])
    return float(np.mean(first)), float(np.mean(second))


def _patterns(hm: Any, prompt: str) -> np.ndarray:
    """(layer, head, query, key) attention of one prompt."""
    return hm.run(prompt, patterns=True).patterns[0].numpy()


def _reference_scores(hm: Any, prompts: Sequence[str]) -> dict[str, np.ndarray]:
    prev, ind = [], []
    for prompt in prompts:
        n = _period(hm, prompt)
        A = _patterns(hm, prompt)
        q = np.arange(1, A.shape[-1])
        prev.append(A[:, :, q, q - 1].mean(-1))
        q2 = np.arange(n + 1, 2 * n + 1)
        ind.append(A[:, :, q2, q2 - n + 1].mean(-1))
    return {"previous_token": np.mean(prev, 0), "induction": np.mean(ind, 0)}


def _heads_above(values: np.ndarray, threshold: float) -> set[Head]:
    layers, heads = np.nonzero(values > threshold)
    return {(int(layer), int(head)) for layer, head in zip(layers, heads, strict=True)}


def _induction_under(hm: Any, prompts: Sequence[str], spec: Any) -> np.ndarray:
    """(layer, head) induction scores of ``prompts`` with ``spec`` applied."""
    with hm.intervene(spec):
        return _reference_scores(hm, prompts)["induction"]
