"""Positions under edits count from each row's first real token, at both sites.

A left-padded batch (batched ``generate`` with ``padding_side="left"``, or a padded forward)
under position-restricted edits must give each prompt what it gives alone: z edits at the
head output, pattern edits at query and key positions, and q/k/v edits, with and without a
KV cache.
"""

from __future__ import annotations

import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention
from tests._tiny import prompt, tiny

ARCHS = ["gpt2", "llama"]
PAD = 0


def left_padded(hm: hw.HeadModel, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [hm.tokenize(text).input_ids[0] for text in texts]
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, width - len(row) :] = row
        mask[index, width - len(row) :] = 1
    return ids, mask


def positions_of(mask: torch.Tensor) -> torch.Tensor:
    """What generate gives a left-padded row: 0 at its first real token."""
    return (mask.cumsum(-1) - 1).clamp_min(0)


def edits(hm: hw.HeadModel, site: str = "both") -> Intervention:
    """Position-restricted edits: at the head output z (``"z"``), of patterns at query and
    key positions (``"pattern"``), of q and k (``"qkv"``), or all of them (``"both"``)."""
    direction = torch.linspace(-1.0, 1.0, hm.head_dim).tolist()
    z = Intervention.scale({(0, 1): 4.0, (1, 3): -2.0}, positions=[1, 3, 7])
    pattern = (
        Intervention.sink({(1, 0): 0.0}, positions=[2, 4, 8])
        | Intervention.reweight({(0, 2): 0.0}, keys=[1, 2], positions=[3, 5])
        | Intervention.window({(1, 2): 2}, sinks=1, positions=[5, 6])
    )
    qkv = Intervention.qkv_add("k", {(0, 0): 3.0}, direction, positions=[1, 4]) | (
        Intervention.qkv_add("q", {(1, 1): 2.0}, direction, positions=[2, 6])
    )
    return {"z": z, "pattern": pattern, "qkv": qkv, "both": z | pattern | qkv}[site]


TEXTS = [prompt(3, seed=1), prompt(8, seed=2), prompt(5, seed=3)]


@pytest.mark.parametrize("site", ["z", "pattern", "qkv", "both"])
@pytest.mark.parametrize("arch", ARCHS)
def test_a_left_padded_forward_is_edited_as_each_prompt_alone(arch: str, site: str) -> None:
    hm = tiny(arch)
    spec = edits(hm, site)
    ids, mask = left_padded(hm, TEXTS)
    with torch.no_grad(), hm.intervene(spec):
        batch = hm.model(input_ids=ids, attention_mask=mask, position_ids=positions_of(mask))
        alone = [hm.model(input_ids=hm.tokenize(text).input_ids).logits[0] for text in TEXTS]
    with torch.no_grad():
        plain = [hm.model(input_ids=hm.tokenize(text).input_ids).logits[0] for text in TEXTS]
    for row, expected in enumerate(alone):
        got = batch.logits[row, ids.shape[1] - len(expected) :]
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
        assert not torch.allclose(plain[row], expected, atol=1e-4)  # the edits act


@pytest.mark.parametrize("arch", ARCHS)
def test_left_padded_batched_generation_equals_each_prompt_generated_alone(arch: str) -> None:
    hm = tiny(arch)
    spec = edits(hm)
    ids, mask = left_padded(hm, TEXTS)
    kwargs = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": PAD}
    with torch.no_grad(), hm.intervene(spec):
        cached = hm.model.generate(ids, attention_mask=mask, use_cache=True, **kwargs)
        uncached = hm.model.generate(ids, attention_mask=mask, use_cache=False, **kwargs)
        alone = [hm.model.generate(hm.tokenize(text).input_ids, **kwargs)[0, -6:] for text in TEXTS]
    assert torch.equal(cached, uncached)
    for row, expected in enumerate(alone):
        assert torch.equal(cached[row, -6:], expected)


def test_a_right_padded_run_keeps_its_positions() -> None:
    hm = tiny("gpt2")
    spec = edits(hm)
    batch = hm.run(TEXTS, spec)
    for row, text in enumerate(TEXTS):
        alone = hm.run(text, spec).logits[0]
        torch.testing.assert_close(batch.logits[row, : len(alone)], alone, atol=1e-5, rtol=0)


def test_a_qkv_patch_from_a_shorter_source_names_both_lengths() -> None:
    hm = tiny("llama")
    text, short = prompt(8), prompt(3, seed=5)  # 9 and 4 tokens with the BOS
    ids = hm.tokenize(text).input_ids
    spec = Intervention.qkv_patch("v", [(1, 1)], short)
    with (
        pytest.raises(
            ValueError,
            match=r"source of 4 tokens, but the prompt it edits has 9 tokens.*4\.\.8.*0\.\.3",
        ),
        torch.no_grad(),
        hm.intervene(spec),
    ):
        hm.model(input_ids=ids)
    # restricted to the positions the source has, the same patch runs
    with torch.no_grad(), hm.intervene(Intervention.qkv_patch("v", [(1, 1)], short, [1, 3])):
        hm.model(input_ids=ids)
