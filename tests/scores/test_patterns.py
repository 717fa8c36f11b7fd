"""Attention-statistic scores: HF references, one pass per batch, padding, cubes, errors."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch
import xarray as xr

import headwidgets as hw
from headwidgets.scores import patterns
from headwidgets.scores import reductions as red
from tests._tiny import prompt, tiny
from tests.scores._helpers import count_forwards, hf_attentions, hook_count, minilm

ALL = [
    "previous_token",
    "sink",
    "self",
    "entropy",
    "normalized_entropy",
    "attention_distance",
    "future_influence",
    "induction",
    "duplicate_token",
    "token_set",
]


def repeated(hm, n: int = 4, seed: int = 0) -> str:
    return hw.datasets.repeated_tokens(hm, n=1, length=n, seed=seed)[0]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_attention_cube_equals_hf_output_attentions(arch: str) -> None:
    hm = tiny(arch)
    text = prompt(7)
    ids = hm.tokenize(text).input_ids[0].tolist()
    cube = hw.attention(hm, text)
    assert cube.dims == ("layer", "head", "query", "key")
    np.testing.assert_allclose(cube.values, hf_attentions(hm, ids), atol=1e-6)
    assert cube["token"].values.tolist() == hm.tokenize(text).tokens
    assert cube["key_token"].values.tolist() == hm.tokenize(text).tokens


def test_attention_of_a_pretrained_encoder_equals_hf_with_left_padding() -> None:
    hm = minilm()
    texts = ["the cat sat on the mat", "a dog"]
    cube = hw.attention(hm, texts, padding_side="left", heads=[(0, 3), (5, 11)])
    for p, text in enumerate(texts):
        ids = hm.tokenize(text).input_ids[0].tolist()
        ref = hf_attentions(hm, ids)
        n = len(ids)
        got = cube.isel(prompt=p).values[..., :n, :n]
        np.testing.assert_allclose(got[0, 0], ref[0, 3], atol=1e-5)
        np.testing.assert_allclose(got[1, 1], ref[5, 11], atol=1e-5)
        assert np.isnan(got[0, 1]).all(), "(0, 11) was not asked for"


@pytest.mark.parametrize("setting", ["sdpa", "eager"])
def test_the_users_attention_setting_is_restored_after_a_pattern_call(setting: str) -> None:
    hm = tiny("llama")
    hm.model.set_attn_implementation(setting)
    hw.scores.sink(hm, prompt(5))
    assert hm.model.config._attn_implementation == setting
    with pytest.raises(ValueError, match="out of range"):
        hw.scores.token_set(hm, prompt(5), tokens=[40])
    assert hm.model.config._attn_implementation == setting
    assert hook_count(hm.model) == 0


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_every_statistic_equals_the_reduction_of_hf_attentions(arch: str) -> None:
    hm = tiny(arch)
    text = repeated(hm, 5)
    tok = hm.tokenize(text)
    A = torch.tensor(hf_attentions(hm, tok.input_ids[0].tolist()))
    cubes = hw.scores.pattern_scores(
        hm, text, ALL, per_query=True, window=3, tokens=[0, tok.tokens[2]]
    )
    expected = {
        "previous_token": red.previous_token(A),
        "sink": red.sink(A),
        "self": red.self_attention(A),
        "entropy": red.entropy(A),
        "normalized_entropy": red.entropy(A, normalized=True),
        "attention_distance": red.attention_distance(A, 3),
        "future_influence": red.future_influence(A),
        "induction": red.induction(A, 5, 1),
        "duplicate_token": red.duplicate_token(A, 5, 1),
        "token_set": red.token_set(A, [0, 2, 7]),  # the token at 2 is repeated at 7
    }
    for name, values in expected.items():
        np.testing.assert_allclose(cubes[name].values, values.numpy(), atol=1e-5, err_msg=name)
        averaged = hw.scores.pattern_scores(hm, text, [name], window=3, tokens=[0, 2, 7])[name]
        np.testing.assert_allclose(averaged.values, np.nanmean(values.numpy(), -1), atol=1e-5)
    assert cubes["future_influence"].dims == ("layer", "head", "key")


def test_all_statistics_of_all_prompts_take_one_forward_per_batch() -> None:
    hm = tiny("gpt2")
    prompts = [prompt(6, seed=s) for s in range(5)]
    names = ["previous_token", "sink", "self", "entropy", "future_influence"]
    with count_forwards(hm.model) as calls:
        hw.scores.pattern_scores(hm, prompts, names, batch_size=16)
    assert calls[0] == 1
    with count_forwards(hm.model) as calls:
        hw.scores.pattern_scores(hm, prompts, names, batch_size=2, progress=False)
    assert calls[0] == 3


def test_no_layers_attention_probabilities_outlive_the_next_layer(monkeypatch) -> None:
    hm = tiny("llama")
    seen: list[weakref.ref] = []
    alive_at_call: list[int] = []
    original = hm.capture_patterns

    def watching(fn):
        def wrapped(layer: int, probs: torch.Tensor) -> None:
            gc.collect()
            alive_at_call.append(sum(ref() is not None for ref in seen))
            seen.append(weakref.ref(probs))
            fn(layer, probs)

        return original(wrapped)

    monkeypatch.setattr(hm, "capture_patterns", watching)
    hw.scores.pattern_scores(hm, [prompt(8), prompt(5)], ["entropy", "sink"])
    gc.collect()
    assert len(alive_at_call) == hm.n_layers
    assert max(alive_at_call) <= 1, "at most the previous layer's probabilities may be alive"
    assert all(ref() is None for ref in seen), "no layer's probabilities are kept"


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_padded_batches_equal_one_by_one_runs(arch: str, side: str) -> None:
    hm = tiny(arch)
    prompts = [prompt(9), prompt(3, seed=1), prompt(6, seed=2)]
    names = ["previous_token", "entropy", "future_influence"]
    batch = hw.scores.pattern_scores(hm, prompts, names, per_query=True, padding_side=side)
    for p, text in enumerate(prompts):
        alone = hw.scores.pattern_scores(hm, text, names, per_query=True)
        for name in names:
            n = alone[name].shape[-1]
            got = batch[name].isel(prompt=p).values[..., :n]
            np.testing.assert_allclose(got, alone[name].values, atol=1e-5, err_msg=name)
            assert np.isnan(batch[name].isel(prompt=p).values[..., n:]).all()
    pattern = hw.attention(hm, prompts, padding_side=side).isel(prompt=1, drop=True)
    n = len(hm.tokenize(prompts[1]))
    xr.testing.assert_allclose(
        pattern.isel(query=slice(0, n), key=slice(0, n)),
        hw.attention(hm, prompts[1]).drop_vars(["prompt_text"]),
        atol=1e-5,
    )


def test_a_prompt_list_adds_a_prompt_dim_that_reduce_collapses() -> None:
    hm = tiny("gpt2")
    prompts = [prompt(5), prompt(7, seed=1)]
    cube = hw.scores.sink(hm, prompts)
    assert cube.dims == ("layer", "head", "prompt")
    assert cube["prompt_text"].values.tolist() == prompts
    mean = hw.scores.sink(hm, prompts, reduce="mean")
    np.testing.assert_allclose(mean.values, cube.mean("prompt").values, rtol=1e-6)
    assert "over 2 prompts" in mean.attrs["reduce"]
    per_query = hw.scores.sink(hm, prompts, per_query=True)
    assert per_query.dims == ("layer", "head", "query", "prompt")
    assert per_query["token"].dims == ("query", "prompt")
    last = hm.tokenize(prompts[1]).tokens[-1]
    assert per_query["token"].values[-1].tolist() == ["", last], "padding has no token text"
    hw.check_cube(per_query)


def test_scores_self_is_the_self_statistic_and_its_cube_is_named_self() -> None:
    hm = tiny("gpt2")
    cube = hw.scores.self(hm, prompt(5))
    assert cube.name == "self"
    xr.testing.assert_identical(cube, hw.scores.self_attention(hm, prompt(5)))


def test_induction_defaults_to_repeated_random_tokens_and_takes_token_ids() -> None:
    hm = tiny("gpt2")
    cube = hw.scores.induction(hm, reduce="mean")
    assert cube.dims == ("layer", "head") and "8 prompts" in cube.attrs["reduce"]
    ids = [1, 10, 11, 12, 10, 11, 12]
    by_ids = hw.scores.induction(hm, ids)
    by_text = hw.scores.induction(hm, "w6 w7 w8 w6 w7 w8")
    np.testing.assert_allclose(by_ids.values, by_text.values, atol=1e-6)


def test_pattern_scores_reject_bad_input_with_clear_errors() -> None:
    hm = tiny("gpt2")
    with pytest.raises(ValueError, match="unknown statistics"):
        hw.scores.pattern_scores(hm, prompt(4), ["inductoin"])
    with pytest.raises(ValueError, match=r"not BOS \+ R \+ R"):
        hw.scores.induction(hm, prompt(6))
    with pytest.raises(ValueError, match=r"no position of any prompt has the token"):
        hw.scores.token_set(hm, prompt(4), tokens=["Mary"])
    with pytest.raises(ValueError, match=r"unknown heads \[\(2, 0\)\]"):
        hw.attention(hm, prompt(4), heads=[(2, 0)])
    with pytest.raises(ValueError, match="padding_side must be"):
        hw.scores.sink(hm, [prompt(4), prompt(3)], padding_side="top")
    with pytest.raises(ValueError, match="no prompts given"):
        hw.scores.sink(hm, [])
    with pytest.raises(ValueError, match="out of range"):
        hw.scores.sink(hm, [1, 2, 500])


def test_a_progress_bar_shows_for_several_batches_only(capsys) -> None:
    hm = tiny("gpt2")
    hw.scores.sink(hm, [prompt(4), prompt(5)], batch_size=1)
    assert "patterns" in capsys.readouterr().err
    hw.scores.sink(hm, [prompt(4), prompt(5)], batch_size=1, progress=False)
    hw.scores.sink(hm, [prompt(4), prompt(5)])
    assert capsys.readouterr().err == ""


def test_repeat_period_is_inferred_with_or_without_a_bos() -> None:
    assert patterns.repeat_period([1, 5, 6, 5, 6]) == (2, 1)
    assert patterns.repeat_period([5, 6, 7, 5, 6, 7]) == (3, 0)
    assert patterns.repeat_period([9, 9, 5, 6, 5, 6], period=2) == (2, 2)
    with pytest.raises(ValueError, match="two copies of 3 tokens"):
        patterns.repeat_period([1, 5, 6, 5, 6], period=3)
