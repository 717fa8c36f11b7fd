"""The one forward, greedy-generation loop and padder (``engine/forward.py``)."""

from __future__ import annotations

import pytest
import torch

from headwidgets import Intervention
from tests._tiny import prompt, tiny


def test_the_padder_hides_padding_and_left_padding_keeps_each_rows_positions() -> None:
    hm = tiny("llama")
    right = hm.pad([[5, 6, 7], [8]], "right")
    assert right.input_ids[1, 1:].tolist() == [hm.tokenizer.pad_token_id] * 2
    assert right.attention_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert right.position_ids is None and right.spans == [(0, 3), (0, 1)]
    left = hm.pad([[5, 6, 7], [8]], "left")
    assert left.attention_mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert left.position_ids is not None and left.position_ids[1, -1] == 0
    assert left.spans == [(0, 3), (2, 3)]
    with pytest.raises(ValueError, match="padding_side"):
        hm.pad([[1]], "middle")  # type: ignore[arg-type]


@pytest.mark.parametrize("arch", ["gpt2", "bert"])
def test_keeping_the_last_logits_equals_the_tail_of_the_full_forward(arch: str) -> None:
    hm = tiny(arch)
    ids = hm.tokenize(prompt(8)).input_ids
    with torch.no_grad():
        full, last = hm.forward(ids), hm.forward(ids, 2)
        plain = hm.model(input_ids=ids)
    assert last.shape == (1, 2, full.shape[-1])
    torch.testing.assert_close(last, full[:, -2:], atol=1e-6, rtol=0)
    torch.testing.assert_close(full, plain.logits, atol=1e-6, rtol=0)


def test_left_padded_rows_give_the_logits_of_each_prompt_alone() -> None:
    hm = tiny("llama")
    rows = [hm.tokenize(prompt(n, seed=n)).input_ids[0].tolist() for n in (4, 9)]
    batch = hm.pad(rows, "left")
    with torch.no_grad():
        both = hm.forward(
            batch.input_ids, 1, attention_mask=batch.attention_mask, position_ids=batch.position_ids
        )
        for row, ids in enumerate(rows):
            alone = hm.forward(torch.tensor([ids]), 1)
            torch.testing.assert_close(both[row], alone[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_greedy_generation_equals_transformers_generate_with_and_without_edits(arch: str) -> None:
    hm = tiny(arch)
    ids = hm.tokenize(prompt(6)).input_ids
    spec = Intervention.zero([(1, 0), (0, 2)])
    for edit in (None, spec):
        ours = hm.generate(ids, 6, edit)
        with torch.no_grad(), hm.intervene(edit or Intervention()):
            theirs = hm.model.generate(
                ids, max_new_tokens=6, do_sample=False, pad_token_id=0, eos_token_id=None
            )
        assert ours == theirs[0, ids.shape[1] :].tolist()[: len(ours)]
        assert len(ours) == 6 or ours[-1] == hm.tokenizer.eos_token_id


def test_generation_continues_from_a_prefill_that_read_the_prompt() -> None:
    hm = tiny("gpt2")
    ids = hm.tokenize(prompt(6)).input_ids
    with torch.no_grad():
        logits, cache = hm.prefill(ids)
    start = (int(logits[0, -1].argmax()), cache)
    assert hm.generate(ids, 5, start=start) == hm.generate(ids, 5)


def test_run_of_several_prompts_matches_one_by_one_on_real_positions() -> None:
    hm = tiny("gpt2")
    texts = [prompt(4, 1), prompt(11, 2), prompt(7, 3)]
    batch = hm.run(texts)
    for row, text in enumerate(texts):
        alone = hm.run(text).logits[0]
        n = alone.shape[0]
        torch.testing.assert_close(batch.logits[row, :n], alone, atol=1e-5, rtol=0)
        assert int(batch.attention_mask[row].sum()) == n
