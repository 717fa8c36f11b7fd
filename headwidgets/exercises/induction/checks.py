"""Checks of the exercises of ``02_induction_heads.ipynb``.

See :mod:`headwidgets.exercises.induction` for the prompts and what a check says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from headwidgets.exercises._check import call, ok, unanswered, wrong
from headwidgets.exercises.induction.reference import (
    Head,
    _halves,
    _heads_above,
    _induction_under,
    _nll,
    _patterns,
    _period,
    _reference_scores,
    copy_losses,
)
from headwidgets.vocab import parse_head

__all__ = [
    "check_ablation",
    "check_choice",
    "check_heads",
    "check_induction_score",
    "check_loss_halves",
    "check_side",
    "check_sides",
    "check_widget",
]


def _as_heads(answer: Any) -> set[Head]:
    try:
        return {parse_head(head) for head in answer}
    except (TypeError, ValueError):
        wrong("give a list of (layer, head) pairs, e.g. [(0, 1), (1, 3)]")


def _zeroed(spec: Any) -> dict[Head, tuple[int, ...] | None]:
    """{head: positions (None = all)} of the zero (or α = 0) edits of an Intervention."""
    if not hasattr(spec, "edits"):
        wrong("build an Intervention, e.g. hw.Intervention.zero([(layer, head), ...])")
    out: dict[Head, tuple[int, ...] | None] = {}
    for edit in spec.edits:
        if edit.mode == "zero" or (edit.mode == "scale" and edit.alpha == 0.0):
            out[(int(edit.layer), int(edit.head))] = edit.positions
    if len(out) != len(spec.edits) or bool(getattr(spec, "attention", None)):
        wrong("the intervention should only zero heads (mode 'zero', or scale with α = 0)")
    return out


# common wrong slices of Exercise 1, each with what it gets wrong
_SLICE_MISTAKES: dict[str, Callable[[Any, int], Any]] = {
    "nll[:n] includes nll[0], the guess of token 1 from BOS alone": lambda nll, n: nll[:n],
    "nll[1:n+1] includes nll[n], the guess of the second copy's first token": lambda nll, n: nll[
        1 : n + 1
    ],
    "nll[:n+1] includes both unpredictable tokens": lambda nll, n: nll[: n + 1],
    "nll[n:] includes nll[n], the guess of the second copy's first token, which nothing "
    "before it predicts": lambda nll, n: nll[n:],
    "nll[n+1:2n-1] drops the last token of the copy": lambda nll, n: nll[n + 1 : 2 * n - 1],
}


def check_loss_halves(fn: Any, hm: Any, prompts: Sequence[str]) -> None:
    """Exercise 1: ``fn(nll, n)`` -> (first-copy loss, second-copy loss) of one prompt."""
    import torch

    if unanswered(fn):
        return None
    generator = torch.Generator().manual_seed(0)
    for n in (5, 8):
        nll = torch.rand(2 * n, generator=generator, dtype=torch.float64) * 10
        result = call(fn, nll, n)
        if result is None or unanswered(result):
            print(
                "✏️  your function returns nothing yet: return (first_copy_loss, second_copy_loss)"
            )
            return None
        try:
            first, second = (float(v) for v in result)
        except (TypeError, ValueError):
            wrong("return two numbers: (first_copy_loss, second_copy_loss)")
        want = _halves(nll, n)
        for name, got, expected in (("first", first, want[0]), ("second", second, want[1])):
            if not np.isclose(got, expected, rtol=1e-6, atol=1e-9):
                known = [
                    why
                    for why, slice_ in _SLICE_MISTAKES.items()
                    if np.isclose(got, float(slice_(nll, n).mean()), rtol=1e-6)
                ]
                hint = known[0] if known else "average nll over the predictable targets only"
                wrong(f"the {name}-copy loss is off on a test array with n = {n}. Hint: {hint}")
    first_real, second_real = copy_losses(hm, prompts)
    unpredictable = float(np.mean([float(_nll(hm, p)[_period(hm, p)]) for p in prompts]))
    return ok(
        f"on the model: first copy {first_real:.2f} nats, second copy {second_real:.2f} nats "
        f"(tokens 2..n and n+2..2n). The first token of the second copy costs "
        f"{unpredictable:.2f} nats: nothing before it says that the sequence restarts."
    )


def check_heads(kind: str, answer: Any, hm: Any, prompts: Sequence[str], threshold: float) -> None:
    """Exercise 2: the heads whose ``kind`` score (previous_token, induction) > threshold."""
    if unanswered(answer):
        return None
    scores = _reference_scores(hm, prompts)
    if kind not in scores:
        raise ValueError(f"kind must be one of {sorted(scores)}, not {kind!r}")
    want = _heads_above(scores[kind], threshold)
    got = _as_heads(answer)
    if got != want:
        missing, extra = sorted(want - got), sorted(got - want)
        parts = [
            f"missing {missing}" if missing else "",
            f"not above {threshold}: {extra}" if extra else "",
        ]
        wrong(
            f"{'; '.join(p for p in parts if p)}. Hint: read the {kind} cube, e.g. "
            f"cubes[{kind!r}].to_pandas(), and keep every head above the threshold"
        )
    if not want:
        return ok(f"in this model no head's {kind} score is above {threshold}.")
    layers = sorted({layer for layer, _ in want})
    return ok(f"{kind} heads {sorted(want)} (layer{'s' if len(layers) > 1 else ''} {layers}).")


def check_induction_score(fn: Any, hm: Any, prompt: str) -> None:
    """Exercise 3: ``fn(pattern, n)`` -> (layer, head) induction scores of one prompt, where
    ``pattern`` is a numpy array of shape (layer, head, query, key)."""
    if unanswered(fn):
        return None
    n = _period(hm, prompt)
    pattern = _patterns(hm, prompt)
    result = call(fn, pattern, n)
    if result is None or unanswered(result):
        print("✏️  your function returns nothing yet: return an array of shape (layer, head)")
        return None
    got = np.asarray(result, dtype=float)
    want = _reference_scores(hm, [prompt])["induction"]
    if got.shape != want.shape:
        wrong(f"the result has shape {got.shape}; expected (layer, head) = {want.shape}")
    # a random causal pattern, so that a wrong offset cannot agree with the right one
    rng = np.random.default_rng(0)
    random = np.tril(rng.random(pattern.shape))
    random /= random.sum(-1, keepdims=True)
    q = np.arange(n + 1, 2 * n + 1)
    random_want = random[:, :, q, q - n + 1].mean(-1)
    random_got = np.asarray(call(fn, random, n), dtype=float)
    if not (np.allclose(got, want, atol=1e-4) and np.allclose(random_got, random_want, atol=1e-6)):
        hint = (
            "for each query q in the second copy (q = n+1 .. 2n) take A[q, q-n+1], the token "
            "right AFTER the earlier occurrence of the current token, then average over q"
        )
        wrong(f"the values differ from the definition. Hint: {hint}")
    return ok("your score matches the definition (hw.scores.induction).")


def check_ablation(spec: Any, hm: Any, prompts: Sequence[str], threshold: float) -> None:
    """Exercise 4: an Intervention that zero-ablates exactly the induction heads."""
    if unanswered(spec):
        return None
    want = _heads_above(_reference_scores(hm, prompts)["induction"], threshold)
    got = _zeroed(spec)
    if set(got) != want or any(positions is not None for positions in got.values()):
        wrong(
            f"the intervention zeroes {sorted(got)}; it should zero-ablate the induction heads "
            f"{'above the threshold ' if want else ''}at all positions"
        )
    base = copy_losses(hm, prompts)
    ablated = copy_losses(hm, prompts, spec)
    return ok(
        f"first copy {base[0]:.2f} -> {ablated[0]:.2f} nats, "
        f"second copy {base[1]:.2f} -> {ablated[1]:.2f} nats."
    )


def _copy_answer(hm: Any, prompts: Sequence[str], spec: Any, rise: float) -> str:
    base = copy_losses(hm, prompts)
    ablated = copy_losses(hm, prompts, spec)
    up = (ablated[0] - base[0] > rise, ablated[1] - base[1] > rise)
    return {(False, False): "neither", (True, False): "first", (False, True): "second"}.get(
        up, "both"
    )


def check_choice(
    answer: Any, hm: Any, prompts: Sequence[str], threshold: float, rise: float = 0.5
) -> None:
    """Exercise 5: whose loss rises by more than ``rise`` nats when the previous-token heads
    are ablated: 'first', 'second', 'both' or 'neither'."""
    if unanswered(answer):
        return None
    choices = ("first", "second", "both", "neither")
    if answer not in choices:
        wrong(f"answer one of {choices}, not {answer!r}")
    from headwidgets import Intervention

    heads = _heads_above(_reference_scores(hm, prompts)["previous_token"], threshold)
    want = _copy_answer(hm, prompts, Intervention.zero(sorted(heads)), rise)
    if answer != want:
        wrong(
            "run copy_losses with the previous-token heads zero-ablated and compare each copy "
            "with the clean losses"
        )
    return ok(
        f"in this model the answer is {want!r}. This shows that the induction heads need the "
        "previous-token heads, not yet how: Exercise 6 asks where."
    )


def check_sides(
    key_side: Any, query_side: Any, hm: Any, prompts: Sequence[str], threshold: float
) -> None:
    """Exercise 6: zero the previous-token heads only at the first copy's positions
    (``key_side``, 1..n; BOS may be included) or only at the second copy's (``query_side``,
    n+1..2n), and print the layer-1 induction scores under each."""
    if unanswered(key_side, query_side):
        return None
    scores = _reference_scores(hm, prompts)
    heads = _heads_above(scores["previous_token"], threshold)
    n = _period(hm, prompts[0])
    first = set(range(1, n + 1))
    second = set(range(n + 1, 2 * n + 1))
    for name, spec, allowed in (
        ("key_side", key_side, (first, first | {0})),
        ("query_side", query_side, (second,)),
    ):
        got = _zeroed(spec)
        if set(got) != heads:
            wrong(
                f"{name} zeroes {sorted(got)}; it should zero the previous-token heads "
                f"{sorted(heads)}"
            )
        for head, positions in got.items():
            if positions is None or set(positions) not in allowed:
                where = (
                    "1..n (the first copy)" if name == "key_side" else "n+1..2n (the second copy)"
                )
                wrong(
                    f"{name} edits head {head} at positions "
                    f"{'all' if positions is None else _span(positions)}; it should edit "
                    f"positions {where}, here {_span(sorted(allowed[0]))}. Remember: position 0 "
                    "is BOS"
                )
    layer1 = [int(layer) for layer, _ in _heads_above(scores["induction"], threshold)]
    rows = {
        "clean": scores["induction"],
        "key_side": _induction_under(hm, prompts, key_side),
        "query_side": _induction_under(hm, prompts, query_side),
    }
    summary = ", ".join(
        f"{name} {values[layer1].mean() if layer1 else values[-1].mean():.2f}"
        for name, values in rows.items()
    )
    return ok(f"mean induction score of the induction heads: {summary}.")


def _span(positions: Sequence[int]) -> str:
    values = sorted(positions)
    if values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return str(values)


def _side_answer(hm: Any, prompts: Sequence[str], threshold: float) -> str:
    from headwidgets import Intervention

    scores = _reference_scores(hm, prompts)
    heads = sorted(_heads_above(scores["previous_token"], threshold))
    induction = sorted(_heads_above(scores["induction"], threshold))
    n = _period(hm, prompts[0])
    keys = Intervention.zero(heads, positions=range(1, n + 1))
    queries = Intervention.zero(heads, positions=range(n + 1, 2 * n + 1))
    clean = np.mean([scores["induction"][head] for head in induction])
    drops = {
        side: clean - np.mean([_induction_under(hm, prompts, spec)[head] for head in induction])
        for side, spec in (("key", keys), ("query", queries))
    }
    return max(drops, key=lambda side: drops[side])


def check_side(answer: Any, hm: Any, prompts: Sequence[str], threshold: float) -> None:
    """Exercise 7: on which side does an induction head need the previous-token head:
    ``"key"`` (the first copy, the positions it attends to) or ``"query"`` (the second copy,
    the positions it attends from)?"""
    if unanswered(answer):
        return None
    if answer not in ("key", "query"):
        wrong(f"answer 'key' or 'query', not {answer!r}")
    want = _side_answer(hm, prompts, threshold)
    if answer != want:
        wrong("compare the induction scores that Exercise 6 printed for the two sides")
    return ok(
        f"the previous-token head matters on the {want} side. "
        + (
            "The induction head's keys carry the previous token, written there by the layer-0 "
            "head: K-composition."
            if want == "key"
            else "Its queries, not its keys, need the previous token."
        )
    )


def check_widget(explorer: Any, hm: Any, prompt: str, head: Head, induction_head: Head) -> None:
    """Exercise 8: in the Explorer, ``head`` (the previous-token head) turned to α = 0 and
    ``induction_head`` selected; prints the induction head's score on ``prompt`` before and
    after."""
    from headwidgets import Intervention

    spec = explorer.controls.intervention
    selected = {tuple(h) for h in explorer.controls.heads}
    # the controls keep an α = 1 edit for every selected head: those change nothing
    spec = Intervention(
        tuple(e for e in spec.edits if not (e.mode == "scale" and e.alpha == 1.0)),
        spec.attention,
    )
    if not spec.edits:
        print("✏️  not done yet: select the heads in the grid and move the slider of", head)
        return None
    zeroed = _zeroed(spec)
    if set(zeroed) != {head} or zeroed[head] is not None:
        wrong(f"set only head {head}'s α to 0 (all positions); the controls say {spec.to_json()}")
    if induction_head not in selected:
        wrong(f"select head {induction_head} too, to see its pattern in the attention view")
    before = _reference_scores(hm, [prompt])["induction"][induction_head]
    after = _induction_under(hm, [prompt], spec)[induction_head]
    verdict = (
        "the stripe n-1 below the diagonal is gone from its pattern"
        if after < 0.2 * before
        else "its stripe n-1 below the diagonal is still there: look again at both heads"
    )
    return ok(
        f"head {induction_head}'s induction score on this prompt: {before:.2f} -> {after:.2f}; "
        f"{verdict}."
    )
