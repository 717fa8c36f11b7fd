"""Circuit scores and steering edits on a CUDA device equal the CPU (run on the device machine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import headwidgets as hw
from tests._tiny import prompt, tiny, tiny_model, word_tokenizer

pytestmark = pytest.mark.gpu

METRIC = hw.Metric("logit_diff", target="w1", distractor="w2")
CLEAN, CORRUPT = prompt(9, seed=1), prompt(9, seed=2)


def on_cuda(arch: str) -> hw.HeadModel:
    return hw.bind(tiny_model(arch).to("cuda"), word_tokenizer(), name=f"tiny-{arch}-cuda")


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_circuit_scores_on_cuda_equal_the_cpu_result(arch: str) -> None:
    cpu, gpu = tiny(arch), on_cuda(arch)
    scores = [
        lambda hm: hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC, receivers=[(1, 0), (1, 3)]),
        lambda hm: hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC),
        lambda hm: hw.scores.self_repair(hm, CLEAN, METRIC, [(0, 1)]),
        lambda hm: hw.scores.head_set_search(hm, CLEAN, METRIC, "backward", target=0.5),
        lambda hm: hw.scores.attention_rollout(hm, CLEAN),
    ]
    for score in scores:
        want, got = score(cpu), score(gpu)
        np.testing.assert_allclose(got.values, want.values, atol=2e-4, rtol=1e-3)
        for key in ("total_effect", "chosen"):
            if key in want.attrs:
                assert got.attrs[key] == pytest.approx(want.attrs[key], abs=2e-4)


def test_steering_rows_replayed_from_a_cuda_graph_equal_one_run_each() -> None:
    hm = on_cuda("llama")
    v = np.linspace(-1, 1, hm.head_dim).tolist()
    shots = [prompt(5, seed=10), prompt(6, seed=11)]
    specs = [hw.Intervention.add({(1, 2): v}, alpha=a) for a in (0.5, 2.0)]
    specs.append(hw.Intervention.inject({(0, 3): 0.5}, shots))
    ids = hm.tokenize(CLEAN).input_ids
    for _ in range(3):  # the second call captures a graph, the third replays it
        batched = hm.run_batch(CLEAN, specs)
    assert hm.caches["graphs"], "no CUDA graph was captured"
    for row, spec in enumerate(specs):
        with torch.no_grad(), hm.intervene(spec):
            want = hm.model(ids).logits[0].float().cpu()
        torch.testing.assert_close(batched[row], want, atol=1e-4, rtol=1e-4)
