"""Bad input gets a clear error that says what was wrong and what is valid; nothing leaks."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headwidgets as hw
from headwidgets import HeadEdit, Intervention, Metric
from headwidgets.architectures import UnsupportedArchitectureError
from headwidgets.interventions import AttentionEdit, VectorEdit
from tests._tiny import checksum, hook_count, prompt, tiny, tiny_model, word_tokenizer

HM = tiny("gpt2")


def test_a_layer_out_of_range_names_the_valid_layers() -> None:
    with pytest.raises(ValueError, match=r"layer 5 is out of range; valid layers are 0\.\.1"):
        HM.run_batch(prompt(5), [Intervention.zero([(5, 0)])])


def test_a_head_out_of_range_names_the_valid_heads() -> None:
    with pytest.raises(ValueError, match=r"head 7 is out of range; valid heads are 0\.\.3"):
        with HM.intervene(Intervention.zero([(0, 7)])):
            pass


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Intervention.zero([(0, 4)]), r"\(0, 4\): head 4 is out of range; valid heads are"),
        (
            lambda: Intervention.sink({(2, 0): 0.0}),
            r"\(2, 0\): layer 2 is out of range; valid layers",
        ),
        (
            lambda: Intervention.sink({(0, 4): 0.0}),
            r"\(0, 4\): head 4 is out of range; valid query heads are 0\.\.3",
        ),
        (
            lambda: Intervention.qkv_add("q", {(1, 4): 1.0}, [1.0] * 8),
            r"\(1, 4\) in a q edit: head 4 is out of range; valid query heads are 0\.\.3",
        ),
        (
            lambda: Intervention.qkv_project("v", [(3, 0)], [1.0] * 8),
            r"\(3, 0\) in a v edit: layer 3 is out of range; valid layers are 0\.\.1",
        ),
    ],
)
def test_every_edit_names_an_unknown_head_and_the_valid_range_alike(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match="unknown head " + match), HM.intervene(make()):
        pass


@pytest.mark.parametrize(
    "make",
    [
        lambda layer: HeadEdit(layer, 0),
        lambda layer: AttentionEdit(layer, 0, "sink", 0.0),
        lambda layer: VectorEdit(layer, 0, "q", "add", direction=(1.0,)),
    ],
)
def test_every_edit_refuses_a_bad_layer_in_the_same_words(make: Any) -> None:
    with pytest.raises(ValueError, match="layer must be >= 0, got -1"):
        make(-1)
    with pytest.raises(TypeError, match="layer must be an int, got 1.0"):
        make(1.0)


def test_an_unknown_mode_lists_the_valid_modes() -> None:
    with pytest.raises(ValueError, match="unknown mode 'erase'; valid modes: scale, zero, mean"):
        HeadEdit(0, 0, "erase")  # type: ignore[arg-type]


@pytest.mark.parametrize("alpha", [math.nan, math.inf, -math.inf])
def test_a_non_finite_alpha_is_refused(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha must be finite"):
        Intervention.scale({(0, 0): alpha})


def test_negative_layers_and_heads_are_refused_but_negative_alpha_flips() -> None:
    with pytest.raises(ValueError, match="layer must be >= 0"):
        Intervention.zero([(-1, 0)])
    with pytest.raises(ValueError, match="head must be >= 0"):
        Intervention.zero([(0, -2)])
    assert Intervention.scale({(0, 0): -1.0}).edits[0].alpha == -1.0


def test_modes_that_need_data_say_what_they_need() -> None:
    with pytest.raises(ValueError, match="needs reference="):
        Intervention.mean([(0, 0)], reference=[])
    with pytest.raises(ValueError, match="needs source="):
        HeadEdit(0, 0, "resample")
    with pytest.raises(ValueError, match="equal length"):
        HM.run_batch(prompt(8), [Intervention.resample([(0, 0)], source=prompt(5))])


def test_an_empty_prompt_is_refused() -> None:
    with pytest.raises(ValueError, match="the prompt is empty"):
        HM.tokenize("   ")
    with pytest.raises(TypeError, match="a prompt is a string"):
        HM.tokenize(["w1"])  # type: ignore[arg-type]


def test_a_prompt_longer_than_the_context_says_both_lengths() -> None:
    with pytest.raises(ValueError, match="has 71 tokens but .* context of 64 positions"):
        HM.tokenize(prompt(70))


def test_a_multi_token_target_says_how_it_tokenizes() -> None:
    metric = Metric("prob", target="w1 w2")
    logits = torch.zeros(1, 3, 100)
    with pytest.raises(
        ValueError, match=r"must be a single token, but it tokenizes to 2: \['w1', 'w2'\]"
    ):
        metric.compute(HM, logits, torch.zeros(1, 3, dtype=torch.long))


def test_an_unknown_metric_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown metric 'bleu'; valid metrics: logit_diff"):
        Metric("bleu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a distractor"):
        Metric("logit_diff", target="w1")


def test_a_mismatched_tokenizer_is_refused() -> None:
    big = word_tokenizer(n_words=300)
    with pytest.raises(ValueError, match="mismatched tokenizer: it has 304 tokens but .* 100 rows"):
        hw.bind(tiny_model("gpt2"), big)


class _NoAttention(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        from transformers import PretrainedConfig

        self.config = PretrainedConfig(num_hidden_layers=2, num_attention_heads=2, hidden_size=8)
        self.config.model_type = "mlp_only"
        self.layers = torch.nn.ModuleList(torch.nn.Linear(8, 8) for _ in range(2))


def test_a_model_without_recognisable_attention_lists_the_supported_types() -> None:
    with pytest.raises(UnsupportedArchitectureError, match="not supported.*gpt2.*llama"):
        hw.bind(_NoAttention(), word_tokenizer())


def test_an_unlisted_architecture_is_found_by_the_generic_search() -> None:
    model = tiny_model("llama")
    model.config.model_type = "my_llama_fork"
    hm = hw.bind(model, word_tokenizer())
    assert hm.layout.spec.out_proj == "self_attn.o_proj"
    ids = hm.tokenize(prompt(6)).input_ids
    with torch.no_grad(), hm.intervene(Intervention.zero([(1, 1)])):
        edited = hm.model(input_ids=ids).logits
    assert not torch.allclose(edited, hm.model(input_ids=ids).logits)


def test_a_non_model_is_refused() -> None:
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        hw.bind("gpt2", word_tokenizer())  # type: ignore[arg-type]


edit_strategy = st.builds(
    dict,
    layer=st.integers(-2, 4),
    head=st.integers(-2, 6),
    mode=st.sampled_from(["scale", "zero", "mean", "resample", "patch", "bogus"]),
    alpha=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3)),
    positions=st.one_of(st.none(), st.lists(st.integers(-12, 12), max_size=3)),
    reference=st.one_of(
        st.none(), st.lists(st.sampled_from([prompt(4), prompt(8, 1)]), max_size=2)
    ),
    source=st.one_of(st.none(), st.sampled_from(["", prompt(8, 2), prompt(3, 3)])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(edit_strategy, max_size=3), min_size=1, max_size=3))
def test_random_specs_either_work_or_raise_a_clear_error_and_never_corrupt_the_model(
    rows: list[list[dict]],
) -> None:
    before_hooks, before_params = hook_count(HM.model), checksum(HM.model)
    text = prompt(8, 2)
    try:
        specs = [Intervention(tuple(HeadEdit(**edit) for edit in row)) for row in rows]
        out = HM.run_batch(text, specs, logits_to_keep=1)
        assert out.shape == (len(specs), 1, 100)
        assert torch.isfinite(out).all() or any(abs(e.alpha) > 1e3 for s in specs for e in s.edits)
    except (ValueError, TypeError) as err:
        assert str(err), "errors must carry a message"
    assert hook_count(HM.model) == before_hooks
    for old, new in zip(before_params, HM.model.parameters(), strict=True):
        assert torch.equal(old, new)
