"""Models sharded by accelerate (device_map): hooks follow each layer's device.

On the CPU, a layer offloaded to disk (weights on "meta", executed on the CPU by accelerate's
hooks) is the stand-in for a second device. The 2-GPU test runs where two GPUs exist.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention
from tests._tiny import prompt, tiny_model, word_tokenizer

pytest.importorskip("accelerate", reason="pip install accelerate")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-llama")
    tiny_model("llama").save_pretrained(path)
    word_tokenizer().save_pretrained(path)
    return path


def _assert_same_results(sharded: hw.HeadModel, single: hw.HeadModel, text: str) -> None:
    """run_batch (zero, scale and mean edits), sweep and intervene agree (fp32, atol 1e-5)."""
    specs = [
        *single.single_head_specs("zero"),
        Intervention.scale({(1, 3): 2.0}),
        Intervention.mean([(1, 0)], reference=[prompt(7, 1)]),
    ]
    torch.testing.assert_close(
        sharded.run_batch(text, specs, logits_to_keep=1),
        single.run_batch(text, specs, logits_to_keep=1),
        atol=1e-5,
        rtol=0,
    )
    metric = hw.Metric("logit_diff", target="w1", distractor="w2")
    sweep = sharded.sweep(text, metric)
    assert isinstance(sweep.values, np.ndarray)  # cubes come back on the CPU
    np.testing.assert_allclose(sweep.values, single.sweep(text, metric).values, atol=1e-5)
    with sharded.intervene(Intervention.zero([(1, 1)])):
        edited = sharded.model(input_ids=sharded.tokenize(text).input_ids).logits
    with single.intervene(Intervention.zero([(1, 1)])):
        expected = single.model(input_ids=single.tokenize(text).input_ids).logits
    torch.testing.assert_close(edited.to(expected.device), expected, atol=1e-5, rtol=0)


def test_a_model_with_a_disk_offloaded_layer_gives_the_single_device_results(
    saved: Path, tmp_path: Path
) -> None:
    device_map = {
        "model.embed_tokens": "cpu",
        "model.rotary_emb": "cpu",
        "model.layers.0": "cpu",
        "model.layers.1": "disk",
        "model.norm": "cpu",
        "lm_head": "cpu",
    }
    sharded = hw.load(str(saved), device_map=device_map, offload_folder=str(tmp_path))
    single = hw.load(str(saved), device="cpu")
    assert sharded.out_projs[1].weight.device.type == "meta"  # really offloaded
    _assert_same_results(sharded, single, prompt(9, 2))


_TWO_GPUS = {
    "model.embed_tokens": 0,
    "model.rotary_emb": 0,
    "model.layers.0": 0,
    "model.layers.1": 1,
    "model.norm": 1,
    "lm_head": 1,
}


@pytest.mark.gpu
@pytest.mark.parametrize("device_map", [_TWO_GPUS, "balanced"], ids=["explicit", "balanced"])
def test_a_model_sharded_over_two_gpus_gives_the_single_device_results(
    saved: Path, device_map: dict[str, int] | str
) -> None:
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA GPUs")
    sharded = hw.load(str(saved), device_map=device_map, dtype=torch.float32)
    single = hw.load(str(saved), device="cuda:0", dtype=torch.float32)
    assert {p.weight.device.index for p in sharded.out_projs} == {0, 1}
    text = prompt(9, 2)
    _assert_same_results(sharded, single, text)
    patterns = hw.scores.patterns.pattern_scores(sharded, text, ["previous_token", "sink"])
    expected_patterns = hw.scores.patterns.pattern_scores(single, text, ["previous_token", "sink"])
    for name in patterns:
        np.testing.assert_allclose(patterns[name].values, expected_patterns[name].values, atol=1e-6)
