"""Scores on a CUDA device equal the same scores on the CPU (run on the device machine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import headwidgets as hw
from tests._tiny import prompt, tiny, tiny_model, word_tokenizer

pytestmark = pytest.mark.gpu

METRIC = hw.Metric("logit_diff", target="w1", distractor="w2")


def on_cuda(arch: str, dtype: torch.dtype = torch.float32):
    model = tiny_model(arch).to("cuda", dtype)
    return hw.bind(model, word_tokenizer(), name=f"tiny-{arch}-cuda")


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_every_score_on_cuda_equals_the_cpu_result(arch: str) -> None:
    cpu, gpu = tiny(arch), on_cuda(arch)
    texts = [prompt(9), prompt(4, seed=1)]
    clean = texts[0]
    bad = " ".join(["w3", *clean.split()[1:]])
    pairs = [
        lambda hm: hw.scores.pattern_scores(hm, texts, per_query=True, padding_side="left"),
        lambda hm: {"a": hw.attention(hm, texts[0])},
        lambda hm: {"a": hw.scores.ablation_effect(hm, clean, METRIC)},
        lambda hm: {"a": hw.scores.activation_patching(hm, clean, bad, METRIC)},
        lambda hm: {"a": hw.scores.attribution_patching(hm, clean, bad, METRIC)},
        lambda hm: {"a": hw.scores.direct_logit_attribution(hm, clean, "w1", "w2")},
        lambda hm: {"a": hw.scores.ov_copying(hm, k=50)},
    ]
    for make in pairs:
        want, got = make(cpu), make(gpu)
        for name in want:
            np.testing.assert_allclose(got[name].values, want[name].values, atol=1e-4, rtol=1e-3)


def test_bfloat16_patterns_stay_close_to_float32() -> None:
    fp32, bf16 = tiny("llama"), on_cuda("llama", torch.bfloat16)
    texts = [prompt(12), prompt(7, seed=2)]
    want = hw.scores.pattern_scores(fp32, texts, ["previous_token", "sink", "entropy"])
    got = hw.scores.pattern_scores(bf16, texts, ["previous_token", "sink", "entropy"])
    for name in want:
        np.testing.assert_allclose(got[name].values, want[name].values, atol=3e-2)
    assert got["sink"].attrs["dtype"] == "bfloat16"
