"""Attribution patching against independent references (and bad input of the gradient and
direct scores)."""

from __future__ import annotations

import numpy as np
import pytest

import headwidgets as hw
from tests._tiny import prompt, tiny
from tests.scores._helpers import hook_count, zoo_model

METRIC = hw.Metric("logit_diff", target="w1", distractor="w2")


def corrupted(text: str) -> str:
    words = text.split()
    return " ".join(["w3" if words[0] != "w3" else "w4", *words[1:]])


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_attribution_patching_tracks_activation_patching_on_tiny_models(arch: str) -> None:
    hm = tiny(arch)
    clean = prompt(8)
    exact = hw.scores.activation_patching(hm, clean, corrupted(clean), METRIC)
    approx = hw.scores.attribution_patching(hm, clean, corrupted(clean), METRIC)
    r = np.corrcoef(exact.values.ravel(), approx.values.ravel())[0, 1]
    assert r >= 0.8
    assert approx.attrs["units"] == "fraction"


def test_attribution_patching_on_the_shipped_ioi_model_correlates_with_patching() -> None:
    hm = zoo_model("circuits-4l")
    ds = hw.datasets.ioi(4, seed=1, hm=hm)
    exact = hw.scores.activation_patching(hm, ds.prompts, ds.corrupted, ds.metrics(), reduce="mean")
    approx = hw.scores.attribution_patching(
        hm, ds.prompts, ds.corrupted, ds.metrics(), reduce="mean"
    )
    r = np.corrcoef(exact.values.ravel(), approx.values.ravel())[0, 1]
    assert r >= 0.8, f"Pearson r = {r:.3f}"


def test_attribution_patching_leaves_no_gradients_and_no_hooks() -> None:
    hm = tiny("gpt2")
    clean = prompt(6)
    per_query = hw.scores.attribution_patching(hm, clean, corrupted(clean), METRIC, per_query=True)
    whole = hw.scores.attribution_patching(hm, clean, corrupted(clean), METRIC)
    np.testing.assert_allclose(per_query.sum("query").values, whole.values, atol=1e-5)
    assert all(p.grad is None for p in hm.model.parameters())
    assert hook_count(hm.model) == 0


def test_unnormalized_attribution_is_in_metric_units_and_zero_for_identical_prompts() -> None:
    hm = tiny("llama")
    text = prompt(6)
    cube = hw.scores.attribution_patching(hm, text, text, METRIC, normalize=False)
    np.testing.assert_allclose(cube.values, 0.0, atol=1e-7)
    assert cube.attrs["units"] == "logit"


def test_attribution_scores_reject_bad_input() -> None:
    hm = tiny("gpt2")
    with pytest.raises(ValueError, match="same number of tokens"):
        hw.scores.attribution_patching(hm, prompt(5), prompt(6), METRIC)
    with pytest.raises(ValueError, match="must be a single token"):
        hw.scores.direct_logit_attribution(hm, prompt(5), "w1 w2", "w3")
    with pytest.raises(ValueError, match="position 9 is out of range"):
        hw.scores.direct_effects(hm, prompt(5), "w1", "w2", position=9)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_head_gradients_include_the_paths_through_later_heads(arch: str) -> None:
    # (∂m/∂z)·z of a layer-0 head is dm/dα of scaling that head by α at α = 1; a finite
    # difference through the engine's own scale edit is the reference
    from headwidgets.scores.attribution import _corrupted_gradients

    hm = tiny(arch)
    text = prompt(8)
    z, grad, _ = _corrupted_gradients(hm, text, METRIC)
    eps = 0.05  # central difference: O(eps²) error, well above float32 rounding of the metric
    for head in range(hm.n_heads):
        analytic = float((z[0, :, head] * grad[0, :, head]).sum())
        up = hm.sweep_values(text, METRIC, [hw.Intervention.scale({(0, head): 1 + eps})])[0]
        down = hm.sweep_values(text, METRIC, [hw.Intervention.scale({(0, head): 1 - eps})])[0]
        numeric = float(up[0] - down[0]) / (2 * eps)
        assert analytic == pytest.approx(numeric, rel=1e-2, abs=3e-6)
