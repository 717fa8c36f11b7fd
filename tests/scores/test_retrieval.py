"""Retrieval score: copy steps, needle search and argmax hits against HF attentions."""

from __future__ import annotations

import numpy as np
import pytest

import headwidgets as hw
from headwidgets.scores.retrieval import copy_steps, find_needle
from tests._tiny import tiny
from tests.scores._helpers import hf_attentions, minilm

PROMPT = "w5 w6 w7 w8 w9 w10 w11 w12 w13"


def test_copy_steps_pair_each_copied_token_with_its_needle_positions() -> None:
    assert copy_steps([0, 5, 6, 5, 9, 6, 5, 7], n_prompt=5, span=(1, 4)) == [
        (4, [2]),
        (5, [1, 3]),
    ]


def test_the_needle_is_found_among_the_prompt_tokens() -> None:
    hm = tiny("gpt2")
    ids = hm.tokenize(PROMPT).input_ids[0].tolist()
    assert find_needle(hm, ids, "w7 w8") == (3, 5)
    assert find_needle(hm, ids, (1, 3)) == (1, 3)
    with pytest.raises(ValueError, match="does not occur"):
        find_needle(hm, ids, "w90 w91")


def test_retrieval_with_given_answers_equals_argmax_hits_on_hf_attentions() -> None:
    hm = tiny("llama")
    cube = hw.scores.retrieval(hm, PROMPT, needles="w7 w8", answers=" w7 w9 w8", per_query=True)
    full = hm.tokenize(PROMPT + " w7 w9 w8").input_ids[0].tolist()
    A = hf_attentions(hm, full)  # (L, H, T, T)
    n = len(hm.tokenize(PROMPT))
    steps = {n - 1: [3], n + 1: [4]}  # " w7" produced at n-1, " w8" at n+1; " w9" is no copy
    expected = np.full(A.shape[:3], np.nan)
    for query, sources in steps.items():
        expected[:, :, query] = np.isin(A[:, :, query].argmax(-1), sources)
    np.testing.assert_array_equal(cube.values, expected)
    averaged = hw.scores.retrieval(hm, PROMPT, needles="w7 w8", answers=" w7 w9 w8")
    np.testing.assert_allclose(averaged.values, np.nanmean(expected, -1))
    assert averaged.attrs["units"] == "fraction"


def test_retrieval_generates_greedily_without_answers() -> None:
    hm = tiny("gpt2")
    cube = hw.scores.retrieval(hm, [PROMPT, PROMPT], needles=["w7 w8", (2, 4)], max_new_tokens=3)
    assert cube.dims == ("layer", "head", "prompt")
    assert '"counts"' in cube.attrs["copy_steps"]


def test_retrieval_needs_needles_and_a_generating_model() -> None:
    with pytest.raises(ValueError, match="needs needles"):
        hw.scores.retrieval(tiny("gpt2"), PROMPT)
    with pytest.raises(ValueError, match="causal"):
        hw.scores.retrieval(minilm(), "a b c", needles="b")
