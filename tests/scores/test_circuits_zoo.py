"""Circuits on the shipped models: what path patching finds in induction-2l."""

from __future__ import annotations

import random

import numpy as np
import pytest

import headwidgets as hw
from headwidgets.zoo.tasks import induction_vocab


@pytest.fixture(scope="module")
def induction() -> hw.HeadModel:
    return hw.load("induction-2l", device="cpu")


def _repeats(n: int = 6, length: int = 10, seed: int = 0) -> tuple[list[str], list[str], list]:
    """BOS + R + R[:6]; the corruption replaces R[5] in the first copy (the earlier occurrence
    of the current token), so only the key side of induction can tell where to look."""
    words = [w for w in induction_vocab() if not w.startswith("<")]
    rng = random.Random(seed)
    cleans, corrupts, metrics = [], [], []
    for _ in range(n):
        r = rng.sample(words, length)
        other = rng.choice([w for w in words if w not in r])
        clean = r + r[:6]
        bad = list(clean)
        bad[5] = other
        cleans.append(" ".join(clean))
        corrupts.append(" ".join(bad))
        metrics.append(hw.Metric("logit_diff", target=" " + r[6], distractor=" " + r[5]))
    return cleans, corrupts, metrics


def test_induction_2l_previous_token_head_reaches_the_induction_heads_through_their_keys(
    induction: hw.HeadModel,
) -> None:
    cleans, corrupts, metrics = _repeats()
    receivers = [(1, head) for head in range(4)]
    cube = hw.scores.path_patching(
        induction, cleans, corrupts, metrics, receivers=receivers, normalize=True, reduce="mean"
    )
    from_prev = cube.sel(layer=0, head=1)  # head 0.1, the previous-token head
    keys, queries = from_prev.sel(input="k").values, from_prev.sel(input="q").values
    # K-composition: through the keys of the four layer-1 heads, most of the effect
    assert keys.sum() > 0.8
    assert (keys > 0.1).all()
    # and through their queries, almost nothing
    assert np.abs(queries).max() < 0.02
    # no other layer-0 head comes close through the keys
    others = cube.sel(layer=0, head=[0, 2, 3], input="k").values
    assert np.abs(others).max() < 0.1 * keys.max()
