"""Random-head controls: seeded sets and the top-k versus random-k comparison."""

from __future__ import annotations

import numpy as np
import pytest

import headwidgets as hw
from headwidgets import Intervention
from tests._tiny import prompt, tiny
from tests.scores._helpers import count_forwards

METRIC = hw.Metric("logit_diff", target="w1", distractor="w2")


def test_random_heads_are_seeded_distinct_and_inside_the_model() -> None:
    heads = hw.random_heads(5, seed=3, n_layers=2, n_heads=4)
    assert heads == hw.random_heads(5, seed=3, n_layers=2, n_heads=4)
    assert heads != hw.random_heads(5, seed=4, n_layers=2, n_heads=4)
    assert len(set(heads)) == 5 and heads == sorted(heads)
    assert all(0 <= layer < 2 and 0 <= head < 4 for layer, head in heads)
    assert hw.random_heads(3, seed=0, hm=tiny("gpt2")) == hw.random_heads(3, 0, 2, 4)


def test_random_heads_reject_impossible_requests() -> None:
    with pytest.raises(ValueError, match=r"k must be in 0..8"):
        hw.random_heads(9, n_layers=2, n_heads=4)
    with pytest.raises(ValueError, match="needs the model's shape"):
        hw.random_heads(2)


def test_topk_vs_random_ablates_every_set_in_one_pass() -> None:
    hm = tiny("gpt2")
    text = prompt(8)
    score = hw.scores.sink(hm, text)
    with count_forwards(hm.model) as calls:
        result = hw.topk_vs_random(hm, text, METRIC, score, k=2, n_seeds=5)
    assert calls[0] == 1
    top = hw.top_heads(score, 2)
    assert result.top_heads == sorted(zip(top["layer"], top["head"], strict=True))
    clean = hm.run(text).logits[0, -1]
    edited = hm.run(text, intervention=Intervention.zero(result.top_heads)).logits[0, -1]
    w1, w2 = hm.token_id("w1"), hm.token_id("w2")
    expected = float((edited[w1] - edited[w2]) - (clean[w1] - clean[w2]))
    assert result.top_effect == pytest.approx(expected, abs=1e-5)
    assert result.random_sets[0] == hw.random_heads(2, seed=0, hm=hm)
    frame = result.to_frame()
    assert list(frame["set"]) == ["top"] + ["random"] * 5
    assert result.random_mean == pytest.approx(np.mean(frame["effect"][1:]))
    assert "top-2 ablation" in str(result)


def test_topk_vs_random_needs_enough_scored_heads() -> None:
    hm = tiny("gpt2")
    cube = hw.scores.ablation_effect(hm, prompt(5), METRIC, heads=[(0, 0)])
    with pytest.raises(ValueError, match="only 1 non-NaN heads"):
        hw.topk_vs_random(hm, prompt(5), METRIC, cube, k=2)
