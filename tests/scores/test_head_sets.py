"""Head-set search on a tiny model built so that exactly one head matters."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import headwidgets as hw
from headwidgets.figures import head_set_search_figure
from tests._tiny import prompt, tiny

TEXT = prompt(8, seed=5)
METRIC = hw.Metric("logit_diff", target="w5", distractor="w7")
ONLY = (1, 2)


@pytest.fixture(scope="module")
def hm() -> hw.HeadModel:
    """Tiny GPT-2 whose output projections read nothing but head 1.2: every other head's
    output is multiplied by zero, so ablating it changes nothing."""
    hm = tiny("gpt2")
    dim = hm.head_dim
    with torch.no_grad():
        for layer in range(hm.n_layers):
            weight = hm.out_proj_weight(layer)  # (d_model, H*D), a view of the Conv1D weight
            for head in range(hm.n_heads):
                if (layer, head) != ONLY:
                    weight[:, head * dim : (head + 1) * dim] = 0.0
    return hm


def test_forward_search_picks_the_one_head_that_matters_first(hm: hw.HeadModel) -> None:
    cube = hw.scores.head_set_search(hm, TEXT, METRIC, "forward", target=0.9)
    assert cube.dims == ("step",)
    assert cube.values.tolist() == pytest.approx([0.0, 1.0], abs=1e-5)
    assert cube["changed"].values.tolist() == ["", "1.2"]
    assert json.loads(cube.attrs["chosen"]) == [list(ONLY)] and cube.attrs["reached"] == 1
    # a random single head keeps all (1.2) or nothing: the mean is a count of 16 sets
    share = float(cube["random_mean"].values[1]) * 16
    assert abs(share - round(share)) < 1e-3
    assert cube["random_max"].values[0] == pytest.approx(0.0, abs=1e-4)


def test_backward_search_removes_every_head_that_does_not_matter(hm: hw.HeadModel) -> None:
    cube = hw.scores.head_set_search(hm, TEXT, METRIC, "backward", target=0.9)
    n_heads = hm.n_layers * hm.n_heads
    assert cube["size"].values.tolist() == list(range(n_heads, 0, -1))
    assert json.loads(cube.attrs["chosen"]) == [list(ONLY)]
    np.testing.assert_allclose(cube.values, 1.0, atol=1e-4)
    assert "1.2" not in cube["changed"].values.tolist()


def test_search_fractions_equal_the_kept_sets_scored_directly() -> None:
    hm = tiny("llama")
    cube = hw.scores.head_set_search(hm, TEXT, METRIC, "forward", target=0.99, max_steps=3)
    every = [(la, he) for la in range(hm.n_layers) for he in range(hm.n_heads)]
    none, clean = hm.sweep_values(TEXT, METRIC, [hw.Intervention.zero(every)])
    kept: list[tuple[int, int]] = []
    for step in range(1, cube.sizes["step"]):
        layer, head = (int(x) for x in str(cube["changed"].values[step]).split("."))
        kept.append((layer, head))
        spec = hw.Intervention.zero([h for h in every if h not in kept])
        value = hm.sweep_values(TEXT, METRIC, [spec])[0]
        want = float((value[0] - none[0]) / (clean - none[0]))
        assert cube.values[step] == pytest.approx(want, abs=1e-4)


def test_head_set_search_rejects_too_few_random_sets(hm: hw.HeadModel) -> None:
    with pytest.raises(ValueError, match="n_random must be an int >= 16"):
        hw.scores.head_set_search(hm, TEXT, METRIC, n_random=4)
    with pytest.raises(ValueError, match="direction must be 'forward' or 'backward'"):
        hw.scores.head_set_search(hm, TEXT, METRIC, direction="sideways")  # type: ignore[arg-type]


def test_head_set_search_figure_draws_the_chosen_set_against_random_sets(
    hm: hw.HeadModel,
) -> None:
    cube = hw.scores.head_set_search(hm, TEXT, METRIC, "forward", target=0.9)
    fig = head_set_search_figure(cube)
    chosen = fig.select_one({"name": "chosen"}).data_source.data
    assert chosen["value"].tolist() == cube.values.tolist()
    assert chosen["changed"] == ["none", "+1.2"]
    assert fig.select_one({"name": "random"}) is not None
