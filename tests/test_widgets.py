"""The widgets' Python side: traits, validation, the request loop, agreement with the engine.

The browser side is in test_browser.py (real chromium) and js/test/ (node --test).
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import xarray as xr

import headwidgets as hw
from headwidgets.widgets import AttentionView, Explorer, HeadControls, HeadGrid, OutputView
from headwidgets.widgets._common import STATIC
from tests._tiny import prompt, tiny

ROOT = Path(__file__).resolve().parent.parent
STATIC_FILES = [
    "headgrid.js",
    "headcontrols.js",
    "outputview.js",
    "attentionview.js",
    "pathmatrix.js",
    "headwidgets.css",
]


@pytest.fixture(scope="module")
def hm() -> Any:
    return tiny("gpt2")


@pytest.fixture(scope="module")
def text() -> str:
    return prompt(10)


def cube(values: Any = None, name: str = "score") -> xr.DataArray:
    data = np.arange(8.0).reshape(2, 4) - 3 if values is None else values
    return xr.DataArray(data, dims=("layer", "head"), name=name)


def request(widget: HeadControls, **content: Any) -> dict[str, Any]:
    """Send one browser request to a widget's handler; return its answer."""
    answers: list[dict[str, Any]] = []
    widget.send = lambda msg, buffers=None: answers.append(msg)  # type: ignore[method-assign]
    widget._handle_message(widget, {"type": "request", "id": "r1", **content}, [])
    assert len(answers) == 1
    return answers[0]


def state_json(widget: Any) -> str:
    """The widget state as the comm would send it (buffers split off), as JSON."""
    from ipywidgets.widgets.widget import _remove_buffers

    state, _paths, _buffers = _remove_buffers(widget.get_state())
    return json.dumps(state, allow_nan=False)


# -- HeadGrid ---------------------------------------------------------------------------------


def test_headgrid_sends_the_cube_as_float32_with_its_shape() -> None:
    grid = HeadGrid(cube())
    assert grid._shape == [2, 4]
    values = np.frombuffer(grid._values, dtype="<f4").reshape(grid._shape)
    np.testing.assert_array_equal(values, cube().values.astype(np.float32))
    assert grid._layers == [0, 1] and grid._heads == [0, 1, 2, 3]
    assert grid.title == "score"


def test_headgrid_transposes_a_head_by_layer_cube() -> None:
    grid = HeadGrid(cube().transpose("head", "layer"))
    assert grid._shape == [2, 4]
    assert grid.cube.dims == ("layer", "head")


def test_headgrid_reads_a_plain_2d_array_as_layer_by_head() -> None:
    grid = HeadGrid(np.ones((3, 5)))
    assert grid._shape == [3, 5]


def test_headgrid_rejects_a_cube_with_extra_dims_naming_them() -> None:
    bad = xr.DataArray(np.zeros((2, 4, 6)), dims=("layer", "head", "query"), name="x")
    with pytest.raises(
        ValueError,
        match=r"expected dims \('layer', 'head'\), found \('layer', 'head', 'query'\).*"
        r"cube\.mean\('query'\)",
    ):
        HeadGrid(bad)


def test_headgrid_rejects_a_cube_without_a_head_dim() -> None:
    with pytest.raises(ValueError, match=r"expected dims \('layer', 'head'\), found \('layer',\)"):
        HeadGrid(xr.DataArray(np.zeros(2), dims=("layer",), name="x"))
    with pytest.raises(ValueError, match=r"found an array of shape \(2, 3, 4\)"):
        HeadGrid(np.zeros((2, 3, 4)))


def test_headgrid_selected_round_trips_as_layer_head_lists() -> None:
    grid = HeadGrid(cube(), selected=[(1, 2), (0, 3), (1, 2)])
    assert grid.selected == [[1, 2], [0, 3]]
    grid.selected = [[0, 0]]
    assert grid.selected_values.values.tolist() == [-3.0]


def test_headgrid_rejects_an_unknown_head_with_the_valid_range() -> None:
    grid = HeadGrid(cube())
    with pytest.raises(ValueError, match=r"unknown head \(5, 0\): layer 5 does not exist; "):
        grid.selected = [[5, 0]]
    with pytest.raises(ValueError, match=r"head 7 does not exist; valid heads are 0\.\.3"):
        grid.selected = [[1, 7]]


def test_headgrid_keeps_nan_out_of_json() -> None:
    grid = HeadGrid(cube(np.array([[np.nan, 1.0], [2.0, np.inf]])))
    values = np.frombuffer(grid._values, dtype="<f4")
    assert np.isnan(values[0]) and np.isinf(values[3])
    state_json(grid)  # NaN travels in the float32 buffer, never in JSON


def test_headgrid_new_cube_drops_selection_outside_it() -> None:
    grid = HeadGrid(cube(), selected=[(1, 3), (0, 0)])
    grid.cube = xr.DataArray(np.zeros((2, 2)), dims=("layer", "head"), name="small")
    assert grid.selected == [[0, 0]]
    assert grid._shape == [2, 2]


def test_headgrid_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="colour"):
        HeadGrid(cube(), colour="red")  # type: ignore[call-arg]
    with pytest.raises(Exception, match="rainbow"):
        HeadGrid(cube(), color_scale="rainbow")


# -- HeadControls -----------------------------------------------------------------------------


def test_controls_build_the_intervention_from_their_edits(hm: Any, text: str) -> None:
    controls = HeadControls(hm, heads=[(0, 1), (1, 2), (1, 3)], reference=[text])
    controls.edits = [
        {"layer": 0, "head": 1, "mode": "scale", "alpha": 1.0},
        {"layer": 1, "head": 2, "mode": "scale", "alpha": 0.5},
        {"layer": 1, "head": 3, "mode": "mean", "alpha": 1.0},
    ]
    spec = controls.intervention
    assert spec.heads == frozenset({(1, 2), (1, 3)})  # α = 1 is left out
    modes = {(e.layer, e.head): (e.mode, e.alpha) for e in spec.edits}
    assert modes[(1, 2)] == ("scale", 0.5)
    assert modes[(1, 3)][0] == "mean"


def test_controls_intervention_round_trips(hm: Any) -> None:
    controls = HeadControls(hm)
    spec = hw.Intervention.scale({(0, 1): 2.5}) | hw.Intervention.zero([(1, 0)])
    controls.intervention = spec
    assert controls.intervention == spec
    assert hw.Intervention.from_json(controls.intervention.to_json()) == spec
    assert controls.heads == [(0, 1), (1, 0)]


def test_controls_new_heads_start_untouched_and_kept_heads_keep_alpha(hm: Any) -> None:
    controls = HeadControls(hm, heads=[(0, 0)])
    assert controls.edits == [{"layer": 0, "head": 0, "mode": "scale", "alpha": 1.0}]
    controls.edits = [{"layer": 0, "head": 0, "mode": "scale", "alpha": 0.0}]
    controls.select([(0, 0), (1, 1)])
    assert [e["alpha"] for e in controls.edits] == [0.0, 1.0]
    controls.reset()
    assert all(e["alpha"] == 1.0 for e in controls.edits)
    assert not controls.intervention


def test_controls_reject_unknown_heads_modes_and_alphas(hm: Any) -> None:
    controls = HeadControls(hm)
    with pytest.raises(ValueError, match=r"unknown head \(2, 0\): layer 2 does not exist"):
        controls.edits = [{"layer": 2, "head": 0, "mode": "scale", "alpha": 1.0}]
    with pytest.raises(ValueError, match=r"unknown mode 'patch'; valid modes: scale, zero"):
        controls.edits = [{"layer": 0, "head": 0, "mode": "patch", "alpha": 1.0}]
    with pytest.raises(ValueError, match="alpha must be finite"):
        controls.edits = [{"layer": 0, "head": 0, "mode": "scale", "alpha": float("inf")}]
    with pytest.raises(ValueError, match=r"unknown edit keys \['colour'\]"):
        controls.edits = [{"layer": 0, "head": 0, "colour": 1}]
    with pytest.raises(ValueError, match=r"alpha_range must be \(low, high\)"):
        HeadControls(hm, alpha_range=(3.0, -1.0))


def test_controls_mean_and_resample_need_their_prompts(hm: Any) -> None:
    controls = HeadControls(hm)
    assert controls._modes["mean"] and controls._modes["resample"]
    with pytest.raises(ValueError, match="mean needs reference prompts"):
        controls.edits = [{"layer": 0, "head": 0, "mode": "mean", "alpha": 1.0}]
    controls.source = "w1 w2"
    assert controls._modes["resample"] == ""


def test_controls_top_k_zeroes_the_largest_absolute_values(hm: Any) -> None:
    values = np.array([[0.1, -0.9, 0.0, 0.2], [0.5, np.nan, -0.3, 0.05]])
    controls = HeadControls(hm, cube=cube(values))
    assert controls.ablate_top_k(3) == [(0, 1), (1, 0), (1, 2)]
    assert all(e["alpha"] == 0.0 for e in controls.edits)
    assert controls.intervention.heads == frozenset({(0, 1), (1, 0), (1, 2)})


def test_controls_top_k_without_a_cube_says_so(hm: Any) -> None:
    with pytest.raises(ValueError, match="ablate top-k needs a cube"):
        HeadControls(hm).ablate_top_k(2)


def test_controls_random_k_is_reproducible_with_its_seed(hm: Any) -> None:
    controls = HeadControls(hm)
    first = controls.ablate_random(3, seed=7)
    assert controls.ablate_random(3, seed=7) == first
    assert len(set(first)) == 3
    assert controls.seed == 7
    draws = {tuple(controls.ablate_random(3, seed=s)) for s in range(6)}
    assert len(draws) > 1


def test_a_request_applies_the_edits_and_answers_with_its_id(hm: Any) -> None:
    controls = HeadControls(hm, heads=[(1, 2)])
    edits = [{"layer": 1, "head": 2, "mode": "scale", "alpha": 0.25}]
    answer = request(controls, edits=edits, t0=1.0, origin=2.0)
    assert answer["type"] == "response" and answer["id"] == "r1"
    assert answer["error"] is None
    assert answer["edits"] == edits == controls.edits
    assert answer["ms"] >= 0


def test_a_bad_request_is_answered_with_the_error_and_changes_nothing(hm: Any) -> None:
    controls = HeadControls(hm, heads=[(1, 2)])
    before = controls.edits
    answer = request(controls, edits=[{"layer": 9, "head": 0, "mode": "scale", "alpha": 0.0}])
    assert "unknown head (9, 0)" in answer["error"]
    assert controls.error == answer["error"]
    assert controls.edits == before == answer["edits"]
    answer = request(controls, edits=before)
    assert answer["error"] is None and controls.error == ""


def test_top_k_and_random_requests_run_in_python(hm: Any) -> None:
    controls = HeadControls(hm, cube=cube())
    answer = request(controls, action="topk", k=2)
    assert answer["error"] is None
    assert controls.heads == [(1, 3), (0, 0)]  # |4| and |-3| are the largest
    answer = request(controls, action="random", k=2, seed=3)
    assert controls.heads == [tuple(h) for h in HeadControls(hm).ablate_random(2, seed=3)]
    assert request(controls, action="explode")["error"] == "ValueError: unknown request 'explode'"


def test_inside_attention_modes_build_attention_edits_and_round_trip() -> None:
    llama = tiny("llama")
    controls = HeadControls(llama, heads=[(0, 1), (1, 2), (1, 3), (0, 0)])
    controls.edits = [
        {"layer": 0, "head": 1, "mode": "sink", "alpha": 0.0},
        {"layer": 1, "head": 2, "mode": "mix", "alpha": 0.5},
        {"layer": 1, "head": 3, "mode": "window", "alpha": 4.0},
        {"layer": 0, "head": 0, "mode": "temperature", "alpha": 1.0},  # neutral: left out
    ]
    expected = (
        hw.Intervention.sink({(0, 1): 0.0})
        | hw.Intervention.mix({(1, 2): 0.5}, toward="identity")
        | hw.Intervention.window({(1, 3): 4}, sinks=1)
    )
    assert controls.intervention == expected
    again = HeadControls(llama)
    again.intervention = expected
    assert again.intervention == expected
    modes = [p["mode"] for p in controls._parameters]
    assert modes[:4] == ["scale", "zero", "mean", "resample"] and "sink" in modes


def test_inside_attention_modes_refuse_values_outside_their_range() -> None:
    controls = HeadControls(tiny("llama"), heads=[(0, 1)])
    with pytest.raises(ValueError, match=r"τ must be > 0"):
        controls.edits = [{"layer": 0, "head": 1, "mode": "temperature", "alpha": 0.0}]
    with pytest.raises(ValueError, match=r"whole number of keys"):
        controls.edits = [{"layer": 0, "head": 1, "mode": "window", "alpha": 2.5}]
    with pytest.raises(ValueError, match=r"has no control"):
        controls.intervention = hw.Intervention.mix({(0, 1): 0.5}, toward="uniform")


def test_a_model_without_the_inside_attention_site_disables_those_modes() -> None:
    controls = HeadControls(tiny("gpt_neo"), heads=[(0, 1)])
    assert "AttentionInterface" in controls._modes["sink"]
    assert controls._modes["scale"] == ""
    with pytest.raises(ValueError, match="AttentionInterface"):
        controls.edits = [{"layer": 0, "head": 1, "mode": "sink", "alpha": 0.0}]


def test_a_sink_edit_refreshes_outputs_patterns_and_cached_generation(text: str) -> None:
    llama = tiny("llama")
    explorer = Explorer(llama, text, target="w3", distractor="w7")
    explorer.grid.selected = [[1, 2]]
    edits = [{"layer": 1, "head": 2, "mode": "sink", "alpha": 0.0}]
    assert request(explorer.controls, edits=edits)["error"] is None
    spec = hw.Intervention.sink({(1, 2): 0.0})
    assert explorer.output.intervention == spec
    assert explorer.output._result["intervention"] == "L1 H2 sink β=0"
    pattern = explorer.attention.pattern(1, 2)
    np.testing.assert_array_equal(pattern[1:, 0], 0.0)  # no attention left on the first token
    expected = llama.run(text, intervention=spec).logits[0, -1].softmax(-1).topk(10)
    shown = explorer.output._result["topk"]["intervened"]
    assert shown["ids"] == expected.indices.tolist()
    # the greedy continuation decodes on the KV cache under the edit: equal to uncached HF
    generated = explorer.output.live.generation(spec)
    ids = llama.tokenize(text).input_ids
    with llama.intervene(spec):
        uncached = llama.model.generate(
            ids, max_new_tokens=len(generated), do_sample=False, use_cache=False, pad_token_id=0
        )
    assert generated == uncached[0, ids.shape[1] :].tolist()


def test_the_explorer_shows_the_edited_pattern_beside_the_original(text: str) -> None:
    llama = tiny("llama")
    explorer = Explorer(llama, text, target="w3", distractor="w7")
    explorer.grid.selected = [[1, 2]]
    request(explorer.controls, edits=[{"layer": 1, "head": 2, "mode": "sink", "alpha": 0.0}])
    view = explorer.attention
    assert view.run == "both"
    shape = view._shape
    intervened = np.frombuffer(view._patterns, dtype="<f4").reshape(shape)
    baseline = np.frombuffer(view._baseline, dtype="<f4").reshape(shape)
    plain = llama.run(text, patterns=True).patterns
    edited = llama.run(text, intervention=hw.Intervention.sink({(1, 2): 0.0}), patterns=True)
    np.testing.assert_allclose(baseline[0], plain[0, 1, 2].numpy(), atol=1e-6)
    np.testing.assert_allclose(intervened[0], edited.patterns[0, 1, 2].numpy(), atol=1e-6)
    assert baseline[0][1:, 0].min() > 0 and intervened[0][1:, 0].max() == 0
    view.run = "intervened"
    assert view._baseline == b""


def test_steering_modes_add_the_heads_vector_and_inject_the_task_mean(text: str) -> None:
    llama = tiny("llama")
    vector = [0.5] * llama.head_dim
    explorer = Explorer(
        llama,
        text,
        target="w3",
        distractor="w7",
        steering={(1, 2): vector},
        task_prompts=[prompt(6, 1), prompt(6, 2)],
    )
    explorer.grid.selected = [[1, 2], [0, 3]]
    edits = [
        {"layer": 1, "head": 2, "mode": "add", "alpha": 2.0},
        {"layer": 0, "head": 3, "mode": "inject", "alpha": 0.5},
    ]
    assert request(explorer.controls, edits=edits)["error"] is None
    spec = hw.Intervention.add({(1, 2): vector}, alpha=2.0) | hw.Intervention.inject(
        {(0, 3): 0.5}, [prompt(6, 1), prompt(6, 2)]
    )
    assert explorer.controls.intervention == spec == explorer.output.intervention
    expected = llama.run(text, intervention=spec).logits[0, -1].softmax(-1).topk(10)
    assert explorer.output._result["topk"]["intervened"]["ids"] == expected.indices.tolist()
    # α = 0 is the neutral setting: nothing left to apply
    request(explorer.controls, edits=[{**e, "alpha": 0.0} for e in edits])
    assert explorer.controls.intervention == hw.Intervention()


def test_steering_modes_need_their_vectors_and_prompts(hm: Any) -> None:
    controls = HeadControls(hm, heads=[(0, 1)], steering={(1, 2): [1.0] * hm.head_dim})
    assert controls._modes["add"] == "" and "task_prompts" in controls._modes["inject"]
    with pytest.raises(ValueError, match=r"head \(0, 1\) has no steering vector"):
        controls.edits = [{"layer": 0, "head": 1, "mode": "add", "alpha": 1.0}]
    with pytest.raises(ValueError, match="inject needs few-shot prompts"):
        controls.edits = [{"layer": 0, "head": 1, "mode": "inject", "alpha": 0.5}]
    with pytest.raises(ValueError, match=r"has 3 values; a head's output has"):
        HeadControls(hm, steering={(0, 1): [1.0, 2.0, 3.0]})


def test_controls_unknown_keyword_is_a_type_error(hm: Any) -> None:
    with pytest.raises(TypeError, match="alpha_rnage"):
        HeadControls(hm, alpha_rnage=(0, 1))  # type: ignore[call-arg]


# -- OutputView -------------------------------------------------------------------------------


def shown_probs(part: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(part["probs"], dtype="<f4")


def test_outputview_top_k_matches_the_engine(hm: Any, text: str) -> None:
    spec = hw.Intervention.scale({(1, 2): 0.0, (0, 1): 2.0})
    view = OutputView(hm, text, top_k=5, intervention=spec)
    for run_spec, part in ((None, "baseline"), (spec, "intervened")):
        expected = hm.run(text, intervention=run_spec).logits[0, -1].softmax(-1)
        top = expected.topk(5)
        shown = view._result["topk"][part]
        assert shown["ids"] == top.indices.tolist()
        np.testing.assert_allclose(shown_probs(shown), top.values.numpy(), rtol=1e-5, atol=1e-7)
    assert view._result["intervention"] == "L0 H1 ×2, L1 H2 ×0"
    state_json(view)


def test_outputview_metrics_match_the_engine(hm: Any, text: str) -> None:
    spec = hw.Intervention.zero([(1, 1)])
    view = OutputView(hm, text, target="w3", distractor="w7", intervention=spec)
    assert [m["name"] for m in view._result["metrics"]] == ["logit_diff", "prob", "loss", "kl"]
    base = hm.run(text).logits
    cur = hm.run(text, intervention=spec).logits
    ids = hm.tokenize(text).input_ids
    for metric in view.metric_objects():
        values = view.metric_values[metric.kind]
        want_base = float(metric.compute(hm, base, ids, base)[0])
        want_cur = float(metric.compute(hm, cur, ids, base)[0])
        assert values["baseline"] == pytest.approx(want_base, rel=1e-5, abs=1e-6)
        assert values["intervened"] == pytest.approx(want_cur, rel=1e-5, abs=1e-6)
    assert view.metric_values["kl"]["baseline"] == 0.0


def test_outputview_generation_equals_hf_generate_under_the_same_edits(hm: Any, text: str) -> None:
    spec = hw.Intervention.scale({(1, 0): 0.0, (0, 2): 3.0})
    view = OutputView(hm, text, intervention=spec, n_generate=6)
    ids = hm.tokenize(text).input_ids
    for run_spec, part in ((None, "baseline_ids"), (spec, "intervened_ids")):
        with hm.intervene(run_spec or hw.Intervention()):
            out = hm.model.generate(ids, max_new_tokens=6, do_sample=False, eos_token_id=None)
        assert view._generation[part] == out[0, ids.shape[1] :].tolist()
    assert view._generation["key"] == view._result["generation_key"] == spec.to_json()


def test_an_encoder_gets_no_generation_but_still_refreshes(text: str) -> None:
    bert = tiny("bert")
    # random-init weights (std 0.02) make any one head's effect vanishingly small; scale
    # head 1.1's value rows and output columns so that zeroing it surely moves the outputs
    head = slice(bert.head_dim, 2 * bert.head_dim)
    with torch.no_grad():
        bert.model.bert.encoder.layer[1].attention.self.value.weight[head].mul_(40.0)
        bert.out_projs[1].weight[:, head].mul_(40.0)
    view = OutputView(bert, text, intervention=hw.Intervention.zero([(1, 1)]))
    assert view._result["generation_key"] is None and view._generation == {}
    assert view.metric_values["kl"]["intervened"] > 0


def test_outputview_token_scores_must_match_the_prompt_length(hm: Any, text: str) -> None:
    view = OutputView(hm, text)
    n = len(view._result["tokens"])
    view.token_scores = np.arange(n, dtype=float)
    scores = np.frombuffer(view._result["scores"], dtype="<f4")
    np.testing.assert_array_equal(scores, np.arange(n))
    with pytest.raises(ValueError, match=rf"token_scores has 3 values but the prompt has {n}"):
        view.token_scores = [1.0, 2.0, 3.0]
    assert "token_scores has 3 values" in view.error


def test_outputview_rejects_unknown_metrics_and_heads(hm: Any, text: str) -> None:
    view = OutputView(hm, text)
    with pytest.raises(ValueError, match=r"unknown metrics \['bleu'\]; valid metrics: logit_diff"):
        view.metrics = ["bleu"]
    with pytest.raises(ValueError, match=r"unknown head \(0, 9\)"):
        view.intervention = hw.Intervention.zero([(0, 9)])


def test_outputview_shows_a_metric_error_inside_the_widget(hm: Any, text: str) -> None:
    view = OutputView(hm, text)
    with pytest.raises(ValueError, match="needs a target token"):
        view.metrics = ["prob"]
    assert "needs a target token" in view.error


# -- AttentionView ----------------------------------------------------------------------------


def test_attentionview_patterns_match_the_engine(hm: Any, text: str) -> None:
    spec = hw.Intervention.zero([(0, 0), (0, 1)])
    view = AttentionView(hm, text, heads=[(1, 2), (0, 3)], intervention=spec)
    n_heads, n_tokens, _ = view._shape
    shown = np.frombuffer(view._patterns, dtype="<f4").reshape(view._shape)
    expected = hm.run(text, intervention=spec, patterns=True).patterns[0]
    np.testing.assert_allclose(shown[0], expected[1, 2].numpy(), atol=1e-6)
    np.testing.assert_allclose(shown[1], expected[0, 3].numpy(), atol=1e-6)
    assert (n_heads, n_tokens) == (2, len(view._tokens))
    view.run = "baseline"
    clean = hm.run(text, patterns=True).patterns[0]
    np.testing.assert_allclose(view.pattern(1, 2), clean[1, 2].numpy(), atol=1e-6)


def test_attentionview_rejects_unknown_heads(hm: Any, text: str) -> None:
    with pytest.raises(ValueError, match=r"unknown head \(3, 0\): layer 3 does not exist"):
        AttentionView(hm, text, heads=[(3, 0)])


# -- Explorer ---------------------------------------------------------------------------------


@pytest.fixture()
def explorer(hm: Any, text: str) -> Explorer:
    return Explorer(hm, text, target="w3", distractor="w7")


def test_explorer_default_cube_is_the_zero_ablation_effect(
    explorer: Explorer, hm: Any, text: str
) -> None:
    metric = hw.Metric("logit_diff", target="w3", distractor="w7")
    expected = hm.sweep(text, metric, mode="zero")
    np.testing.assert_allclose(explorer.cube.values, expected.values, rtol=1e-5, atol=1e-6)


def test_selecting_heads_gives_them_controls_and_patterns(explorer: Explorer) -> None:
    explorer.grid.selected = [[1, 2], [0, 1]]
    assert explorer.controls.heads == [(1, 2), (0, 1)]
    assert explorer.attention.heads == [[1, 2], [0, 1]]
    assert explorer.attention._shape[0] == 2


def test_moving_a_control_refreshes_outputs_and_patterns(
    explorer: Explorer, hm: Any, text: str
) -> None:
    explorer.grid.selected = [[1, 2]]
    answer = request(
        explorer.controls,
        edits=[{"layer": 1, "head": 2, "mode": "scale", "alpha": 0.0}],
        t0=5.0,
        origin=1.0,
    )
    assert answer["error"] is None
    spec = hw.Intervention.scale({(1, 2): 0.0})
    assert explorer.output.intervention == spec == explorer.attention.intervention
    assert explorer.output._result["request"] == {"id": "r1", "t0": 5.0, "origin": 1.0}
    expected = hm.run(text, intervention=spec).logits[0, -1].softmax(-1).topk(10).values
    shown = shown_probs(explorer.output._result["topk"]["intervened"])
    np.testing.assert_allclose(shown, expected.numpy(), rtol=1e-5, atol=1e-7)


def test_one_control_change_costs_one_forward_pass(
    explorer: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headwidgets.widgets import LiveRun

    explorer.grid.selected = [[1, 2]]
    calls: list[bool] = []
    forward = LiveRun._forward

    def counted(self: LiveRun, spec: Any, patterns: bool) -> Any:
        calls.append(patterns)
        return forward(self, spec, patterns)

    monkeypatch.setattr(LiveRun, "_forward", counted)
    request(explorer.controls, edits=[{"layer": 1, "head": 2, "mode": "scale", "alpha": 0.3}])
    assert calls == [True]  # outputs and the shown pattern come from the same forward
    assert explorer.attention._shape[0] == 1


def test_top_k_from_the_controls_selects_those_heads_in_the_grid(explorer: Explorer) -> None:
    chosen = explorer.controls.ablate_top_k(2)
    assert explorer.grid.selected == [list(h) for h in chosen]
    assert explorer.output.intervention.heads == frozenset(chosen)


def test_explore_loads_by_name_and_refuses_other_objects(hm: Any, text: str) -> None:
    with pytest.raises(TypeError, match=r"hw\.bind\(model, tokenizer\)"):
        hw.explore(object(), text)
    ex = hw.explore(hm, text, heads=[(0, 0)])
    assert isinstance(ex, Explorer) and ex.grid.selected == [[0, 0]]
    if "induction-2l" in hw.models():
        named = hw.explore("induction-2l", "a b c d a b c d")
        assert named.hm.n_layers == 2


def test_explorer_unknown_keyword_is_a_type_error(hm: Any, text: str) -> None:
    with pytest.raises(TypeError, match="tgt"):
        Explorer(hm, text, tgt=" x")  # type: ignore[call-arg]


# -- front end files --------------------------------------------------------------------------


def test_the_built_front_end_is_in_static() -> None:
    missing = [name for name in STATIC_FILES if not (STATIC / name).is_file()]
    assert not missing, f"{missing} not built; run `make js`"


def test_the_wheel_ships_the_built_front_end(tmp_path: Path) -> None:
    test_the_built_front_end_is_in_static()
    try:
        import hatchling  # noqa: F401

        cmd = [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)]
    except ImportError:
        cmd = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(tmp_path)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("headwidgets-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in STATIC_FILES:
        assert f"headwidgets/static/{name}" in names


# -- ScaleResponseView (live bokeh) -------------------------------------------------------------


def _scale_curve(hm: Any, text: str, head: tuple[int, int], alphas: Any) -> np.ndarray:
    from headwidgets.scores.causal import scale_response

    metric = hw.Metric("logit_diff", target="w3", distractor="w7")
    grid = scale_response(hm, text, metric, [head], list(alphas), together=False)
    return np.asarray(grid.sel(layer=head[0], head=head[1]).values)


def test_scale_response_view_draws_each_heads_curve_from_the_engine(hm: Any, text: str) -> None:
    from headwidgets.widgets import ScaleResponseView

    view = ScaleResponseView(hm, text, [(1, 2), (0, 1)], "logit_diff", target="w3", distractor="w7")
    lines = [r for r in view.figure.renderers if type(r.glyph).__name__ == "Line"]
    assert len(lines) == 2
    for line, head in zip(lines, [(1, 2), (0, 1)], strict=True):
        data = line.data_source.data
        np.testing.assert_allclose(data["scale"], view.alphas)
        expected = _scale_curve(hm, text, head, view.alphas)
        np.testing.assert_allclose(data["value"], expected, rtol=1e-5, atol=1e-6)
    assert view.markers is not None
    assert view.markers.data["scale"] == [1.0, 1.0]  # both heads untouched: α = 1


def test_moving_a_slider_moves_the_marker_without_a_forward_or_a_new_figure(
    explorer_with_curve: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex = explorer_with_curve
    view = ex.curve
    assert view is not None
    ex.grid.selected = [[1, 2]]
    figure, markers = view.figure, view.markers
    assert markers is not None
    curve = next(r for r in figure.renderers if type(r.glyph).__name__ == "Line").data_source
    patches: list[Any] = []
    monkeypatch.setattr(view.plot, "send", lambda msg, buffers=None: patches.append(msg))
    forwards = count_sweeps(ex.hm, monkeypatch)
    request(ex.controls, edits=[{"layer": 1, "head": 2, "mode": "scale", "alpha": 0.5}])
    assert view.figure is figure and view.markers is markers  # updated in place
    assert markers.data["scale"] == [0.5]
    expected = np.interp(0.5, curve.data["scale"], curve.data["value"])
    assert markers.data["value"] == pytest.approx([expected])
    assert markers.data["head"] == ["L1 H2"]
    assert forwards == []  # the curves were computed when the head was selected
    assert any(msg.get("msg") == "patch" for msg in patches)  # the browser gets the change
    request(ex.controls, edits=[{"layer": 1, "head": 2, "mode": "zero", "alpha": 0.0}])
    assert markers.data["scale"] == [0.0]


def test_selecting_a_head_computes_only_its_curve(
    explorer_with_curve: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex = explorer_with_curve
    ex.grid.selected = [[1, 2]]
    asked = count_sweeps(ex.hm, monkeypatch)
    ex.grid.selected = [[1, 2], [0, 3]]
    assert ex.curve is not None
    assert asked == [len(ex.curve.alphas)]  # one batched pass for the new head only
    assert ex.curve.markers is not None and ex.curve.markers.data["head"] == ["L1 H2", "L0 H3"]


def test_the_explorer_draws_no_curve_unless_asked(hm: Any, text: str) -> None:
    ex = Explorer(hm, text, target="w3", distractor="w7")
    assert ex.curve is None
    assert not any(type(c).__name__ == "ScaleResponseView" for c in ex.children[1].children)


def test_mean_heads_get_no_marker_and_a_set_needs_one_alpha(hm: Any, text: str) -> None:
    from headwidgets.widgets import ScaleResponseView

    view = ScaleResponseView(hm, text, [(1, 2), (0, 1)], together=True)
    assert view.markers is not None
    assert view.markers.data["head"] == ["L1 H2 + L0 H1"]
    view.edits = [
        {"layer": 1, "head": 2, "mode": "scale", "alpha": 0.5},
        {"layer": 0, "head": 1, "mode": "scale", "alpha": 2.0},
    ]
    assert view.markers.data["scale"] == []  # the set's heads disagree: no single α
    view.together = False
    view.edits = [
        {"layer": 1, "head": 2, "mode": "mean", "alpha": 1.0},
        {"layer": 0, "head": 1, "mode": "scale", "alpha": 2.0},
    ]
    assert view.markers.data["head"] == ["L0 H1"] and view.markers.data["scale"] == [2.0]


def test_scale_response_view_with_no_heads_shows_a_hint_and_bad_heads_are_refused(
    hm: Any, text: str
) -> None:
    from headwidgets.widgets import ScaleResponseView

    view = ScaleResponseView(hm, text)
    assert view.markers is None and view.error == ""
    with pytest.raises(ValueError, match=r"unknown head \(5, 0\)"):
        ScaleResponseView(hm, text, [(5, 0)])
    with pytest.raises(TypeError, match="colour"):
        ScaleResponseView(hm, text, [(0, 0)], "loss", colour="red")  # type: ignore[arg-type]


def test_bokehjs_is_loaded_inline_once_per_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    import bokeh.io.notebook
    import IPython

    from headwidgets.widgets import scaleresponse

    loads: list[Any] = []
    monkeypatch.setattr(scaleresponse, "_BOKEHJS_LOADED", False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: type("Shell", (), {"kernel": object()})())
    monkeypatch.setattr(
        bokeh.io.notebook, "load_notebook", lambda resources, hide_banner: loads.append(resources)
    )
    assert scaleresponse.load_bokehjs() is True
    assert scaleresponse.load_bokehjs() is False
    assert [r.mode for r in loads] == ["inline"]  # no CDN: BokehJS travels in the notebook


def count_sweeps(hm: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the number of specs of every batched metric pass from now on."""
    asked: list[int] = []
    sweep = type(hm).sweep_values

    def counted(self: Any, prompt: Any, metric: Any, specs: Any) -> Any:
        asked.append(len(specs))
        return sweep(self, prompt, metric, specs)

    monkeypatch.setattr(type(hm), "sweep_values", counted)
    return asked


@pytest.fixture()
def explorer_with_curve(hm: Any, text: str) -> Explorer:
    return Explorer(hm, text, target="w3", distractor="w7", curve=True)
