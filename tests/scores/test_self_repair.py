"""Self-repair: total vs direct effect of an ablation, and every head's change of DLA."""

from __future__ import annotations

import numpy as np
import pytest

import headwidgets as hw
from headwidgets.figures import self_repair_figure
from tests._tiny import prompt, tiny

TEXT = prompt(10, seed=3)
METRIC = hw.Metric("logit_diff", target="w5", distractor="w7")


@pytest.fixture(scope="module")
def hm() -> hw.HeadModel:
    return tiny("llama")


def test_self_repair_splits_the_ablation_effect_into_direct_and_the_rest(
    hm: hw.HeadModel,
) -> None:
    ablated = [(0, 1), (1, 2)]
    cube = hw.scores.self_repair(hm, TEXT, METRIC, ablated)
    dla = hw.scores.direct_logit_attribution(hm, TEXT, "w5", "w7")
    with hm.intervene(hw.Intervention.zero(ablated)):
        edited = hw.scores.direct_logit_attribution(hm, TEXT, "w5", "w7")
        m_ablated = float(hm.sweep_values(TEXT, METRIC, [hw.Intervention()])[1])
    m_clean = float(hm.sweep_values(TEXT, METRIC, [hw.Intervention()])[1])
    direct = -sum(float(dla.sel(layer=la, head=he)) for la, he in ablated)
    np.testing.assert_allclose(cube.attrs["direct_effect"], direct, atol=1e-5)
    np.testing.assert_allclose(cube.attrs["total_effect"], m_ablated - m_clean, atol=1e-4)
    np.testing.assert_allclose(cube.attrs["self_repair"], m_ablated - m_clean - direct, atol=1e-4)
    np.testing.assert_allclose(cube.values, (edited - dla).values, atol=1e-5)
    for layer, head in ablated:  # an ablated head loses exactly its clean DLA
        np.testing.assert_allclose(
            cube.sel(layer=layer, head=head), -dla.sel(layer=layer, head=head), atol=1e-5
        )
    others = cube.values.sum() - sum(float(cube.sel(layer=la, head=he)) for la, he in ablated)
    np.testing.assert_allclose(cube.attrs["self_repair_heads"], others, atol=1e-5)


def test_ablating_a_last_layer_head_changes_other_heads_dla_only_through_the_final_norm(
    hm: hw.HeadModel,
) -> None:
    # nothing reads a last-layer head's output but the final norm: every other head's z is
    # unchanged, so its DLA changes by one common factor (the norm's new scale)
    cube = hw.scores.self_repair(hm, TEXT, METRIC, [(1, 3)])
    dla = hw.scores.direct_logit_attribution(hm, TEXT, "w5", "w7").values
    keep = np.ones_like(dla, dtype=bool)
    keep[1, 3] = False
    ratios = (cube.values + dla)[keep] / dla[keep]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-4)
    assert abs(ratios[0] - 1) > 1e-6  # the norm's scale did change


def test_self_repair_needs_a_logit_difference(hm: hw.HeadModel) -> None:
    with pytest.raises(ValueError, match="must be 'logit_diff'"):
        hw.scores.self_repair(hm, TEXT, hw.Metric("prob", target="w5"), [(1, 0)])
    with pytest.raises(ValueError, match="valid layers are 0..1"):
        hw.scores.self_repair(hm, TEXT, METRIC, [(4, 0)])


def test_self_repair_figure_shows_the_totals_then_the_heads_that_changed_most(
    hm: hw.HeadModel,
) -> None:
    cube = hw.scores.self_repair(hm, TEXT, METRIC, [(0, 1)])
    fig = self_repair_figure(cube, top=3)
    bars = fig.select_one({"name": "bars"}).data_source.data
    assert bars["label"][:3] == ["total", "direct", "self-repair"]
    assert bars["value"][:3] == [
        cube.attrs[k] for k in ("total_effect", "direct_effect", "self_repair")
    ]
    shown = np.abs(bars["value"][3:])
    others = np.abs(np.delete(cube.values.ravel(), 1))  # every head but the ablated 0.1
    assert "0.1" not in bars["label"] and len(shown) == 3
    assert shown.min() >= np.sort(others)[-3] - 1e-9


def test_self_repair_leaves_no_hooks(hm: hw.HeadModel) -> None:
    hw.scores.self_repair(hm, TEXT, METRIC, [(0, 0)])
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in hm.model.modules())
