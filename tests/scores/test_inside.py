"""Reads inside attention: q/k/v/logit/pattern cubes and the rotary frequency split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention
from tests._tiny import prompt, tiny
from tests.scores._helpers import hf_attentions


@pytest.fixture(scope="module")
def llama() -> hw.HeadModel:
    return tiny("llama")


def test_captured_patterns_equal_hf_eager_attentions_for_the_chosen_heads_only(
    llama: hw.HeadModel,
) -> None:
    text = prompt(8)
    cubes = llama.capture(text, ["logits", "pattern", "q", "k", "v"], heads=[(1, 0), (1, 3)])
    reference = hf_attentions(llama, llama.tokenize(text).input_ids[0].tolist())
    pattern = cubes["pattern"]
    assert pattern.dims == ("layer", "head", "query", "key")
    for head in (0, 3):
        np.testing.assert_allclose(
            pattern.sel(layer=1, head=head).values, reference[1, head], atol=1e-6
        )
    assert np.isnan(pattern.sel(layer=1, head=1).values).all()
    assert np.isnan(pattern.sel(layer=0).values).all()
    logits = cubes["logits"].sel(layer=1, head=0).values
    np.testing.assert_allclose(np.triu(logits, 1), np.triu(np.full_like(logits, -np.inf), 1))
    assert cubes["k"].sizes["head"] == llama.n_kv_heads and cubes["k"].attrs["head_kind"]
    assert not np.isnan(cubes["k"].sel(layer=1).values).any()  # heads 0 and 3 read k heads 0, 1
    assert np.isnan(cubes["k"].sel(layer=0).values).all()
    assert cubes["q"].dims == ("layer", "head", "query", "dim")
    assert cubes["q"].token.values.tolist() == llama.tokenize(text).tokens
    assert llama.model.config._attn_implementation == "sdpa"


def test_captured_patterns_inside_an_edit_are_the_edited_patterns(llama: hw.HeadModel) -> None:
    text = prompt(8)
    with llama.intervene(Intervention.sink({(1, 2): 0.0})):
        edited = llama.capture(text, ["pattern"], heads=[(1, 2)])["pattern"]
        scored = hw.attention(llama, text, heads=[(1, 2)])
    first_key = edited.sel(layer=1, head=2, key=0).values
    assert first_key[0] == 1.0 and (first_key[1:] == 0).all()
    np.testing.assert_allclose(scored.sel(layer=1, head=2).values, edited.sel(layer=1, head=2))
    assert "sink" in edited.attrs["intervention"]


def test_qk_frequency_shares_sum_to_one_and_split_the_hand_computed_logit(
    llama: hw.HeadModel,
) -> None:
    text = prompt(6)
    cube = hw.scores.qk_frequency(llama, text, pairs=[(5, 2)], heads=[(1, 1)])
    read = llama.head_qkv(text)
    q, k = read["q"][1, 1, 5], read["k"][1, 0, 2]
    half = llama.head_dim // 2  # rotate_half pairs dim i with dim i + D/2
    parts = torch.stack([q[i] * k[i] + q[i + half] * k[i + half] for i in range(half)])
    expected = (parts / parts.sum()).numpy()
    np.testing.assert_allclose(cube.sel(layer=1, head=1).values, expected, rtol=1e-4, atol=1e-5)
    assert cube.dims == ("layer", "head", "frequency")


def test_qk_frequency_on_a_model_without_rotary_names_the_rotary_types() -> None:
    with pytest.raises(ValueError, match="rotary position embeddings; 'gpt2'.*llama"):
        hw.scores.qk_frequency(tiny("gpt2"), prompt(4))


def test_an_unknown_read_names_the_valid_reads(llama: hw.HeadModel) -> None:
    with pytest.raises(ValueError, match="valid reads: q, k, v, logits, pattern"):
        llama.capture(prompt(4), ["z"])
