"""Metrics against hand computations on the logits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention, Metric
from tests._tiny import prompt, tiny

HM = tiny("llama")


def _logits() -> tuple[torch.Tensor, torch.Tensor]:
    text = prompt(10, 4)
    ids = HM.tokenize(text).input_ids
    return HM.run(text).logits, ids


def test_logit_diff_prob_logprob_rank_and_accuracy_match_numpy() -> None:
    logits, ids = _logits()
    last = logits[0, -1].double().numpy()
    target, distractor = HM.token_id("w5"), HM.token_id("w9")
    probs = np.exp(last - last.max()) / np.exp(last - last.max()).sum()
    expected = {
        "logit_diff": last[target] - last[distractor],
        "prob": probs[target],
        "logprob": math.log(probs[target]),
        "rank": float((last > last[target]).sum()),
        "accuracy": float(last.argmax() == target),
    }
    for kind, value in expected.items():
        metric = Metric(kind, target="w5", distractor="w9")  # type: ignore[arg-type]
        got = metric.compute(HM, logits, ids)
        assert got.shape == (1,)
        assert got.item() == pytest.approx(value, abs=1e-5), kind


def test_accuracy_is_one_for_the_top_token_and_rank_is_zero() -> None:
    logits, ids = _logits()
    top = int(logits[0, -1].argmax())
    assert Metric("accuracy", target=top).compute(HM, logits, ids).item() == 1.0
    assert Metric("rank", target=top).compute(HM, logits, ids).item() == 0.0


def test_loss_is_the_mean_next_token_nll_over_the_range() -> None:
    logits, ids = _logits()
    logp = torch.log_softmax(logits[0].double(), -1)
    nll = [-logp[q, ids[0, q + 1]].item() for q in range(2, 6)]
    got = Metric("loss", start=2, end=6).compute(HM, logits, ids).item()
    assert got == pytest.approx(sum(nll) / len(nll), abs=1e-5)
    full = Metric("loss").compute(HM, logits, ids).item()
    all_nll = [-logp[q, ids[0, q + 1]].item() for q in range(ids.shape[1] - 1)]
    assert full == pytest.approx(sum(all_nll) / len(all_nll), abs=1e-5)


def test_kl_is_zero_against_itself_and_matches_the_definition() -> None:
    text = prompt(10, 4)
    ids = HM.tokenize(text).input_ids
    base = HM.run(text).logits
    edited = HM.run(text, Intervention.zero([(1, 0), (0, 2)])).logits
    metric = Metric("kl")
    assert metric.compute(HM, base, ids, base).item() == pytest.approx(0.0, abs=1e-7)
    p = torch.softmax(base[0, -1].double(), -1)
    q = torch.softmax(edited[0, -1].double(), -1)
    expected = float((p * (p.log() - q.log())).sum())
    assert metric.compute(HM, edited, ids, base).item() == pytest.approx(expected, abs=1e-6)


def test_a_metric_at_a_chosen_position_reads_that_position_from_trimmed_logits() -> None:
    logits, ids = _logits()
    metric = Metric("logit_diff", target="w1", distractor="w2", position=7)
    keep = metric.logits_to_keep(ids.shape[1])
    assert keep == ids.shape[1] - 7
    full = metric.compute(HM, logits, ids)
    trimmed = metric.compute(HM, logits[:, -keep:], ids)
    assert torch.equal(full, trimmed)
    assert full.item() == pytest.approx((logits[0, 7, 5] - logits[0, 7, 6]).item())


def test_sweep_values_equal_one_run_per_head() -> None:
    text = prompt(10, 4)
    metric = Metric("logit_diff", target="w1", distractor="w2")
    specs = HM.single_head_specs("zero")
    values, clean = HM.sweep_values(text, metric, specs)
    ids = HM.tokenize(text).input_ids
    assert clean.item() == pytest.approx(
        metric.compute(HM, HM.run(text).logits, ids).item(), abs=1e-5
    )
    for row in [0, 3, 6]:
        alone = metric.compute(HM, HM.run(text, specs[row]).logits, ids).item()
        assert values[row].item() == pytest.approx(alone, abs=1e-5)


def test_as_metric_accepts_a_kind_name_with_tokens() -> None:
    from headwidgets.metrics import as_metric

    assert as_metric("prob", target="w3") == Metric("prob", target="w3")
    with pytest.raises(TypeError, match="either a Metric or a kind"):
        as_metric(Metric("kl"), target="w3")
    assert hw.Metric is Metric
