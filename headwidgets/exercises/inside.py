"""Checks and solutions for ``06_inside_attention.ipynb``.

Try the exercises before reading on: the solutions are at the bottom of this file.

The edits are those of :mod:`headwidgets.interventions.attention_edits`: they act on one
head's pattern A (query × key, each row a distribution over the keys that query may see:
k ≤ q in a causal model). The checks compare with what the engine itself computes, read
back from the model under ``with hm.intervene(...)``, never with a stored number.

A prompt of Exercise 2 is BOS + R + R (``hw.datasets.repeated_tokens``): positions 1..n hold
the first copy, n+1..2n the second; the second-copy loss is the mean next-token loss of
tokens n+2..2n (the first token of the copy cannot be predicted), as in notebook 02.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from headwidgets import Intervention
from headwidgets.exercises._check import call, ok, show, unanswered, wrong

__all__ = [
    "CHOICES",
    "check_sink_edit",
    "check_window",
    "second_copy_loss",
    "show_solution",
]

Head = tuple[int, int]
COUNT = 2  # exercises in the notebook
CHOICES = ("0.1", "induction", "both", "neither")
"""The answers of Exercise 2: where a streaming window breaks the second copy."""

# the β values every sink answer is also tried on: β = 0 leaves row 0 with no mass (it must
# stay as it was), β > 1 moves mass toward key 0 instead of away from it
EXTRA_BETAS = (0.0, 3.0)
TOLERANCE = 1e-5  # on pattern entries, float32 softmax in the engine


# ---------------------------------------------------------------------------------------------
# Exercise 1: the sink edit by hand


def _pattern(hm: Any, prompt: str, head: Head, spec: Any = None) -> np.ndarray:
    """(query, key) pattern of ``head`` on ``prompt``, read under ``spec`` when given."""
    import contextlib

    block = hm.intervene(spec) if spec is not None else contextlib.nullcontext()
    with block:
        cube = hm.capture(prompt, ["pattern"], heads=[head])["pattern"]
    return np.asarray(cube.sel(layer=head[0], head=head[1]).values, dtype=np.float64)


def _engine_sink(hm: Any, prompt: str, head: Head, beta: float) -> np.ndarray:

    return _pattern(hm, prompt, head, Intervention.sink({head: beta}))


def _sink_mistakes(A: np.ndarray, beta: float) -> dict[str, np.ndarray]:
    """Typical wrong answers for ``A`` and ``beta``, each with what it gets wrong."""
    scaled_first = A.copy()
    scaled_first[:, 0] *= beta
    return {
        "the rows are not renormalised: after scaling key 0, divide each row by its new sum "
        "so that it sums to 1 again": scaled_first,
        "every key is scaled by β: only the attention to key 0 (the first token) changes, "
        "then each row is renormalised": beta * A,
        "every key is scaled by β and the row renormalised, which gives A back: scale only "
        "key 0 (the first token), then renormalise": A,
    }


def check_sink_edit(fn: Any, hm: Any, prompt: str, head: Head, beta: float) -> None:
    """Exercise 1: ``fn(A, beta)`` -> the sink-edited pattern A′ of one head (query × key
    numpy arrays): A′[q, 0] = β·A[q, 0], the other keys unchanged, each row renormalised over
    the keys it may see; a row whose edited mass would be 0 stays as it was. Compared with the
    engine's pattern under ``Intervention.sink({head: beta})``, at ``beta`` and at β = 0 and 3.
    """
    if unanswered(fn):
        return None
    A = _pattern(hm, prompt, head)
    future = np.triu(np.ones(A.shape, dtype=bool), k=1)  # keys k > q: masked
    for b in (float(beta), *(x for x in EXTRA_BETAS if x != beta)):
        result = call(fn, A.copy(), b)
        if result is None or unanswered(result):
            print("✏️  your function returns nothing yet: return the edited pattern A′")
            return None
        try:
            got = np.asarray(result, dtype=np.float64)
        except (TypeError, ValueError):
            wrong("return an array of the shape of A (query × key)")
        if got.shape != A.shape:
            wrong(f"the result has shape {got.shape}; expected A's shape {A.shape}")
        want = _engine_sink(hm, prompt, head, b)
        if np.allclose(got, want, atol=TOLERANCE, rtol=0):
            continue
        if np.isnan(got).any():
            rows = sorted({int(q) for q in np.nonzero(np.isnan(got))[0]})
            wrong(
                f"at β = {b:g} rows {rows} hold NaN. Hint: a row whose edited mass is 0 (β = 0 "
                "and a query that sees only key 0) stays as it was; don't divide by 0"
            )
        if np.abs(got[future]).max() > TOLERANCE:
            wrong(
                f"at β = {b:g} your rows put weight on masked keys k > q (the future, which a "
                "query never sees). Hint: renormalise over the visible keys only, by dividing "
                "each row by its sum (a softmax, a uniform fill or a smoothing term gives the "
                "masked keys weight too)"
            )
        known = [
            why
            for why, mistake in _sink_mistakes(A, b).items()
            if np.allclose(got, mistake, atol=TOLERANCE, rtol=0)
        ]
        if known:
            wrong(f"at β = {b:g}: {known[0]}")
        off = np.abs(got - want)
        q, k = (int(i) for i in np.unravel_index(int(np.argmax(off)), off.shape))
        wrong(
            f"at β = {b:g}, A′[{q}, {k}] = {got[q, k]:.4f} but the engine reads {want[q, k]:.4f}. "
            "Hint: scale column 0 by β, divide each row by its new sum, keep a row whose sum "
            "would be 0 as it was"
        )
    edited = _engine_sink(hm, prompt, head, float(beta))
    rest = slice(1, None)  # query 0 sees only key 0
    return ok(
        f"your A′ is the engine's at β = {beta:g} (and at β = 0 and 3). Head {head[0]}.{head[1]}'s "
        f"mean attention to the first token, queries 1..: {A[rest, 0].mean():.3f} -> "
        f"{edited[rest, 0].mean():.3f}; the other keys share the rest in their old proportions."
    )


# ---------------------------------------------------------------------------------------------
# Exercise 2: predict, then measure


def second_copy_loss(hm: Any, prompts: Sequence[str], intervention: Any = None) -> float:
    """Mean next-token loss over the second copy of BOS + R + R prompts (tokens n+2..2n),
    one batched forward under ``intervention``."""
    return _copy_loss(hm, prompts, intervention, second=True)


def _copy_loss(hm: Any, prompts: Sequence[str], intervention: Any, second: bool) -> float:
    out = hm.run(list(prompts), intervention=intervention)
    ids = out.input_ids.cpu()
    n = (ids.shape[1] - 1) // 2
    if ids.shape[1] != 2 * n + 1 or not bool((ids[:, 1 : n + 1] == ids[:, n + 1 :]).all()):
        raise ValueError("the prompts are not BOS + R + R of one length")
    logp = out.logits.float().log_softmax(-1)
    nll = -logp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
    return float(nll[:, n + 1 :].mean() if second else nll[:, 1:n].mean())


def _loss(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        wrong(f"{name} should be one number, the second-copy loss in nats")


def check_window(
    prediction: Any,
    on_previous: Any,
    on_induction: Any,
    hm: Any,
    prompts: Sequence[str],
    previous_head: Head,
    induction_heads: Sequence[Head],
    width: int = 4,
    sinks: int = 1,
    rise: float = 1.0,
) -> None:
    """Exercise 2: ``prediction`` (one of :data:`CHOICES`): does a streaming window (``width``
    keys, ``sinks`` sink) on ``previous_head`` ("0.1"), on the induction heads ("induction"),
    on both or on neither break the second copy (raise its loss by more than ``rise`` nats)?
    ``on_previous`` and ``on_induction``: the second-copy losses measured under each edit."""

    if unanswered(prediction, on_previous, on_induction):
        return None
    if prediction not in CHOICES:
        wrong(f"predict one of {CHOICES}, not {prediction!r}")
    specs = {
        "on_previous": Intervention.window({previous_head: width}, sinks=sinks),
        "on_induction": Intervention.window(dict.fromkeys(induction_heads, width), sinks=sinks),
    }
    no_sink = {
        "on_previous": Intervention.window({previous_head: width}, sinks=0),
        "on_induction": Intervention.window(dict.fromkeys(induction_heads, width), sinks=0),
    }
    clean = second_copy_loss(hm, prompts)
    want = {name: second_copy_loss(hm, prompts, spec) for name, spec in specs.items()}
    for name, value in (("on_previous", on_previous), ("on_induction", on_induction)):
        got = _loss(value, name)
        if _close(got, want[name]):
            continue
        hint = _loss_hint(got, name, hm, prompts, clean, want, specs[name], no_sink[name])
        hint = hint or (
            f"hw.Intervention.window({{head: {width}}}, sinks={sinks}) on the head(s), "
            "then the mean loss of tokens n+2..2n"
        )
        wrong(f"{name} = {got:.3f} nats, the engine measures {want[name]:.3f}. Hint: {hint}")
    broken = (want["on_previous"] - clean > rise, want["on_induction"] - clean > rise)
    truth = {(True, False): "0.1", (False, True): "induction", (True, True): "both"}.get(
        broken, "neither"
    )
    if prediction != truth:
        wrong(
            f"your measurement says otherwise: clean {clean:.3f}, window on "
            f"{previous_head[0]}.{previous_head[1]} {want['on_previous']:.3f}, on the induction "
            f"heads {want['on_induction']:.3f} nats (broken = more than {rise:g} nats above "
            "clean). How far back does each head need to look?"
        )
    return ok(
        f"predicted {prediction!r} and measured it: clean {clean:.3f}, window on "
        f"{previous_head[0]}.{previous_head[1]} {want['on_previous']:.3f}, on the induction heads "
        f"{want['on_induction']:.3f} nats. The previous-token head reads 1 key back, inside any "
        f"window of width ≥ 2; an induction head reads n - 1 keys back, outside a window of "
        f"{width}."
    )


def _loss_hint(
    got: float,
    name: str,
    hm: Any,
    prompts: Sequence[str],
    clean: float,
    want: dict[str, float],
    spec: Any,
    without_sink: Any,
) -> str | None:
    """What a wrong loss ``got`` for ``name`` most likely is, or None."""
    other = "on_induction" if name == "on_previous" else "on_previous"
    where = "the previous-token head" if name == "on_previous" else "the induction heads"
    mistakes: dict[str, Callable[[], float]] = {
        "the clean loss: run the forward inside `with hm.intervene(spec)` (or pass the spec "
        "to the loss function)": lambda: clean,
        f"the loss of the other edit: {name} puts the window on {where}": lambda: want[other],
        "a window without its sink: keep the first key visible (the sinks= argument)": (
            lambda: second_copy_loss(hm, prompts, without_sink)
        ),
        "the FIRST copy's loss: the second copy is tokens n+2..2n": (
            lambda: _copy_loss(hm, prompts, spec, second=False)
        ),
    }
    return next((why for why, value_of in mistakes.items() if _close(got, value_of())), None)


def _close(got: float, want: float) -> bool:
    return bool(np.isclose(got, want, rtol=1e-3, atol=1e-3))


def show_solution(number: int) -> None:
    """Print the solution of exercise ``number``."""
    show(globals(), number, COUNT)


# ---------------------------------------------------------------------------------------------
# solutions


def solution_1(A: np.ndarray, beta: float) -> np.ndarray:
    """Exercise 1: scale key 0, renormalise each row; a row left with no mass stays as it was.
    Masked keys hold 0 in A, so a row's sum is its sum over the visible keys."""
    edited = np.array(A, dtype=np.float64)
    edited[:, 0] *= beta
    mass = edited.sum(axis=-1, keepdims=True)
    return np.where(mass > 0, edited / np.where(mass > 0, mass, 1.0), A)


def solution_2(
    second_copy_loss: Callable[[Any], float],
    previous_head: Head,
    induction_heads: Sequence[Head],
) -> tuple[str, float, float]:
    """Exercise 2: predict from how far back each head looks, then measure both windows."""
    import headwidgets as hw

    # the previous-token head reads key q - 1, inside a window of 4; an induction head reads
    # key q - n + 1, n - 1 keys back (19 here), outside it
    prediction = "induction"
    on_previous = second_copy_loss(hw.Intervention.window({previous_head: 4}, sinks=1))
    on_induction = second_copy_loss(
        hw.Intervention.window(dict.fromkeys(induction_heads, 4), sinks=1)
    )
    return prediction, on_previous, on_induction
