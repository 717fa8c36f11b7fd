"""Ablation sweeps, activation patching and scale curves against independent references."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention
from tests._tiny import prompt, tiny
from tests.scores._helpers import count_forwards, hook_count

METRIC = hw.Metric("logit_diff", target="w1", distractor="w2")


def zeroed_columns(hm, layer: int, head: int) -> torch.nn.Module:
    """A copy of the model with head (layer, head)'s columns of W_O set to zero."""
    model = copy.deepcopy(hm.model)
    proj = model.get_submodule(hm.layout.blocks_path)[layer].get_submodule(hm.layout.spec.out_proj)
    cols = slice(head * hm.head_dim, (head + 1) * hm.head_dim)
    with torch.no_grad():
        if type(proj).__name__ == "Conv1D":
            proj.weight[cols, :] = 0
        else:
            proj.weight[:, cols] = 0
    return model


def logit_diff(model: torch.nn.Module, hm, text: str) -> float:
    with torch.no_grad():
        logits = model(input_ids=hm.tokenize(text).input_ids).logits[0, -1]
    return float(logits[hm.token_id("w1")] - logits[hm.token_id("w2")])


def corrupted(text: str) -> str:
    """Same length, same last token, different first word."""
    words = text.split()
    return " ".join(["w3" if words[0] != "w3" else "w4", *words[1:]])


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_zero_ablation_effect_equals_zeroing_the_heads_weights(arch: str) -> None:
    hm = tiny(arch)
    text = prompt(8)
    cube = hw.scores.ablation_effect(hm, text, METRIC)
    clean = logit_diff(hm.model, hm, text)
    for layer, head in [(0, 2), (1, 3)]:
        expected = logit_diff(zeroed_columns(hm, layer, head), hm, text) - clean
        assert float(cube.sel(layer=layer, head=head)) == pytest.approx(expected, abs=1e-5)
    assert cube.dims == ("layer", "head") and cube.attrs["units"] == "logit"


def test_an_all_heads_sweep_is_one_forward_pass_and_leaves_no_hooks() -> None:
    hm = tiny("gpt2")
    with count_forwards(hm.model) as calls:
        hw.scores.ablation_effect(hm, prompt(8), METRIC, mode="scale", alpha=2.0)
    assert calls[0] == 1
    assert hook_count(hm.model) == 0


def test_hm_sweep_delegates_to_ablation_effect() -> None:
    hm = tiny("llama")
    text = prompt(6)
    np.testing.assert_array_equal(
        hm.sweep(text, METRIC).values, hw.scores.ablation_effect(hm, text, METRIC).values
    )


def test_ablation_modes_match_the_engine_run_one_edit_at_a_time() -> None:
    hm = tiny("gpt2")
    text, other = prompt(6), prompt(6, seed=9)
    cases = {
        "mean": (
            Intervention.mean([(1, 2)], reference=[other, text]),
            {"reference": [other, text]},
        ),
        "resample": (Intervention.resample([(1, 2)], source=other), {"source": other}),
        "scale": (Intervention.scale({(1, 2): -1.0}), {"alpha": -1.0}),
    }
    clean = hm.run(text).logits[0, -1]
    for mode, (spec, kwargs) in cases.items():
        cube = hw.scores.ablation_effect(hm, text, METRIC, mode=mode, heads=[(1, 2)], **kwargs)
        edited = hm.run(text, intervention=spec).logits[0, -1]
        ids = [hm.token_id("w1"), hm.token_id("w2")]
        expected = float((edited[ids[0]] - edited[ids[1]]) - (clean[ids[0]] - clean[ids[1]]))
        assert float(cube.sel(layer=1, head=2)) == pytest.approx(expected, abs=1e-5), mode
        assert np.isnan(cube.sel(layer=0, head=0)), "heads not swept are NaN"


def test_a_prompt_list_with_per_prompt_metrics_adds_a_prompt_dim() -> None:
    hm = tiny("gpt2")
    texts = [prompt(5), prompt(7, seed=3)]
    metrics = [METRIC, hw.Metric("prob", target="w5")]
    cube = hw.scores.ablation_effect(hm, texts, metrics, heads=[(0, 0), (1, 1)])
    assert cube.dims == ("layer", "head", "prompt")
    single = hw.scores.ablation_effect(hm, texts[1], metrics[1], heads=[(0, 0), (1, 1)])
    np.testing.assert_allclose(cube.isel(prompt=1).values, single.values, atol=1e-7)
    reduced = hw.scores.ablation_effect(hm, texts, metrics, heads=[(0, 0)], reduce="median")
    assert reduced.dims == ("layer", "head")


def test_patching_a_run_with_itself_changes_nothing() -> None:
    hm = tiny("llama")
    text = prompt(7)
    raw = hw.scores.activation_patching(hm, text, text, METRIC, normalize=False)
    np.testing.assert_allclose(raw.values, 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="normalized patching effects are undefined"):
        hw.scores.activation_patching(hm, text, text, METRIC)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_patching_every_head_at_once_restores_the_clean_metric(arch: str) -> None:
    hm = tiny(arch)
    clean = prompt(8)
    assert hw.scores.patch_heads(hm, clean, corrupted(clean), METRIC) == pytest.approx(
        1.0, abs=1e-4
    )
    last_only = hw.scores.patch_heads(hm, clean, corrupted(clean), METRIC, positions=[-1])
    assert last_only == pytest.approx(1.0, abs=1e-4)


def test_activation_patching_per_head_equals_the_engine_patch_normalized() -> None:
    hm = tiny("gpt2")
    clean = prompt(8)
    bad = corrupted(clean)
    cube = hw.scores.activation_patching(hm, clean, bad, METRIC)
    m_clean, m_bad = logit_diff(hm.model, hm, clean), logit_diff(hm.model, hm, bad)
    with torch.no_grad(), hm.intervene(Intervention.patch([(1, 0)], source=clean)):
        patched = logit_diff(hm.model, hm, bad)
    expected = (patched - m_bad) / (m_clean - m_bad)
    assert float(cube.sel(layer=1, head=0)) == pytest.approx(expected, abs=1e-4)
    assert cube.attrs["metric_clean"] == pytest.approx(m_clean, abs=1e-5)


def test_per_query_patching_has_a_query_dim_and_last_position_layer_one_matches() -> None:
    hm = tiny("gpt2")
    clean = prompt(6)
    cube = hw.scores.activation_patching(hm, clean, corrupted(clean), METRIC, per_query=True)
    assert cube.dims == ("layer", "head", "query")
    assert cube["token"].values.tolist() == hm.tokenize(corrupted(clean)).tokens
    # in the last layer only the last position reaches the last logits
    np.testing.assert_allclose(cube.sel(layer=1).isel(query=slice(0, -1)).values, 0, atol=1e-6)
    whole = hw.scores.activation_patching(hm, clean, corrupted(clean), METRIC)
    np.testing.assert_allclose(
        cube.sel(layer=1).isel(query=-1).values, whole.sel(layer=1).values, atol=1e-5
    )


def test_patching_rejects_prompts_of_different_lengths_and_kl() -> None:
    hm = tiny("gpt2")
    with pytest.raises(ValueError, match="same number of tokens"):
        hw.scores.activation_patching(hm, prompt(5), prompt(6), METRIC)
    with pytest.raises(ValueError, match="metric 'kl' has no single baseline"):
        hw.scores.activation_patching(hm, prompt(5), prompt(5, seed=2), hw.Metric("kl"))


def test_scale_response_is_the_metric_on_an_alpha_grid_in_one_pass() -> None:
    hm = tiny("llama")
    text = prompt(6)
    heads = [(0, 1), (1, 2)]
    with count_forwards(hm.model) as calls:
        curve = hw.scores.scale_response(hm, text, METRIC, heads, alphas=[0.0, 1.0, 3.0])
    assert calls[0] == 1
    assert curve.dims == ("scale",)
    assert float(curve.sel(scale=1.0)) == pytest.approx(logit_diff(hm.model, hm, text), abs=1e-5)
    with torch.no_grad(), hm.intervene(Intervention.scale(dict.fromkeys(heads, 3.0))):
        assert float(curve.sel(scale=3.0)) == pytest.approx(
            logit_diff(hm.model, hm, text), abs=1e-5
        )
    each = hw.scores.scale_response(hm, text, METRIC, heads, alphas=[0.0, 1.0], together=False)
    assert each.dims == ("layer", "head", "scale")
    zero = hw.scores.ablation_effect(hm, text, METRIC, heads=heads)
    np.testing.assert_allclose(
        each.sel(scale=0.0).values - each.sel(scale=1.0).values, zero.values, atol=1e-5
    )


def test_causal_scores_reject_bad_input() -> None:
    hm = tiny("gpt2")
    with pytest.raises(ValueError, match="unknown mode 'drop'"):
        hw.scores.ablation_effect(hm, prompt(4), METRIC, mode="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs reference"):
        hw.scores.ablation_effect(hm, prompt(4), METRIC, mode="mean")
    with pytest.raises(ValueError, match=r"unknown heads \[\(0, 9\)\]"):
        hw.scores.ablation_effect(hm, prompt(4), METRIC, heads=[(0, 9)])
    with pytest.raises(ValueError, match="2 prompts but 3 metrics"):
        hw.scores.ablation_effect(hm, [prompt(4), prompt(5)], [METRIC] * 3)
    with pytest.raises(ValueError, match="finite numbers"):
        hw.scores.scale_response(hm, prompt(4), METRIC, [(0, 0)], alphas=[])


def test_per_query_patching_over_prompts_of_different_lengths_keeps_each_prompts_tokens() -> None:
    hm = tiny("gpt2")
    cleans = [prompt(4), prompt(6, seed=2)]
    cube = hw.scores.activation_patching(
        hm, cleans, [corrupted(c) for c in cleans], METRIC, per_query=True, progress=False
    )
    assert cube.dims == ("layer", "head", "query", "prompt")
    assert cube["token"].dims == ("query", "prompt")
    assert cube["token"].values[:, 0].tolist()[-2:] == ["", ""]
    assert np.isnan(cube.isel(prompt=0, query=-1)).all()
    hw.check_cube(cube)
