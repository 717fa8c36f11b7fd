"""CUDA graphs of batched runs with inside-attention edits (run on the device machine;
skipped where CUDA is missing, e.g. CI): a replayed attention sweep equals the eager one,
other attention edits never replay a stale graph, and a shape that cannot be captured stays
eager without a warning and without turning the z graphs off."""

from __future__ import annotations

import warnings

import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention
from headwidgets.engine import graphs
from tests._tiny import prompt, word_tokenizer

pytestmark = pytest.mark.gpu

HEADS = [(layer, head) for layer in range(4) for head in range(8)]


def _model(dtype: torch.dtype) -> hw.HeadModel:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=4, n_head=8, n_embd=256, vocab_size=100, n_positions=128)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():  # larger output projections so that heads matter
        for block in model.transformer.h:
            block.attn.c_proj.weight.mul_(8.0)
    return hw.bind(model.to("cuda", dtype).eval(), word_tokenizer())


def _attention_graphs(hm: hw.HeadModel) -> int:
    """How many captured graphs hold attention edits (the last part of their key)."""
    return sum(key[-1] is not None for key in hm._graphs.cache)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_repeated_attention_sweep_replays_a_graph_equal_to_eager(dtype: torch.dtype) -> None:
    hm = _model(dtype)
    eager = _model(dtype)
    eager.cuda_graphs = False
    before = hm.model.config._attn_implementation
    atol = 1e-5 if dtype == torch.float32 else 3e-2
    lists = {
        "sink 0": [Intervention.sink({h: 0.0}) for h in HEADS],
        "sink 0.5": [Intervention.sink({h: 0.5}) for h in HEADS],
        "temperature 2": [Intervention.temperature({h: 2.0}) for h in HEADS],
        "sink + z": [Intervention.sink({h: 0.0}) | Intervention.zero([h]) for h in HEADS],
    }
    # same shape and z layout for the attention-only lists: only the attention edits differ,
    # so a stale graph would show; new prompts of the same length reuse the graph
    order = ["sink 0", "sink 0", "sink 0", "temperature 2", "temperature 2", "sink 0"]
    order += ["sink 0.5", "sink 0.5", "temperature 2", "sink + z", "sink + z", "sink 0"]
    for step, name in enumerate(order):
        text = prompt(20, step % 3)
        got = hm.run_batch(text, lists[name], logits_to_keep=2)
        want = eager.run_batch(text, lists[name], logits_to_keep=2)
        torch.testing.assert_close(got, want, atol=atol, rtol=0, msg=f"step {step}: {name}")
        assert hm.model.config._attn_implementation == before
    assert _attention_graphs(hm) >= 1, "no attention sweep was captured"
    assert hm.cuda_graphs
    # the sweep's metric path too
    metric = hw.Metric("logit_diff", target="w1", distractor="w2")
    for seed in range(3):
        text = prompt(20, seed)
        got_v, got_c = hm.sweep_values(text, metric, lists["temperature 2"])
        want_v, want_c = eager.sweep_values(text, metric, lists["temperature 2"])
        torch.testing.assert_close(got_v, want_v, atol=10 * atol, rtol=0)
        torch.testing.assert_close(got_c, want_c, atol=10 * atol, rtol=0)
    assert hm.model.config._attn_implementation == before


def test_edits_differ_from_the_unedited_sweep() -> None:
    # the graph really carries the attention edits (a replay of the plain forward would not)
    hm = _model(torch.float32)
    text = prompt(20, 0)
    plain = hm.run_batch(text, [Intervention()] * len(HEADS), logits_to_keep=1)
    specs = [Intervention.temperature({h: 4.0}) for h in HEADS]
    for _ in range(3):
        edited = hm.run_batch(text, specs, logits_to_keep=1)
        assert float((edited - plain).abs().amax(dim=(1, 2)).min()) > 1e-4
    assert _attention_graphs(hm) == 1


def test_an_attention_shape_that_cannot_be_captured_stays_eager_quietly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hm = _model(torch.float32)
    eager = _model(torch.float32)
    eager.cuda_graphs = False
    real = graphs._Captured.__init__

    def failing(self: object, *args: object, **kwargs: object) -> None:
        patterns = args[5] if len(args) > 5 else kwargs.get("patterns")
        if patterns:
            raise RuntimeError("operation not permitted when stream is capturing")
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(graphs._Captured, "__init__", failing)
    sink = [Intervention.sink({h: 0.0}) for h in HEADS]
    zero = hm.single_head_specs("zero")
    text = prompt(20, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            torch.testing.assert_close(
                hm.run_batch(text, sink, logits_to_keep=2),
                eager.run_batch(text, sink, logits_to_keep=2),
                atol=1e-5,
                rtol=0,
            )
        for _ in range(3):  # the z graphs still capture
            hm.run_batch(text, zero, logits_to_keep=2)
    assert not [w for w in caught if "graph" in str(w.message)]
    assert hm.cuda_graphs
    assert len(hm.caches["graphs"]) == 1 and _attention_graphs(hm) == 0


def test_token_string_keys_stay_eager() -> None:
    # string keys follow the ids on the host: never captured, no warning, same numbers
    hm = _model(torch.float32)
    eager = _model(torch.float32)
    eager.cuda_graphs = False
    text = prompt(20, 2)
    word = text.split()[3]
    specs = [Intervention.reweight({h: 0.0}, keys=[word]) for h in HEADS[:8]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            torch.testing.assert_close(
                hm.run_batch(text, specs, logits_to_keep=2),
                eager.run_batch(text, specs, logits_to_keep=2),
                atol=1e-5,
                rtol=0,
            )
    assert not [w for w in caught if "graph" in str(w.message)]
    assert hm.cuda_graphs and _attention_graphs(hm) == 0
