"""GPU correctness (run on the device machine; skipped where CUDA is missing, e.g. CI)."""

from __future__ import annotations

import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention
from headwidgets.engine.refresh import Refresher
from tests._tiny import prompt, word_tokenizer

pytestmark = pytest.mark.gpu


def _model(dtype: torch.dtype) -> hw.HeadModel:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=4, n_head=8, n_embd=256, vocab_size=100, n_positions=128)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():  # larger output projections so that heads matter
        for block in model.transformer.h:
            block.attn.c_proj.weight.mul_(8.0)
    return hw.bind(model.to("cuda", dtype).eval(), word_tokenizer())


def test_bf16_sweep_equals_fp32_sweep_within_tolerance() -> None:
    text = prompt(24, 3)
    metric = hw.Metric("logit_diff", target="w1", distractor="w2")
    fp32 = _model(torch.float32).sweep(text, metric).values
    bf16 = _model(torch.bfloat16).sweep(text, metric).values
    scale = abs(fp32).max()
    assert scale > 1e-3
    assert abs(bf16 - fp32).max() <= 0.05 * scale + 0.02
    assert float(torch.corrcoef(torch.tensor([fp32.ravel(), bf16.ravel()]))[0, 1]) > 0.99


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_graph_refresh_equals_eager(dtype: torch.dtype) -> None:
    hm = _model(dtype)
    text = prompt(20, 1)
    graph = Refresher(hm, text, logits_to_keep=2, cuda_graph="on")
    eager = Refresher(hm, text, logits_to_keep=2, cuda_graph="off")
    assert graph.uses_cuda_graph and not eager.uses_cuda_graph
    atol = 1e-4 if dtype == torch.float32 else 3e-2
    specs = [
        Intervention(),
        Intervention.zero([(3, 1)]),
        Intervention.scale({(0, 2): 3.0, (2, 5): -1.0}),
        Intervention.mean([(1, 1)], reference=[prompt(20, 4)]),
        Intervention(),
    ]
    for spec in specs:
        plain = hm.run(text, intervention=spec).logits[0, -2:]
        torch.testing.assert_close(graph.logits(spec), eager.logits(spec), atol=atol, rtol=0)
        torch.testing.assert_close(graph.logits(spec), plain, atol=atol, rtol=0)


def test_growing_batch_on_the_gpu_equals_plain_batch() -> None:
    hm = _model(torch.float32)
    text = prompt(20, 2)
    specs = hm.single_head_specs("zero")
    grown = hm.run_batch(text, specs, logits_to_keep=1)
    plain = hm.run_batch(text, specs, logits_to_keep=1, grow=False)
    torch.testing.assert_close(grown, plain, atol=1e-4, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_repeated_sweep_replays_a_cuda_graph_equal_to_eager(dtype: torch.dtype) -> None:
    hm = _model(dtype)
    eager = _model(dtype)
    eager.cuda_graphs = False
    metric = hw.Metric("logit_diff", target="w1", distractor="w2")
    atol = 1e-4 if dtype == torch.float32 else 3e-2
    for seed in range(4):  # same length, new prompts: the second call captures, then replays
        text = prompt(20, seed)
        graphed = hm.sweep(text, metric).values
        torch.testing.assert_close(
            torch.as_tensor(graphed),
            torch.as_tensor(eager.sweep(text, metric).values),
            atol=atol,
            rtol=0,
        )
    assert len(hm.caches["graphs"]) == 1 and hm.cuda_graphs


def test_cached_compiled_specs_never_serve_another_spec_lists_edits() -> None:
    # zero/scale spec lists are compiled once and kept on the GPU, and a replayed graph skips
    # copying edit buffers it already holds: alternate two spec lists of the same shape (one
    # graph) and new prompts, and compare every call with a fresh eager model
    hm = _model(torch.float32)
    eager = _model(torch.float32)
    eager.cuda_graphs = False
    zero = hm.single_head_specs("zero")
    double = [Intervention.scale({head: 2.0}) for spec in zero for head in spec.heads]
    for step in range(6):
        specs = zero if step % 2 == 0 else double
        text = prompt(20, step // 3)
        torch.testing.assert_close(
            hm.run_batch(text, specs, logits_to_keep=2),
            eager.run_batch(text, specs, logits_to_keep=2),
            atol=1e-4,
            rtol=0,
        )
    assert len(hm.caches["plans"]) == 2 and len(eager.caches["plans"]) == 2
    assert len(hm.caches["graphs"]) == 1 and hm.cuda_graphs
    # a mean ablation depends on other prompts' activations: never cached
    mean = [Intervention.mean([(1, 0)], reference=[prompt(7, 1)])]
    hm.run_batch(prompt(20, 0), mean, logits_to_keep=1)
    assert len(hm.caches["plans"]) == 2
