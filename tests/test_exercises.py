"""The exercise checks of the course notebooks accept right answers and reject common wrong ones.

Each check gets one right answer (often two written differently) and at least two typical
mistakes; a mistake must raise an ``AssertionError`` that starts with ❌, a right answer must
print ✅, and an answer left as ``...`` must print "not answered yet".
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

import headwidgets as hw
from headwidgets import zoo
from headwidgets.exercises import induction

THRESHOLD = 0.4
N = 20


@pytest.fixture(scope="module")
def hm() -> Any:
    if "induction-2l" not in zoo.models():
        pytest.skip("shipped model induction-2l missing; build it with `make models`")
    return hw.load("induction-2l", device="cpu")


@pytest.fixture(scope="module")
def prompts(hm: Any) -> list[str]:
    return hw.datasets.repeated_tokens(hm, n=2, length=N, seed=1)


def _passes(capsys: pytest.CaptureFixture[str], check: Any, *args: Any) -> None:
    check(*args)
    assert "✅ correct!" in capsys.readouterr().out


def _fails(check: Any, *args: Any) -> None:
    with pytest.raises(AssertionError, match="❌ not quite"):
        check(*args)


# --- notebook 02 -----------------------------------------------------------------------------


def test_unanswered_exercises_say_so(capsys, hm, prompts):
    induction.check_loss_halves(..., hm, prompts)
    induction.check_loss_halves(lambda nll, n: None, hm, prompts)
    induction.check_heads("induction", ..., hm, prompts, THRESHOLD)
    induction.check_induction_score(lambda pattern, n: None, hm, prompts[0])
    induction.check_ablation(..., hm, prompts, THRESHOLD)
    induction.check_choice(..., hm, prompts, THRESHOLD)
    induction.check_sides(..., ..., hm, prompts, THRESHOLD)
    induction.check_side(..., hm, prompts, THRESHOLD)
    out = capsys.readouterr().out
    assert out.count("not answered yet") + out.count("returns nothing yet") == 8, out
    with pytest.raises(ValueError, match=r"exercises are 1\.\.8"):
        induction.show_solution(9)


def test_loss_halves_check_accepts_the_right_slices_written_two_ways(capsys, hm, prompts):
    _passes(capsys, induction.check_loss_halves, induction.solution_1, hm, prompts)

    def by_sum(nll, n):
        return float(nll[1:n].sum() / (n - 1)), float(nll[n + 1 : 2 * n].sum() / (n - 1))

    _passes(capsys, induction.check_loss_halves, by_sum, hm, prompts)


@pytest.mark.parametrize(
    "wrong",
    [
        lambda nll, n: (nll[:n].mean(), nll[n + 1 :].mean()),
        lambda nll, n: (nll[1 : n + 1].mean(), nll[n + 1 :].mean()),
        lambda nll, n: (nll[: n + 1].mean(), nll[n + 1 :].mean()),
        lambda nll, n: (nll[1:n].mean(), nll[n:].mean()),
        lambda nll, n: (nll[n + 1 :].mean(), nll[1:n].mean()),
    ],
    ids=["first nll[:n]", "first nll[1:n+1]", "first nll[:n+1]", "second nll[n:]", "swapped"],
)
def test_loss_halves_check_rejects_off_by_one_slices(hm, prompts, wrong):
    _fails(induction.check_loss_halves, wrong, hm, prompts)


def test_heads_check_accepts_the_heads_above_the_threshold_in_any_container(capsys, hm, prompts):
    cubes = hw.scores.pattern_scores(
        hm, prompts, names=["previous_token", "induction"], reduce="mean"
    )
    previous, heads = induction.solution_2(cubes, THRESHOLD)
    _passes(capsys, induction.check_heads, "induction", heads, hm, prompts, THRESHOLD)
    as_arrays = {(np.int64(layer), np.int64(head)) for layer, head in previous}
    _passes(capsys, induction.check_heads, "previous_token", as_arrays, hm, prompts, THRESHOLD)
    _fails(induction.check_heads, "induction", heads[:1], hm, prompts, THRESHOLD)  # top-1 only
    _fails(induction.check_heads, "induction", previous, hm, prompts, THRESHOLD)  # other kind
    _fails(induction.check_heads, "induction", [*heads, (0, 0)], hm, prompts, THRESHOLD)


def test_induction_score_check_accepts_a_loop_and_rejects_wrong_offsets(capsys, hm, prompts):
    def by_loop(pattern, n):
        out = np.zeros(pattern.shape[:2])
        for q in range(n + 1, 2 * n + 1):
            out += pattern[:, :, q, q - n + 1]
        return out / n

    _passes(capsys, induction.check_induction_score, induction.solution_3, hm, prompts[0])
    _passes(capsys, induction.check_induction_score, by_loop, hm, prompts[0])

    def offset(shift: int, start: int):
        def score(pattern, n):
            q = np.arange(n + start, 2 * n + start)
            return pattern[:, :, q, q - n + shift].mean(-1)

        return score

    _fails(induction.check_induction_score, offset(0, 1), hm, prompts[0])  # duplicate token
    _fails(induction.check_induction_score, offset(2, 1), hm, prompts[0])
    _fails(induction.check_induction_score, offset(1, 0), hm, prompts[0])  # queries n..2n-1


def test_ablation_check_accepts_zero_or_scale_0_and_rejects_other_heads(capsys, hm, prompts):
    heads = [(1, 0), (1, 1), (1, 2), (1, 3)]
    _passes(capsys, induction.check_ablation, hw.Intervention.zero(heads), hm, prompts, THRESHOLD)
    scale = hw.Intervention.scale(dict.fromkeys(heads, 0.0))
    _passes(capsys, induction.check_ablation, scale, hm, prompts, THRESHOLD)
    _fails(induction.check_ablation, hw.Intervention.zero([(0, 1)]), hm, prompts, THRESHOLD)
    only_second = hw.Intervention.zero(heads, positions=range(N + 1, 2 * N + 1))
    _fails(induction.check_ablation, only_second, hm, prompts, THRESHOLD)
    _fails(induction.check_ablation, hw.Intervention.zero(heads[:2]), hm, prompts, THRESHOLD)


def test_choice_check_accepts_the_measured_copy_only(capsys, hm, prompts):
    _passes(capsys, induction.check_choice, "second", hm, prompts, THRESHOLD)
    _fails(induction.check_choice, "first", hm, prompts, THRESHOLD)
    _fails(induction.check_choice, "both", hm, prompts, THRESHOLD)
    _fails(induction.check_choice, "sideways", hm, prompts, THRESHOLD)


def test_sides_check_accepts_both_copies_positions_with_or_without_bos(capsys, hm, prompts):
    key_side, query_side = induction.solution_6([(0, 1)], N)
    _passes(capsys, induction.check_sides, key_side, query_side, hm, prompts, THRESHOLD)
    with_bos = hw.Intervention.zero([(0, 1)], positions=range(0, N + 1))
    _passes(capsys, induction.check_sides, with_bos, query_side, hm, prompts, THRESHOLD)


@pytest.mark.parametrize(
    ("key_positions", "query_positions"),
    [
        (range(N + 1, 2 * N + 1), range(1, N + 1)),  # swapped
        (range(0, N), range(N, 2 * N)),  # off by one
        (None, range(N + 1, 2 * N + 1)),  # everywhere
    ],
    ids=["swapped", "off by one", "all positions"],
)
def test_sides_check_rejects_wrong_positions(hm, prompts, key_positions, query_positions):
    key_side = hw.Intervention.zero([(0, 1)], positions=key_positions)
    query_side = hw.Intervention.zero([(0, 1)], positions=query_positions)
    _fails(induction.check_sides, key_side, query_side, hm, prompts, THRESHOLD)


def test_side_check_accepts_key_only(capsys, hm, prompts):
    _passes(capsys, induction.check_side, "key", hm, prompts, THRESHOLD)
    _fails(induction.check_side, "query", hm, prompts, THRESHOLD)
    _fails(induction.check_side, "both", hm, prompts, THRESHOLD)


def _explorer(spec: Any, heads: list[tuple[int, int]]) -> Any:
    return SimpleNamespace(controls=SimpleNamespace(intervention=spec, heads=heads))


def test_widget_check_wants_the_previous_token_head_at_alpha_0(capsys, hm, prompts):
    heads = [(0, 1), (1, 0)]
    right = hw.Intervention.scale({(0, 1): 0.0, (1, 0): 1.0})
    induction.check_widget(_explorer(right, heads), hm, prompts[0], *heads)
    out = capsys.readouterr().out
    assert "✅ correct!" in out and "is gone" in out, out
    induction.check_widget(_explorer(hw.Intervention(), heads), hm, prompts[0], *heads)
    assert "not done yet" in capsys.readouterr().out
    reversed_ = hw.Intervention.scale({(0, 1): 1.0, (1, 0): 0.0})
    _fails(induction.check_widget, _explorer(reversed_, heads), hm, prompts[0], *heads)
    unselected = hw.Intervention.scale({(0, 1): 0.0})
    _fails(induction.check_widget, _explorer(unselected, [(0, 1)]), hm, prompts[0], *heads)
