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
from headwidgets.exercises import induction, inside, ioi

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


# --- notebook 03 -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ioi_hm() -> Any:
    if "circuits-4l" not in zoo.models():
        pytest.skip("shipped model circuits-4l missing; build it with `make models`")
    return hw.load("circuits-4l", device="cpu")


@pytest.fixture(scope="module")
def ds() -> Any:
    return hw.datasets.ioi(4, seed=1, split="heldout")


def test_unanswered_ioi_exercises_say_so(capsys, ioi_hm, ds):
    ioi.check_logit_diff(..., ioi_hm, ds)
    ioi.check_logit_diff(lambda logits, target, distractor: None, ioi_hm, ds)
    ioi.check_normalisation(..., ioi_hm, ds, (2, 3))
    ioi.check_prediction({(0, 3): ..., (2, 3): ...}, ioi_hm, ds)
    ioi.check_ablations(..., ..., ..., ioi_hm, ds, (0, 0))
    ioi.check_attribution_ratio(..., None, None, (0, 3))
    out = capsys.readouterr().out
    assert out.count("not answered yet") + out.count("returns nothing yet") == 6, out
    with pytest.raises(ValueError, match=r"exercises are 1\.\.5"):
        ioi.show_solution(6)


def test_logit_diff_check_accepts_logits_or_log_probabilities(capsys, ioi_hm, ds):
    _passes(capsys, ioi.check_logit_diff, ioi.solution_1, ioi_hm, ds)

    def from_log_probs(logits, target, distractor):
        logp = logits[-1].log_softmax(-1)
        return logp[target] - logp[distractor]

    _passes(capsys, ioi.check_logit_diff, from_log_probs, ioi_hm, ds)


@pytest.mark.parametrize(
    "wrong",
    [
        lambda logits, t, d: logits[0, t] - logits[0, d],
        lambda logits, t, d: logits[-1, d] - logits[-1, t],
        lambda logits, t, d: logits[-1].softmax(-1)[t] - logits[-1].softmax(-1)[d],
    ],
    ids=["first position", "reversed", "probabilities"],
)
def test_logit_diff_check_rejects_common_mistakes(ioi_hm, ds, wrong):
    _fails(ioi.check_logit_diff, wrong, ioi_hm, ds)


def test_normalisation_check_accepts_equivalent_formulas(capsys, ioi_hm, ds):
    _passes(capsys, ioi.check_normalisation, ioi.solution_2, ioi_hm, ds, (2, 3))

    def one_minus_gap(patched, clean, corrupt):
        return 1 - (clean - patched) / (clean - corrupt)

    _passes(capsys, ioi.check_normalisation, one_minus_gap, ioi_hm, ds, (2, 3))


@pytest.mark.parametrize(
    "wrong",
    [
        lambda patched, clean, corrupt: patched / clean,
        lambda patched, clean, corrupt: (clean - patched) / (clean - corrupt),
        lambda patched, clean, corrupt: (patched - corrupt) / clean,
    ],
    ids=["ratio to clean", "one minus", "unnormalised gap"],
)
def test_normalisation_check_rejects_common_mistakes(ioi_hm, ds, wrong):
    _fails(ioi.check_normalisation, wrong, ioi_hm, ds, (2, 3))


def test_prediction_check_accepts_the_measured_places_however_written(capsys, ioi_hm, ds):
    _passes(capsys, ioi.check_prediction, ioi.solution_3(), ioi_hm, ds)
    as_strings = {"0.3": "Article", "2.3": "END"}
    _passes(capsys, ioi.check_prediction, as_strings, ioi_hm, ds)


@pytest.mark.parametrize(
    "wrong",
    [{(0, 3): "s2", (2, 3): "end"}, {(0, 3): "article", (2, 3): "io"}, {(0, 3): "nowhere"}],
    ids=["where it reads", "name mover guess", "not a place"],
)
def test_prediction_check_rejects_wrong_places(ioi_hm, ds, wrong):
    _fails(ioi.check_prediction, wrong, ioi_hm, ds)


def _logit_diffs(hm: Any, ds: Any) -> Any:
    metrics = ds.metrics()

    def logit_diffs(prompts: list[str], intervention: Any = None) -> np.ndarray:
        values = []
        for prompt, metric in zip(prompts, metrics, strict=True):
            out = hm.run(prompt, intervention=intervention)
            values.append(float(metric.compute(hm, out.logits, out.input_ids)[0]))
        return np.array(values)

    return logit_diffs


def test_ablations_check_accepts_zero_and_mean_and_rejects_mixups(capsys, ioi_hm, ds):
    head = (0, 0)
    zero, mean, effects = ioi.solution_5(head, ds.corrupted, _logit_diffs(ioi_hm, ds), ds.prompts)
    _passes(capsys, ioi.check_ablations, zero, mean, effects, ioi_hm, ds, head)
    scale_0 = hw.Intervention.scale({head: 0.0})
    _passes(capsys, ioi.check_ablations, scale_0, mean, effects, ioi_hm, ds, head)
    _fails(ioi.check_ablations, zero, mean, effects[::-1], ioi_hm, ds, head)  # swapped
    clean = float(_logit_diffs(ioi_hm, ds)(ds.prompts).mean())
    absolute = (effects[0] + clean, effects[1] + clean)  # forgot to subtract the clean run
    _fails(ioi.check_ablations, zero, mean, absolute, ioi_hm, ds, head)
    other = hw.Intervention.zero([(0, 3)])
    _fails(ioi.check_ablations, other, mean, effects, ioi_hm, ds, head)
    _fails(ioi.check_ablations, mean, zero, effects, ioi_hm, ds, head)


def test_attribution_ratio_check_wants_one_heads_ratio(capsys, ioi_hm, ds):
    metrics = ds.metrics()
    patching = hw.scores.activation_patching(
        ioi_hm, ds.prompts, ds.corrupted, metrics, reduce="mean", progress=False
    )
    estimate = hw.scores.attribution_patching(
        ioi_hm, ds.prompts, ds.corrupted, metrics, reduce="mean", progress=False
    )
    _, ratio = ioi.solution_4(estimate, patching, (0, 3))
    _passes(capsys, ioi.check_attribution_ratio, ratio, estimate, patching, (0, 3))
    _fails(ioi.check_attribution_ratio, 1 / ratio, estimate, patching, (0, 3))
    r = float(np.corrcoef(estimate.values.ravel(), patching.values.ravel())[0, 1])
    _fails(ioi.check_attribution_ratio, r, estimate, patching, (0, 3))


# --- notebook 06 -----------------------------------------------------------------------------

SINK_HEAD = (1, 0)  # attends to the first token most of the time: the sink edit shows
PREVIOUS = (0, 1)
INDUCTION = [(1, head) for head in range(4)]


def _scaled_first(A, beta):
    edited = np.array(A, dtype=float)
    edited[:, 0] *= beta
    return edited


def test_unanswered_inside_exercises_say_so(capsys, hm, prompts):
    inside.check_sink_edit(..., hm, prompts[0], SINK_HEAD, 0.5)
    inside.check_sink_edit(lambda A, beta: None, hm, prompts[0], SINK_HEAD, 0.5)
    inside.check_window(..., ..., ..., hm, prompts, PREVIOUS, INDUCTION)
    inside.check_window("induction", 0.1, ..., hm, prompts, PREVIOUS, INDUCTION)
    out = capsys.readouterr().out
    assert out.count("not answered yet") + out.count("returns nothing yet") == 4, out
    with pytest.raises(ValueError, match=r"exercises are 1\.\.2"):
        inside.show_solution(3)


def test_sink_edit_check_accepts_the_edit_written_three_ways(capsys, hm, prompts):
    _passes(capsys, inside.check_sink_edit, inside.solution_1, hm, prompts[0], SINK_HEAD, 0.5)

    def by_loop(A, beta):
        out = np.array(A, dtype=float)
        for q in range(A.shape[0]):
            row = A[q, : q + 1].copy()
            row[0] *= beta
            if row.sum() > 0:
                out[q, : q + 1] = row / row.sum()
        return out

    def by_removed_mass(A, beta):  # the row keeps 1 - (1 - β)·A[q, 0] of its mass
        import torch

        A = torch.tensor(A)
        mass = 1 - (1 - beta) * A[:, :1]
        edited = A.clone()
        edited[:, 0] *= beta
        return torch.where(mass > 1e-12, edited / mass.clamp_min(1e-12), A)

    _passes(capsys, inside.check_sink_edit, by_loop, hm, prompts[0], SINK_HEAD, 0.5)
    _passes(capsys, inside.check_sink_edit, by_removed_mass, hm, prompts[0], SINK_HEAD, 2.0)


def _softmax_renormalised(A, beta):
    edited = _scaled_first(A, beta)
    weights = np.exp(edited)
    return weights / weights.sum(-1, keepdims=True)


def _uniform_fallback(A, beta):  # a row with no mass left spread over ALL keys
    edited = _scaled_first(A, beta)
    mass = edited.sum(-1, keepdims=True)
    return np.where(mass > 0, edited / np.where(mass > 0, mass, 1), 1 / A.shape[-1])


def _divide_by_zero(A, beta):
    edited = _scaled_first(A, beta)
    with np.errstate(invalid="ignore", divide="ignore"):
        return edited / edited.sum(-1, keepdims=True)


@pytest.mark.parametrize(
    ("wrong", "named"),
    [
        (_scaled_first, "not renormalised"),
        (lambda A, beta: beta * A, "every key is scaled"),
        (lambda A, beta: A, "gives A back"),
        (_softmax_renormalised, "masked keys"),
        (_uniform_fallback, "masked keys"),
        (_divide_by_zero, "don't divide by 0"),
        (lambda A, beta: inside.solution_1(A, 0.5), "the engine reads"),
    ],
    ids=[
        "no renormalisation",
        "every key times beta",
        "every key times beta, renormalised",
        "softmax over the row",
        "zero-mass row spread over all keys",
        "zero-mass row divided by 0",
        "beta ignored",
    ],
)
def test_sink_edit_check_names_typical_mistakes(hm, prompts, wrong, named):
    with pytest.raises(AssertionError, match="❌ not quite") as failure:
        inside.check_sink_edit(wrong, hm, prompts[0], SINK_HEAD, 0.5)
    assert named in str(failure.value), failure.value


def test_window_check_accepts_the_measured_losses_and_the_right_prediction(capsys, hm, prompts):
    def loss(spec):
        return inside.second_copy_loss(hm, prompts, spec)

    prediction, on_previous, on_induction = inside.solution_2(loss, PREVIOUS, INDUCTION)
    assert prediction == "induction"
    _passes(
        capsys,
        inside.check_window,
        prediction,
        on_previous,
        on_induction,
        hm,
        prompts,
        PREVIOUS,
        INDUCTION,
    )
    # the notebook's own loss (one batched forward under hm.intervene), as numpy floats
    import torch

    ids = torch.cat([hm.tokenize(p).input_ids for p in prompts])

    def notebook_loss(spec):
        with torch.no_grad(), hm.intervene(spec):
            logits = hm.model(input_ids=ids).logits
        logprobs = torch.log_softmax(logits[:, N + 1 : 2 * N], dim=-1)
        return np.float32(-logprobs.gather(-1, ids[:, N + 2 : 2 * N + 1, None]).mean())

    _, on_previous, on_induction = inside.solution_2(notebook_loss, PREVIOUS, INDUCTION)
    _passes(
        capsys,
        inside.check_window,
        "induction",
        on_previous,
        on_induction,
        hm,
        prompts,
        PREVIOUS,
        INDUCTION,
    )


@pytest.mark.parametrize("prediction", ["0.1", "both", "neither", "the previous-token head"])
def test_window_check_rejects_a_wrong_prediction(hm, prompts, prediction):
    def loss(spec):
        return inside.second_copy_loss(hm, prompts, spec)

    _, on_previous, on_induction = inside.solution_2(loss, PREVIOUS, INDUCTION)
    _fails(
        inside.check_window,
        prediction,
        on_previous,
        on_induction,
        hm,
        prompts,
        PREVIOUS,
        INDUCTION,
    )


def test_window_check_names_wrong_measurements(hm, prompts):
    def loss(spec=None):
        return inside.second_copy_loss(hm, prompts, spec)

    _, on_previous, on_induction = inside.solution_2(loss, PREVIOUS, INDUCTION)
    no_sink = loss(hw.Intervention.window(dict.fromkeys(INDUCTION, 4), sinks=0))
    for values, named in (
        ((on_previous, loss()), "the clean loss"),  # measured outside the intervene block
        ((on_induction, on_previous), "the other edit"),  # swapped
        ((on_previous, no_sink), "without its sink"),
        ((on_previous, "high"), "one number"),
    ):
        with pytest.raises(AssertionError, match="❌ not quite") as failure:
            inside.check_window("induction", *values, hm, prompts, PREVIOUS, INDUCTION)
        assert named in str(failure.value), failure.value


def test_notebooks_solutions_folder_reexports_the_package_checks():
    """Older copies of the notebooks import ``solutions`` from the notebooks folder."""
    import importlib
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "notebooks"
    sys.path.insert(0, str(folder))
    try:
        for name, module in (("induction", induction), ("ioi", ioi), ("inside", inside)):
            shim = importlib.import_module(f"solutions.{name}")
            assert shim.__all__ == module.__all__
            assert all(getattr(shim, item) is getattr(module, item) for item in module.__all__)
    finally:
        sys.path.remove(str(folder))
        for key in [k for k in sys.modules if k == "solutions" or k.startswith("solutions.")]:
            del sys.modules[key]
