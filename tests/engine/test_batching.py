"""Batched runs (``engine/batching.py``): N specs as one forward, grown, chunked, OOM-halved."""

from __future__ import annotations

import pytest
import torch

from headwidgets import Intervention
from tests._tiny import ARCHS, prompt, tiny


@pytest.mark.parametrize("arch", ["gpt2", "llama", "bert"])
def test_batched_run_equals_the_same_specs_run_one_at_a_time(arch: str) -> None:
    hm = tiny(arch)
    text, other = prompt(10, seed=1), prompt(10, seed=2)
    specs = [
        Intervention(),
        Intervention.zero([(0, 0)]),
        Intervention.scale({(1, 2): 2.5, (0, 3): -1.0}),
        Intervention.zero([(1, 1)], positions=[3, 5]),
        Intervention.mean([(0, 2)], reference=[prompt(8, 3), prompt(12, 4)]),
        Intervention.mean([(1, 0)], reference=[prompt(10, 5), other], per_position=True),
        Intervention.resample([(1, 3)], source=other),
        Intervention.patch([(0, 1), (1, 2)], source=other, positions=[-1]),
    ]
    batched = hm.run_batch(text, specs)
    chunked = hm.run_batch(text, specs, chunk_size=3)
    for row, spec in enumerate(specs):
        single = hm.run(text, intervention=spec).logits[0]
        torch.testing.assert_close(batched[row], single, atol=1e-5, rtol=0)
        torch.testing.assert_close(chunked[row], single, atol=1e-5, rtol=0)
    assert not torch.allclose(batched[0], batched[1], atol=1e-5)


def test_run_batch_keeps_only_the_last_logits_when_asked() -> None:
    hm = tiny("gpt2")
    text = prompt(10)
    specs = [Intervention(), Intervention.zero([(0, 0)])]
    full = hm.run_batch(text, specs)
    last = hm.run_batch(text, specs, logits_to_keep=1)
    assert last.shape == (2, 1, full.shape[-1])
    torch.testing.assert_close(last[:, 0], full[:, -1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_a_growing_batch_equals_a_plain_batch_and_single_runs_for_every_architecture(
    arch: str,
) -> None:
    hm = tiny(arch)
    text = prompt(9, 7)
    specs = [
        *hm.single_head_specs("zero"),
        Intervention.scale({(1, 0): 3.0}),
        Intervention(),
        Intervention.scale({(0, 2): 0.5, (1, 3): -1.0}),
    ]
    grown = hm.run_batch(text, specs, logits_to_keep=2)
    plain = hm.run_batch(text, specs, logits_to_keep=2, grow=False)
    torch.testing.assert_close(grown, plain, atol=1e-5, rtol=0)
    for row in [0, len(specs) - 3, len(specs) - 2, len(specs) - 1]:
        single = hm.run(text, intervention=specs[row]).logits[0, -2:]
        torch.testing.assert_close(grown[row], single, atol=1e-5, rtol=0)


def test_chunk_rows_fit_the_memory_budget_and_shrink_with_longer_prompts() -> None:
    hm = tiny("gpt2")
    short, long = hm.chunk_rows(8, 1), hm.chunk_rows(64, 64)
    assert 1 <= long <= short <= 1024


def test_an_out_of_memory_chunk_is_halved_and_retried_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from headwidgets import interventions as iv

    hm = tiny("gpt2")
    text = prompt(10)
    specs = hm.single_head_specs("zero")
    expected = hm.run_batch(text, specs, logits_to_keep=1)
    grow_batch, sizes = iv.grow_batch, []

    def small_memory(blocks, joins):  # type: ignore[no-untyped-def]
        sizes.append(sum(joins.values()))
        if sizes[-1] > 2:  # a chunk of more than two rows does not fit
            raise torch.OutOfMemoryError("simulated")
        return grow_batch(blocks, joins)

    monkeypatch.setattr(iv, "grow_batch", small_memory)
    out = hm.run_batch(text, specs, logits_to_keep=1, chunk_size=len(specs))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    assert sizes[:3] == [len(specs), len(specs) // 2, len(specs) // 4]  # halved until it fit
    assert max(sizes[3:]) <= 2
