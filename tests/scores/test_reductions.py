"""Each attention statistic against a direct numpy computation on hand-built attention."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from headwidgets.scores import reductions as red

H, T = 3, 9


def causal_attention(seed: int = 0, n: int = T) -> np.ndarray:
    """Random causal attention (H, n, n): rows sum to 1, zero above the diagonal."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(H, n, n)) * 2
    logits[:, np.triu_indices(n, 1)[0], np.triu_indices(n, 1)[1]] = -np.inf
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    return probs / probs.sum(-1, keepdims=True)


def full_attention(seed: int = 1, n: int = T) -> np.ndarray:
    rng = np.random.default_rng(seed)
    probs = np.exp(rng.normal(size=(H, n, n)))
    return probs / probs.sum(-1, keepdims=True)


def run(fn, A: np.ndarray, *args, **kwargs) -> np.ndarray:
    return fn(torch.tensor(A, dtype=torch.float32), *args, **kwargs).numpy()


def close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_previous_token_is_the_first_subdiagonal() -> None:
    A = causal_attention()
    expected = np.full((H, T), np.nan)
    for h in range(H):
        for q in range(1, T):
            expected[h, q] = A[h, q, q - 1]
    close(run(red.previous_token, A), expected)


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_induction_and_duplicate_look_back_one_period_in_the_second_copy(offset: int) -> None:
    period = 3
    n = offset + 2 * period
    A = causal_attention(n=n)
    induction = np.full((H, n), np.nan)
    duplicate = np.full((H, n), np.nan)
    for q in range(offset + period, n):
        induction[:, q] = A[:, q, q - period + 1]
        duplicate[:, q] = A[:, q, q - period]
    close(run(red.induction, A, period, offset), induction)
    close(run(red.duplicate_token, A, period, offset), duplicate)


def test_a_perfect_induction_head_scores_one() -> None:
    # BOS a b c a b c: every second-copy token attends to the token after its first copy
    A = np.zeros((1, 7, 7))
    A[0, 0, 0] = 1
    for q in range(1, 7):
        A[0, q, q - 3 + 1 if q >= 4 else 0] = 1
    assert np.nanmean(run(red.induction, A, 3, 1)) == 1.0
    assert np.nanmean(run(red.duplicate_token, A, 3, 1)) == 0.0


@pytest.mark.parametrize("causal", [True, False])
def test_sink_and_self_read_column_zero_and_the_diagonal(causal: bool) -> None:
    A = causal_attention() if causal else full_attention()
    sink = A[:, :, 0].copy()
    self_ = np.stack([np.diag(A[h]) for h in range(H)])
    if causal:
        sink[:, 0] = self_[:, 0] = np.nan
    close(run(red.sink, A, causal), sink)
    close(run(red.self_attention, A, causal), self_)


@pytest.mark.parametrize("causal", [True, False])
def test_entropy_in_nats_and_normalized_by_the_log_of_visible_keys(causal: bool) -> None:
    A = causal_attention() if causal else full_attention()
    raw = np.zeros((H, T))
    norm = np.zeros((H, T))
    for h in range(H):
        for q in range(T):
            p = A[h, q][A[h, q] > 0]
            raw[h, q] = -(p * np.log(p)).sum()
            keys = q + 1 if causal else T
            norm[h, q] = raw[h, q] / math.log(keys) if keys > 1 else np.nan
    if causal:
        raw[:, 0] = norm[:, 0] = np.nan
    close(run(red.entropy, A, False, causal), raw)
    close(run(red.entropy, A, True, causal), norm)


def test_uniform_causal_attention_has_normalized_entropy_one() -> None:
    A = np.tril(np.ones((1, T, T)))
    A = A / A.sum(-1, keepdims=True)
    close(run(red.entropy, A, True)[0, 1:], np.ones(T - 1))


@pytest.mark.parametrize("window", [1, 3, 64])
def test_attention_distance_is_the_capped_mean_distance(window: int) -> None:
    A = causal_attention()
    expected = np.zeros((H, T))
    for h in range(H):
        for q in range(T):
            expected[h, q] = sum(A[h, q, k] * min(q - k, window) for k in range(q + 1))
    expected[:, 0] = np.nan
    close(run(red.attention_distance, A, window), expected)


def test_future_influence_averages_each_key_over_later_queries() -> None:
    A = causal_attention()
    expected = np.full((H, T), np.nan)
    for k in range(T - 1):
        expected[:, k] = np.mean([A[:, q, k] for q in range(k + 1, T)], axis=0)
    close(run(red.future_influence, A), expected)


def test_token_set_sums_the_attention_on_the_chosen_keys() -> None:
    A = causal_attention()
    close(run(red.token_set, A, [0, 2, -1]), A[:, :, 0] + A[:, :, 2] + A[:, :, T - 1])


def test_retrieval_hits_are_argmax_on_a_source_at_copy_steps_only() -> None:
    A = causal_attention()
    steps = [(5, [1]), (7, [2, 3])]
    expected = np.full((H, T), np.nan)
    for q, sources in steps:
        expected[:, q] = np.isin(A[:, q].argmax(-1), sources).astype(float)
    close(run(red.retrieval_hits, A, steps), expected)


def test_statistics_work_on_a_batch_of_heads_and_reject_non_square_input() -> None:
    A = torch.tensor(causal_attention(), dtype=torch.float32)
    assert red.sink(A[None]).shape == (1, H, T)
    with pytest.raises(ValueError, match=r"\(\.\.\., T, T\)"):
        red.sink(A[:, :, :4])
    with pytest.raises(ValueError, match="out of range"):
        red.token_set(A, [T])
    with pytest.raises(ValueError, match="window must be >= 1"):
        red.attention_distance(A, 0)
