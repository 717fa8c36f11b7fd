"""The engine's one bounded cache (``engine/caches.py``) and what a bound model remembers."""

from __future__ import annotations

import pytest
import torch

from headwidgets import Intervention
from headwidgets.engine.caches import LRU
from tests._tiny import prompt, tiny, word_tokenizer


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the newest
    cache.put("c", 3)
    assert list(cache) == ["a", "c"] and "b" not in cache and len(cache) == 2
    assert cache.get("b") is None and cache.values() == [1, 3]
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError, match="at least one"):
        LRU(0)


def test_every_cache_of_a_bound_model_is_named_and_stays_at_its_bound() -> None:
    hm = tiny("gpt2")
    assert set(hm.caches) == {"tokens", "token_ids", "z", "qkv", "plans", "attention", "graphs"}
    for n in range(hm.caches["z"].size + 5):
        hm.head_z(prompt(4, seed=n))
    assert len(hm.caches["z"]) == hm.caches["z"].size
    assert len(hm.caches["tokens"]) <= hm.caches["tokens"].size


def test_remembered_tokenizations_and_token_ids_are_independent_copies() -> None:
    hm = tiny("gpt2")
    text = prompt(5)
    expected = hm.tokenize(text)
    expected_ids, expected_tokens = expected.input_ids.clone(), list(expected.tokens)
    first = hm.tokenize(text)  # from the cache: changing it must not change the next call
    first.tokens.append("mutated")
    first.input_ids.fill_(0)
    again = hm.tokenize(text)
    assert again.tokens == expected_tokens
    assert torch.equal(again.input_ids, expected_ids)
    assert expected_ids[0].tolist() == list(hm.tokenizer(text)["input_ids"])
    assert (
        hm.token_id("w1")
        == hm.token_id("w1")
        == hm.tokenizer.encode("w1", add_special_tokens=False)[0]
    )
    for _ in range(2):  # an error is raised every time, never remembered as an id
        with pytest.raises(ValueError, match="single token"):
            hm.token_id("w1 w2")


def test_a_tokenizer_assigned_after_binding_replaces_the_remembered_tokenizations() -> None:
    hm = tiny("gpt2")
    text = prompt(5)
    before = hm.tokenize(text).input_ids[0].tolist()
    w1 = hm.token_id("w1")
    other = word_tokenizer(10)  # words past w9 become <unk>
    hm.tokenizer = other
    after = hm.tokenize(text).input_ids[0].tolist()
    assert after == list(other(text)["input_ids"]) and after != before
    assert hm.token_id("w1") == other.encode("w1", add_special_tokens=False)[0] == w1


def test_a_tokenizer_assigned_after_binding_recompiles_token_keyed_attention_edits() -> None:
    hm = tiny("llama")
    text = "w1 w5 w2 w5 w3"
    spec = Intervention.reweight({(1, 0): 0.0}, keys=["w5"])
    hm.run_batch(text, [spec])
    (before,) = hm.caches["attention"].values()
    hm.tokenizer = word_tokenizer(10)  # token strings may now map to other ids
    hm.run_batch(text, [spec])
    (after,) = hm.caches["attention"].values()  # the old tokenizer's compilation is gone
    assert after is not before
