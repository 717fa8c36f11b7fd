"""Attention rollout under interventions, and overlap of N head sets against random sets."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention
from headwidgets.cubes import make_cube, overlap_table
from tests._tiny import prompt, tiny

TEXT = prompt(7, seed=6)


@pytest.fixture(scope="module")
def hm() -> hw.HeadModel:
    return tiny("gpt2")


def test_rollout_is_the_product_of_half_mean_attention_plus_identity(hm: hw.HeadModel) -> None:
    ids = hm.tokenize(TEXT).input_ids
    with torch.no_grad(), hm.eager_attention():
        attentions = hm.model(ids, output_attentions=True).attentions
    n_pos = ids.shape[1]
    want = np.eye(n_pos)
    for layer in attentions:  # first layer up
        step = 0.5 * layer[0].mean(0).double().numpy() + 0.5 * np.eye(n_pos)
        want = (step / step.sum(-1, keepdims=True)) @ want
    cube = hw.scores.attention_rollout(hm, TEXT)
    assert cube.dims == ("query", "key")
    np.testing.assert_allclose(cube.values, want, atol=1e-6)
    assert cube["token"].values.tolist() == hm.tokenize(TEXT).tokens


def test_rollout_under_identity_attention_is_the_identity(hm: hw.HeadModel) -> None:
    heads = {(layer, head): 1.0 for layer in range(hm.n_layers) for head in range(hm.n_heads)}
    spec = Intervention.mix(heads, toward="identity")
    cube = hw.scores.attention_rollout(hm, TEXT, intervention=spec)
    np.testing.assert_allclose(cube.values, np.eye(cube.sizes["query"]), atol=1e-6)
    assert json.loads(cube.attrs["intervention"]) == json.loads(spec.to_json())
    with hm.intervene(spec):
        inside = hw.scores.attention_rollout(hm, TEXT)
    np.testing.assert_allclose(inside.values, cube.values, atol=1e-6)
    assert not np.allclose(hw.scores.attention_rollout(hm, TEXT).values, cube.values)


def test_expected_overlap_is_the_mean_over_every_pair_of_random_sets() -> None:
    every = [(layer, head) for layer in range(2) for head in range(3)]  # 6 heads
    a, b = every[:2], every[1:4]
    table = overlap_table({"a": a, "b": b}, total=6)
    pairs = list(
        itertools.product(itertools.combinations(every, 2), itertools.combinations(every, 3))
    )
    by_min = [len(set(x) & set(y)) / 2 for x, y in pairs]
    jaccard = [len(set(x) & set(y)) / len(set(x) | set(y)) for x, y in pairs]
    row = table.iloc[0]
    assert (row["intersection"], row["overlap"]) == (1, 0.5)
    assert row["jaccard"] == pytest.approx(hw.overlap(a, b))
    assert row["expected_overlap"] == pytest.approx(np.mean(by_min))
    assert row["expected_jaccard"] == pytest.approx(np.mean(jaccard))


def test_overlap_table_takes_the_top_heads_of_cubes_for_every_pair() -> None:
    values = np.arange(8.0).reshape(2, 4)
    first = make_cube(values, ("layer", "head"), name="x")
    second = make_cube(values[:, ::-1].copy(), ("layer", "head"), name="y")
    table = overlap_table([first, second, [(1, 3), (0, 0)]], k=2)
    assert table[["a", "b"]].values.tolist() == [["0", "1"], ["0", "2"], ["1", "2"]]
    assert table["intersection"].tolist() == [0, 1, 0]  # top-2: {1.3, 1.2} vs {1.0, 1.1}
    assert table.attrs["total"] == 8
    with pytest.raises(ValueError, match="pass k="):
        overlap_table([first, second])
    with pytest.raises(ValueError, match="at least 2 head sets"):
        overlap_table([[(0, 0)]], total=8)


def test_overlap_figure_shows_every_pair_both_ways_with_its_random_expectation() -> None:
    from headwidgets.figures import overlap_figure

    table = overlap_table({"a": [(0, 1), (1, 1)], "b": [(0, 1)], "c": [(1, 0)]}, total=8)
    cells = overlap_figure(table, value="jaccard").select_one({"name": "cells"}).data_source.data
    assert len(cells["x"]) == 2 * len(table) == 6
    assert cells["text"][0] == "0.50 (0.12)"  # |a ∩ b| / |a ∪ b| = 1/2; random 2-set vs 1-set
    with pytest.raises(ValueError, match="'overlap' or 'jaccard'"):
        overlap_figure(table, value="dice")
