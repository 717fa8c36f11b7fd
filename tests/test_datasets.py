"""Ready-made prompt sets: structure, tokenization for the shipped and other tokenizers."""

from __future__ import annotations

from functools import cache

import pytest

import headwidgets as hw
from headwidgets import datasets
from headwidgets.datasets import tasks
from headwidgets.scores.patterns import repeat_period
from tests._tiny import tiny


@cache
def circuits_tokenizer():
    """The circuits-4l tokenizer, built from its recipe (no weights needed)."""
    from headwidgets.zoo.recipes import build_tokenizer

    return build_tokenizer(tasks.circuits_vocab(), 256)


def n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text)["input_ids"])


def test_repeated_tokens_tokenize_to_bos_plus_r_plus_r_for_a_bound_model() -> None:
    hm = tiny("gpt2")
    for text in datasets.repeated_tokens(hm, n=3, length=5, seed=2):
        ids = hm.tokenize(text).input_ids[0].tolist()
        assert ids[0] == hm.tokenizer.bos_token_id
        assert repeat_period(ids) == (5, 1)
    assert datasets.repeated_tokens(hm, n=2, seed=1) == datasets.repeated_tokens(hm, n=2, seed=1)


def test_repeated_tokens_for_the_shipped_vocabulary_use_its_words() -> None:
    words = set(tasks.induction_vocab())
    prompts = datasets.repeated_tokens(n=2, length=4)
    assert all(set(p.split()) <= words for p in prompts)
    assert all(len(p.split()) == 8 for p in prompts)


def test_ioi_prompts_come_with_single_token_names_and_same_length_corruptions() -> None:
    ds = datasets.ioi(6, seed=3)
    tok = circuits_tokenizer()
    assert len(ds) == 6 and list(ds) == ds.prompts
    for clean, bad, target, distractor in zip(
        ds.prompts, ds.corrupted, ds.targets, ds.distractors, strict=True
    ):
        assert target.strip() in clean and distractor.strip() in clean
        assert clean.count(distractor.strip()) == 2 and clean.count(target.strip()) == 1
        assert n_tokens(tok, clean) == n_tokens(tok, bad)
        assert len(tok.encode(target, add_special_tokens=False)) == 1
    metrics = ds.metrics()
    assert metrics[0].target == ds.targets[0] and metrics[0].distractor == ds.distractors[0]


def test_ioi_for_a_tokenizer_without_the_names_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="splits too many names"):
        datasets.ioi(2, hm=tiny("gpt2"))


def test_successor_corruption_shifts_the_run_back_so_the_answer_flips() -> None:
    ds = datasets.successor(10, seed=1)
    tok = circuits_tokenizer()
    for clean, bad, target, distractor, info in zip(
        ds.prompts, ds.corrupted, ds.targets, ds.distractors, ds.info, strict=True
    ):
        items, _ = tasks.SUCCESSOR_LISTS[info["kind"]]
        words = clean.split()
        assert bad.split()[1:] == words[:-1]
        assert distractor == " " + words[-1]
        assert target.strip() == items[(items.index(words[-1]) + 1) % len(items)]
        assert n_tokens(tok, clean) == n_tokens(tok, bad)


def test_needle_haystack_hides_the_needle_and_asks_for_it_back() -> None:
    ds = datasets.needle_haystack(3, seed=2, needle_length=3)
    tok = circuits_tokenizer()
    for text, needle, answer in zip(ds.prompts, ds.needles, ds.answers, strict=True):
        assert f"copy : {needle}" in text and text.endswith("again :")
        assert answer == " " + needle
        assert tok.unk_token_id not in tok(text)["input_ids"]
    english = datasets.needle_haystack(1, hm=tiny("gpt2"))
    assert "The secret words are" in english.prompts[0]


def test_a_prompt_set_without_targets_has_no_metrics() -> None:
    ds = datasets.PromptSet("plain", ["a b"])
    with pytest.raises(ValueError, match="has no targets"):
        ds.metrics()
    assert hw.datasets.PromptSet is datasets.PromptSet
