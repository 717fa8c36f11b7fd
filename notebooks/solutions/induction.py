"""Checks and solutions for ``02_induction_heads.ipynb``.

Try the exercises before reading on: the solutions are at the bottom of this file.

A prompt here is BOS + R + R: a sequence R of ``n`` random tokens, repeated once. Positions:
0 is BOS, 1..n the first copy, n+1..2n the second copy. ``nll[t]`` is the loss of predicting
token t+1 from position t.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_ablation",
    "check_choice",
    "check_heads",
    "check_induction_score",
    "check_loss_halves",
    "show_solution",
]

_TODO = "✏️  not answered yet: replace the ... with your answer and run the cell again"


def _unanswered(*values: Any) -> bool:
    if any(v is Ellipsis for v in values):
        print(_TODO)
        return True
    return False


def _ok(message: str) -> None:
    print(f"✅ correct! {message}")


def _wrong(message: str) -> None:
    raise AssertionError(f"❌ not quite: {message}")


# ---------------------------------------------------------------------------------------------
# references, computed from the model's own outputs (independent of hw.scores)


def _period(hm: Any, prompt: str) -> int:
    ids = hm.tokenize(prompt).input_ids[0].tolist()
    n = (len(ids) - 1) // 2
    if len(ids) != 2 * n + 1 or ids[1 : n + 1] != ids[n + 1 :]:
        raise ValueError("the prompt is not BOS + R + R")
    return n


def _nll(hm: Any, prompt: str, intervention: Any = None) -> np.ndarray:
    out = hm.run(prompt, intervention=intervention)
    logp = out.logits[0].log_softmax(-1)
    ids = out.input_ids[0].cpu()
    return (-logp[:-1].gather(-1, ids[1:, None])[:, 0]).numpy()


def copy_losses(hm: Any, prompts: Sequence[str], intervention: Any = None) -> tuple[float, float]:
    """Mean loss on the first copy (tokens 2..n) and on the second copy (tokens n+1..2n)."""
    first, second = [], []
    for prompt in prompts:
        n = _period(hm, prompt)
        nll = _nll(hm, prompt, intervention)
        first.append(nll[1:n].mean())
        second.append(nll[n:].mean())
    return float(np.mean(first)), float(np.mean(second))


def _patterns(hm: Any, prompt: str) -> np.ndarray:
    """(layer, head, query, key) attention of one prompt."""
    return hm.run(prompt, patterns=True).patterns[0].numpy()


def _reference_scores(hm: Any, prompts: Sequence[str]) -> dict[str, np.ndarray]:
    prev, ind = [], []
    for prompt in prompts:
        n = _period(hm, prompt)
        A = _patterns(hm, prompt)
        q = np.arange(1, A.shape[-1])
        prev.append(A[:, :, q, q - 1].mean(-1))
        q2 = np.arange(n + 1, 2 * n + 1)
        ind.append(A[:, :, q2, q2 - n + 1].mean(-1))
    return {"previous_token": np.mean(prev, 0), "induction": np.mean(ind, 0)}


def _heads_above(values: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    layers, heads = np.nonzero(values > threshold)
    return {(int(layer), int(head)) for layer, head in zip(layers, heads, strict=True)}


def _as_heads(answer: Any) -> set[tuple[int, int]]:
    try:
        heads = {(int(layer), int(head)) for layer, head in answer}
    except (TypeError, ValueError):
        _wrong("give a list of (layer, head) pairs, e.g. [(0, 1), (1, 3)]")
        raise
    return heads


# ---------------------------------------------------------------------------------------------
# checks


def check_loss_halves(hm: Any, prompts: Sequence[str], first_loss: Any, second_loss: Any) -> None:
    """Exercise 1: the mean loss on the first and on the second copy."""
    if _unanswered(first_loss, second_loss):
        return None
    first, second = copy_losses(hm, prompts)
    for name, got, want in (
        ("first_loss", first_loss, first),
        ("second_loss", second_loss, second),
    ):
        if not math.isclose(float(got), want, rel_tol=0.01, abs_tol=0.01):
            hint = (
                "the first copy is predicted from positions 1..n-1 (nll[1:n]), the second from "
                "positions n..2n-1 (nll[n:]); average over all prompts"
            )
            _wrong(f"{name} = {float(got):.3f}, expected about {want:.3f}. Hint: {hint}")
    return _ok(
        f"first copy {first:.2f} nats, second copy {second:.2f} nats: "
        f"the model predicts the repeat {first - second:.2f} nats better."
    )


def check_heads(kind: str, answer: Any, hm: Any, prompts: Sequence[str], threshold: float) -> None:
    """Exercise 2: the heads whose ``kind`` score (previous_token, induction) > threshold."""
    if _unanswered(answer):
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
        _wrong(
            f"{'; '.join(p for p in parts if p)}. Hint: read the {kind} cube, e.g. "
            f"cubes[{kind!r}].to_pandas(), or hw.top_heads(cubes[{kind!r}], 5)"
        )
    if not want:
        return _ok(f"in this model no head's {kind} score is above {threshold}.")
    layers = sorted({layer for layer, _ in want})
    return _ok(f"{kind} heads {sorted(want)} (layer{'s' if len(layers) > 1 else ''} {layers}).")


def check_induction_score(fn: Any, hm: Any, prompt: str) -> None:
    """Exercise 3: ``fn(pattern, n)`` -> (layer, head) induction scores of one prompt."""
    if _unanswered(fn):
        return None
    if not callable(fn):
        _wrong("my_induction_score must be a function of (pattern, n)")
    n = _period(hm, prompt)
    pattern = _patterns(hm, prompt)
    result = fn(pattern, n)
    if _unanswered(result if result is not None else Ellipsis):
        return None
    got = np.asarray(result, dtype=float)
    want = _reference_scores(hm, [prompt])["induction"]
    if got.shape != want.shape:
        _wrong(f"the result has shape {got.shape}; expected (layer, head) = {want.shape}")
    if not np.allclose(got, want, atol=1e-4):
        hint = (
            "for each query q in the second copy (q = n+1 .. 2n) take A[q, q-n+1], the token "
            "right AFTER the earlier occurrence of the current token, then average over q"
        )
        _wrong(f"the values differ (max error {np.abs(got - want).max():.3f}). Hint: {hint}")
    return _ok("your score matches the definition (METHODS.md, 'induction').")


def _zeroed(spec: Any) -> set[tuple[int, int]]:
    out = set()
    for edit in spec.edits:
        if edit.mode == "zero" or (edit.mode == "scale" and edit.alpha == 0.0):
            if edit.positions is None:
                out.add((int(edit.layer), int(edit.head)))
    return out


def check_ablation(spec: Any, hm: Any, prompts: Sequence[str], threshold: float) -> None:
    """Exercise 4: an Intervention that zero-ablates exactly the induction heads."""
    if _unanswered(spec):
        return None
    if not hasattr(spec, "edits"):
        _wrong("build an Intervention, e.g. hw.Intervention.zero([(layer, head), ...])")
    want = _heads_above(_reference_scores(hm, prompts)["induction"], threshold)
    got = _zeroed(spec)
    if got != want or len(spec.edits) != len(want):
        _wrong(
            f"the intervention removes {sorted(got)} (and edits {len(spec.edits)} heads); "
            f"it should zero-ablate the induction heads, all positions"
        )
    base = copy_losses(hm, prompts)
    ablated = copy_losses(hm, prompts, spec)
    return _ok(
        f"first copy {base[0]:.2f} -> {ablated[0]:.2f} nats, "
        f"second copy {base[1]:.2f} -> {ablated[1]:.2f} nats."
    )


def _copy_answer(hm: Any, prompts: Sequence[str], spec: Any, rise: float) -> str:
    base = copy_losses(hm, prompts)
    ablated = copy_losses(hm, prompts, spec)
    up = [ablated[i] - base[i] > rise for i in (0, 1)]
    return {(False, False): "neither", (True, False): "first", (False, True): "second"}.get(
        (up[0], up[1]), "both"
    )


def check_choice(
    answer: Any, hm: Any, prompts: Sequence[str], threshold: float, rise: float = 0.5
) -> None:
    """Exercise 5: whose loss rises by more than ``rise`` nats when the previous-token heads
    are ablated: 'first', 'second', 'both' or 'neither'."""
    if _unanswered(answer):
        return None
    choices = ("first", "second", "both", "neither")
    if answer not in choices:
        _wrong(f"answer one of {choices}, not {answer!r}")
    heads = _heads_above(_reference_scores(hm, prompts)["previous_token"], threshold)
    from headwidgets import Intervention

    want = _copy_answer(hm, prompts, Intervention.zero(sorted(heads)), rise)
    if answer != want:
        _wrong(
            "run copy_losses with the previous-token heads zero-ablated and compare each copy "
            "with the clean losses"
        )
    if want == "second":
        return _ok(
            "without previous-token heads the induction heads cannot find 'the token after "
            "the earlier copy': their keys need the previous token's identity (K-composition)."
        )
    return _ok(f"in this model the answer is {want!r}.")


# ---------------------------------------------------------------------------------------------
# solutions


def solution_1(hm: Any, prompts: Sequence[str]) -> tuple[float, float]:
    """Exercise 1: loss per position with log_softmax, then average each copy."""
    first, second = [], []
    for prompt in prompts:
        out = hm.run(prompt)
        logp = out.logits[0].log_softmax(-1)
        ids = out.input_ids[0].cpu()
        nll = -logp[:-1].gather(-1, ids[1:, None])[:, 0]  # nll[t] predicts token t+1
        n = (len(ids) - 1) // 2
        first.append(float(nll[1:n].mean()))
        second.append(float(nll[n:].mean()))
    return float(np.mean(first)), float(np.mean(second))


def solution_2(cubes: dict[str, Any], threshold: float) -> tuple[list, list]:
    """Exercise 2: read the heads above the threshold off the score cubes."""

    def above(cube: Any) -> list[tuple[int, int]]:
        table = cube.to_series()
        return [(int(layer), int(head)) for (layer, head), v in table.items() if v > threshold]

    return above(cubes["previous_token"]), above(cubes["induction"])


def solution_3(pattern: np.ndarray, n: int) -> np.ndarray:
    """Exercise 3: A[q, q-n+1] for the queries of the second copy, averaged."""
    q = np.arange(n + 1, 2 * n + 1)
    return pattern[:, :, q, q - n + 1].mean(-1)


def solution_4(induction_heads: Sequence[tuple[int, int]]) -> Any:
    """Exercise 4: zero-ablate the induction heads."""
    import headwidgets as hw

    return hw.Intervention.zero(induction_heads)


def solution_5(copy_losses: Callable[..., tuple[float, float]], previous_token_heads: Any) -> str:
    """Exercise 5: measure, then read off which copy got worse."""
    import headwidgets as hw

    base = copy_losses()
    ablated = copy_losses(hw.Intervention.zero(previous_token_heads))
    up = [ablated[i] - base[i] > 0.5 for i in (0, 1)]
    return {(False, False): "neither", (True, False): "first", (False, True): "second"}.get(
        (up[0], up[1]), "both"
    )


def show_solution(number: int) -> None:
    """Print the solution of exercise ``number``."""
    fn = globals().get(f"solution_{number}")
    if fn is None:
        raise ValueError(f"there is no exercise {number}; exercises are 1..5")
    print(inspect.getsource(fn))
