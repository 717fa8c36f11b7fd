"""The refresh path (static buffers, CUDA graph on the GPU) against plain runs."""

from __future__ import annotations

import pytest
import torch

from headwidgets import Intervention
from headwidgets.engine.refresh import Refresher
from tests._tiny import prompt, tiny

SPECS = [
    Intervention(),
    Intervention.zero([(0, 1)]),
    Intervention.scale({(1, 2): 2.5, (0, 0): -1.0}),
    Intervention.scale({(1, 3): 0.0}, positions=[2, 4]),
    Intervention.mean([(0, 2)], reference=[prompt(6, 3), prompt(9, 4)]),
    Intervention.resample([(1, 1)], source=prompt(9, 5)),
    Intervention(),  # back to clean: buffers must be fully reset
]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_refresher_equals_a_plain_run_for_every_kind_of_edit_in_sequence(arch: str) -> None:
    hm = tiny(arch)
    text = prompt(9, 1)
    refresher = Refresher(hm, text, logits_to_keep=3)
    assert not refresher.uses_cuda_graph  # CPU
    for spec in SPECS:
        expected = hm.run(text, intervention=spec).logits[0, -3:]
        torch.testing.assert_close(refresher.logits(spec), expected, atol=1e-5, rtol=0)


def test_refresher_leaves_no_hooks_behind() -> None:
    from tests._tiny import hook_count

    hm = tiny("gpt2")
    before = hook_count(hm.model)
    Refresher(hm, prompt(5)).logits(Intervention.zero([(0, 0)]))
    assert hook_count(hm.model) == before


def test_refresher_refuses_a_bad_graph_mode() -> None:
    with pytest.raises(ValueError, match="cuda_graph must be 'auto', 'on' or 'off'"):
        Refresher(tiny("gpt2"), prompt(5), cuda_graph="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs the model on one CUDA device"):
        Refresher(tiny("gpt2"), prompt(5), cuda_graph="on")
