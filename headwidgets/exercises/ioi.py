"""Checks and solutions for ``03_indirect_object_identification.ipynb``.

Try the exercises before reading on: the solutions are at the bottom of this file.

``ds`` is an IOI prompt set (:func:`headwidgets.datasets.ioi`): ``ds.prompts``,
``ds.corrupted`` (the second subject replaced by a third name), ``ds.targets`` (the indirect
object, IO), ``ds.distractors`` (the subject, S) and ``ds.info`` (the names and the template of
each prompt). Named positions (IO, S1, S2, article, end) are those of
:func:`headwidgets.zoo.roles.positions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from headwidgets import Intervention
from headwidgets.exercises._check import call, ok, show, unanswered, wrong
from headwidgets.scores import activation_patching
from headwidgets.vocab import parse_head
from headwidgets.zoo import roles

__all__ = [
    "PLACES",
    "check_ablations",
    "check_attribution_ratio",
    "check_logit_diff",
    "check_normalisation",
    "check_prediction",
    "show_solution",
]

Head = tuple[int, int]
COUNT = 5  # exercises in the notebook
PLACES = ("io", "s1", "s2", "verb", "article", "end")
"""The named positions a patching-map prediction can give (see :mod:`headwidgets.zoo.roles`)."""


def _close(got: Any, want: float, tolerance: float = 1e-4) -> bool:
    try:
        return bool(np.isclose(float(got), want, rtol=tolerance, atol=tolerance))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# checks


def check_logit_diff(fn: Any, hm: Any, ds: Any) -> None:
    """Exercise 1: ``fn(logits, target_id, distractor_id)`` -> logit(target) − logit(distractor)
    at the last position, where ``logits`` has shape (position, vocab) for one prompt."""
    import torch

    if unanswered(fn):
        return None
    generator = torch.Generator().manual_seed(0)
    tests = [(torch.randn(6, 50, generator=generator), 3, 7)]
    for prompt, target, distractor in list(
        zip(ds.prompts, ds.targets, ds.distractors, strict=True)
    )[:4]:
        logits = hm.run(prompt).logits[0]
        tests.append((logits, hm.token_id(target), hm.token_id(distractor)))
    for logits, target_id, distractor_id in tests:
        got = call(fn, logits, target_id, distractor_id)
        if got is None or unanswered(got):
            print("✏️  your function returns nothing yet: return one number")
            return None
        want = float(logits[-1, target_id] - logits[-1, distractor_id])
        if not _close(got, want):
            hint = (
                "the prediction for the next token lives at the LAST position (logits[-1]); "
                "take raw logits (or log-probabilities: the normalisation cancels), target "
                "minus distractor"
            )
            wrong(f"got {float(got):+.3f}, expected {want:+.3f}. Hint: {hint}")
    metric = ds.metrics()[0]
    out = hm.run(ds.prompts[0])
    library = float(metric.compute(hm, out.logits, out.input_ids)[0])
    return ok(f"on the first prompt: {library:+.2f}, the same as hw.Metric('logit_diff').")


def check_normalisation(fn: Any, hm: Any, ds: Any, head: Head) -> None:
    """Exercise 2: ``fn(m_patched, m_clean, m_corrupt)`` -> the fraction of the clean−corrupt
    gap that patching restores; checked on numbers and against the library on ``head``."""

    if unanswered(fn):
        return None
    for patched, clean, corrupt in ((1.0, 3.0, -1.0), (2.0, 4.0, 1.0), (-0.5, 2.0, 0.5)):
        got = call(fn, patched, clean, corrupt)
        if got is None or unanswered(got):
            print("✏️  your function returns nothing yet: return one number")
            return None
        want = (patched - corrupt) / (clean - corrupt)
        if not _close(got, want):
            wrong(
                f"fn({patched}, {clean}, {corrupt}) = {float(got):.3f}, expected {want:.3f}. "
                "Hint: 0 when the patched run is as bad as the corrupted run, 1 when it is as "
                "good as the clean run"
            )
    prompt, corrupted, metric = ds.prompts[0], ds.corrupted[0], ds.metrics()[0]

    def measure(text: str, spec: Any = None) -> float:
        out = hm.run(text, intervention=spec)
        return float(metric.compute(hm, out.logits, out.input_ids)[0])

    m_clean, m_corrupt = measure(prompt), measure(corrupted)
    m_patched = measure(corrupted, Intervention.patch([head], source=prompt))
    yours = float(call(fn, m_patched, m_clean, m_corrupt))
    library = float(
        activation_patching(hm, prompt, corrupted, metric, progress=False).sel(
            layer=head[0], head=head[1]
        )
    )
    if not _close(yours, library, 1e-3):
        wrong(f"on head {head} you get {yours:.3f}, the library {library:.3f}")
    return ok(
        f"head {head} on the first prompt: clean {m_clean:+.2f}, corrupted {m_corrupt:+.2f}, "
        f"patched {m_patched:+.2f} -> {yours:.2f} of the gap restored, as "
        "hw.scores.activation_patching says."
    )


def _patching_places(hm: Any, ds: Any, heads: Sequence[Head], n: int = 4) -> dict[Head, str]:
    """For each head, the named position where patching its clean output restores most."""

    totals = {head: np.zeros(len(PLACES)) for head in heads}
    metrics = ds.metrics()
    for info, corrupted, metric in list(zip(ds.info, ds.corrupted, metrics, strict=True))[:n]:
        cube = activation_patching(
            hm, info["prompt"], corrupted, metric, per_query=True, progress=False
        )
        where = roles.positions(hm, info)
        for head in heads:
            values = cube.sel(layer=head[0], head=head[1]).values
            totals[head] += [values[where[place]] for place in PLACES]
    return {head: PLACES[int(np.argmax(total))] for head, total in totals.items()}


def check_prediction(prediction: Any, hm: Any, ds: Any) -> None:
    """Exercise 3: ``{head: place}``, the named position (one of :data:`PLACES`) at which
    patching each head's clean output restores the most, predicted before computing it."""
    if unanswered(prediction):
        return None
    if not isinstance(prediction, dict) or not prediction:
        wrong("give a dict {(layer, head): place}, e.g. {(0, 3): 'io', (2, 3): 'end'}")
    try:
        guess = {parse_head(key): value for key, value in prediction.items()}
    except (TypeError, ValueError):
        wrong("the keys must be (layer, head) pairs")
    guess = {
        head: value.lower() if isinstance(value, str) else value for head, value in guess.items()
    }
    if any(value is Ellipsis for value in guess.values()):
        print("✏️  not answered yet: fill in a place for every head")
        return None
    bad = [value for value in guess.values() if value not in PLACES]
    if bad:
        wrong(f"places are one of {PLACES}, not {bad}")
    want = _patching_places(hm, ds, sorted(guess))
    missed = {head: want[head] for head in guess if guess[head] != want[head]}
    if missed:
        wrong(
            f"{len(missed)} of {len(guess)} predictions differ from the measurement. Hint: a "
            "head's output lives at the position it attends FROM (its query), not at the "
            "tokens it reads; which position's output differs between the clean and the "
            "corrupted run?"
        )
    return ok(
        "measured on the first prompts: "
        + ", ".join(f"{layer}.{head} at {place!r}" for (layer, head), place in want.items())
        + "."
    )


def _edit_of(spec: Any, mode: str) -> Any:
    if not hasattr(spec, "edits") or len(spec.edits) != 1 or spec.attention:
        wrong(f"build one edit of one head, e.g. hw.Intervention.{mode}([(layer, head)], ...)")
    return spec.edits[0]


def check_ablations(
    zero_spec: Any, mean_spec: Any, effects: Any, hm: Any, ds: Any, head: Head
) -> None:
    """Exercise 5: zero vs mean ablation of ``head``; ``effects`` = (zero effect, mean
    effect), each the change of the mean logit difference over ``ds.prompts``."""
    if unanswered(zero_spec, mean_spec, effects):
        return None
    zero, mean = _edit_of(zero_spec, "zero"), _edit_of(mean_spec, "mean")
    if not (zero.mode == "zero" or (zero.mode == "scale" and zero.alpha == 0.0)):
        wrong("zero_spec should zero the head (hw.Intervention.zero)")
    if mean.mode != "mean" or not mean.reference:
        wrong(
            "mean_spec should replace the head by its mean (hw.Intervention.mean(heads, reference))"
        )
    for name, edit in (("zero_spec", zero), ("mean_spec", mean)):
        if (edit.layer, edit.head) != head or edit.positions is not None:
            wrong(f"{name} should edit head {head} at every position")
    metrics = ds.metrics()

    def mean_diff(spec: Any = None) -> float:
        values = []
        for prompt, metric in zip(ds.prompts, metrics, strict=True):
            out = hm.run(prompt, intervention=spec)
            values.append(float(metric.compute(hm, out.logits, out.input_ids)[0]))
        return float(np.mean(values))

    clean = mean_diff()
    want = (mean_diff(zero_spec) - clean, mean_diff(mean_spec) - clean)
    try:
        got = tuple(float(v) for v in effects)
    except (TypeError, ValueError):
        wrong("effects should be two numbers: (zero_effect, mean_effect)")
    if len(got) != 2 or not all(_close(g, w, 0.01) for g, w in zip(got, want, strict=True)):
        wrong(
            f"expected effects ({want[0]:+.2f}, {want[1]:+.2f}). Hint: an effect is the mean "
            "logit difference with the edit MINUS the clean mean logit difference"
        )
    return ok(
        f"head {head}: zero ablation {want[0]:+.2f}, mean ablation {want[1]:+.2f} "
        f"(clean {clean:+.2f})."
    )


def check_attribution_ratio(ratio: Any, estimate: Any, patching: Any, head: Head) -> None:
    """Exercise 4: attribution patching's estimate of ``head`` divided by its activation
    patching value (both mean cubes from the notebook)."""
    if unanswered(ratio):
        return None
    layer, index = head
    want = float(estimate.sel(layer=layer, head=index) / patching.sel(layer=layer, head=index))
    if not _close(ratio, want, 0.005):
        wrong(
            f"ratio = {float(ratio):.3f}; expected estimate / activation patching of head "
            f"{head}. Hint: a ratio of one head's two values, not a correlation over heads"
        )
    direction = (
        f"underestimates it by {1 - want:.0%}"
        if want < 1
        else f"overestimates it by {want - 1:.0%}"
    )
    return ok(
        f"attribution patching gives head {head} {want:.0%} of its activation-patching value: "
        f"it {direction}, however close the correlation over all heads is."
    )


def show_solution(number: int) -> None:
    """Print the solution of exercise ``number``."""
    show(globals(), number, COUNT)


# ---------------------------------------------------------------------------------------------
# solutions


def solution_1(logits: Any, target_id: int, distractor_id: int) -> float:
    """Exercise 1: the last position's logits, target minus distractor."""
    last = logits[-1]
    return float(last[target_id] - last[distractor_id])


def solution_2(m_patched: float, m_clean: float, m_corrupt: float) -> float:
    """Exercise 2: 0 = as bad as corrupted, 1 = as good as clean."""
    return (m_patched - m_corrupt) / (m_clean - m_corrupt)


def solution_3() -> dict[Head, str]:
    """Exercise 3: 0.3 writes at the article (where it reads S2); 2.3 and 3.0 at the end."""
    return {(0, 3): "article", (2, 3): "end", (3, 0): "end"}


def solution_5(head: Head, reference: Sequence[str], logit_diffs: Any, prompts: Any) -> tuple:
    """Exercise 5: two specs, and each effect relative to the clean run."""
    import headwidgets as hw

    zero_spec = hw.Intervention.zero([head])
    mean_spec = hw.Intervention.mean([head], reference)
    clean = logit_diffs(prompts).mean()
    effects = (
        logit_diffs(prompts, zero_spec).mean() - clean,
        logit_diffs(prompts, mean_spec).mean() - clean,
    )
    return zero_spec, mean_spec, effects


def solution_4(estimate: Any, patching: Any, head: Head) -> tuple[Any, float]:
    """Exercise 4: a scatter of the two cubes, and one head's ratio."""
    from bokeh.plotting import figure

    fig = figure(
        width=360,
        height=320,
        title="attribution vs activation patching",
        x_axis_label="activation patching",
        y_axis_label="attribution patching",
    )
    fig.scatter(patching.values.ravel(), estimate.values.ravel(), size=7)
    top = float(max(patching.max(), estimate.max()))
    fig.line([0, top], [0, top], line_dash="dashed", color="gray")
    layer, index = head
    ratio = float(estimate.sel(layer=layer, head=index) / patching.sel(layer=layer, head=index))
    return fig, ratio
