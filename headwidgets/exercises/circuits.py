"""Checks and solutions for ``07_circuits.ipynb`` (path patching and steering).

Try the exercises before reading on: the solutions are at the bottom of this file.

Exercise 1 normalises a path-patching effect the way :func:`headwidgets.scores.path_patching`
does with ``normalize=True``: (m_patched − m_clean) / (m_corrupt − m_clean), the fraction of
the corruption's effect that travels along the path (the patched run starts from the CLEAN
prompt, so 0 = nothing changed, 1 = as bad as the corrupted run). Exercise 2 writes the
mean-difference steering vector of :func:`headwidgets.steering.steering_vectors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from headwidgets.exercises._check import call, ok, show, unanswered, wrong
from headwidgets.scores import path_patching
from headwidgets.steering import steering_vectors

__all__ = ["check_path_normalisation", "check_steering_vector", "show_solution"]

Head = tuple[int, int]
COUNT = 2  # exercises in the notebook


def _close(got: Any, want: float, tolerance: float = 1e-4) -> bool:
    try:
        return bool(np.isclose(float(got), want, rtol=tolerance, atol=tolerance))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# checks

# (m_patched, m_clean, m_corrupt): the usual mistakes give different numbers on each
_NUMBERS = ((2.0, 4.0, 1.0), (-0.5, 2.0, 0.5), (3.0, 3.5, -2.0))


def _normalisation_hint(got: float, patched: float, clean: float, corrupt: float) -> str:
    """Name the usual mistake that gives ``got``, if one does."""
    want = (patched - clean) / (corrupt - clean)
    swapped = (patched - corrupt) / (clean - corrupt)
    by_clean = (patched - clean) / clean
    mistakes = (
        (
            -want,
            "the sign is flipped: the effect is m_patched − m_clean (how far the path moves "
            "the clean run), over m_corrupt − m_clean",
        ),
        (
            swapped,
            "that is activation patching's normalisation (restoring the corrupted run); path "
            "patching starts from the clean run: (m_patched − m_clean) / (m_corrupt − m_clean)",
        ),
        (
            by_clean,
            "divide by the whole corruption effect, m_corrupt − m_clean, not by m_clean",
        ),
    )
    for value, hint in mistakes:
        if _close(got, value):
            return hint
    return (
        "0 when the patched run is as good as the clean run, 1 when it is as bad as the "
        "corrupted run"
    )


def check_path_normalisation(
    fn: Any,
    hm: Any,
    clean: str,
    corrupt: str,
    metric: Any,
    sender: Head,
    receiver: Head,
    input: str = "k",
) -> None:
    """Exercise 1: ``fn(m_patched, m_clean, m_corrupt)`` -> the path's share of the corruption
    effect; checked on numbers, then on the path ``sender`` → ``input`` of ``receiver`` of one
    prompt pair against ``path_patching(normalize=True)``."""

    if unanswered(fn):
        return None
    for patched, m_clean, m_corrupt in _NUMBERS:
        got = call(fn, patched, m_clean, m_corrupt)
        if got is None or unanswered(got):
            print("✏️  not answered yet: your function returns nothing; return one number")
            return None
        want = (patched - m_clean) / (m_corrupt - m_clean)
        if not _close(got, want):
            try:
                value = float(got)
            except (TypeError, ValueError):
                wrong(f"fn({patched}, {m_clean}, {m_corrupt}) should return one number")
            wrong(
                f"fn({patched}, {m_clean}, {m_corrupt}) = {value:.3f}, expected {want:.3f}. "
                f"Hint: {_normalisation_hint(value, patched, m_clean, m_corrupt)}"
            )
    layer, head = sender
    kwargs: dict[str, Any] = {
        "receivers": [receiver],
        "inputs": (input,),
        "senders": [sender],
        "progress": False,
    }
    raw = path_patching(hm, clean, corrupt, metric, **kwargs)
    m_clean, m_corrupt = float(raw.attrs["metric_clean"]), float(raw.attrs["metric_corrupt"])
    effect = float(raw.sel(layer=layer, head=head).squeeze())
    m_patched = m_clean + effect
    yours = float(call(fn, m_patched, m_clean, m_corrupt))
    library = float(
        path_patching(hm, clean, corrupt, metric, normalize=True, **kwargs)
        .sel(layer=layer, head=head)
        .squeeze()
    )
    if not _close(yours, library, 1e-3):
        wrong(f"on the path you get {yours:.3f}, hw.scores.path_patching {library:.3f}")
    path = f"{layer}.{head} → {input} of {receiver[0]}.{receiver[1]}"
    return ok(
        f"path {path}: clean {m_clean:+.2f}, corrupted {m_corrupt:+.2f}, patched "
        f"{m_patched:+.2f} -> {yours:.2f} of the corruption effect travels along it, as "
        "hw.scores.path_patching(normalize=True) says."
    )


def _vector(got: Any, width: int) -> np.ndarray:
    try:
        value = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=float)
    except (TypeError, ValueError):
        wrong(f"return {width} numbers (a list, an array or a tensor), one per z dimension")
    value = value.squeeze()
    if value.shape != (width,):
        wrong(
            f"return one vector of the head's width ({width} numbers), not shape "
            f"{tuple(value.shape)}: z at ONE position, averaged over the prompts"
        )
    return value


def _last_z(hm: Any, prompt: str, head: Head) -> np.ndarray:
    return hm.head_z(prompt)[head[0], -1, head[1]].numpy().astype(float)


def _vector_hint(got: np.ndarray, hm: Any, positive: Any, negative: Any, head: Head) -> str:
    pos = np.stack([_last_z(hm, p, head) for p in positive])
    neg = np.stack([_last_z(hm, p, head) for p in negative])
    mistakes = {
        "the difference is reversed: positive minus negative (adding it should move a "
        "negative prompt toward the positive ones)": neg.mean(0) - pos.mean(0),
        "you used one prompt of each set; average z over ALL the prompts of each set": pos[0]
        - neg[0],
        "sum over the prompts: take the MEAN of each set (the sets may differ in size)": pos.sum(0)
        - neg.sum(0),
    }
    for hint, value in mistakes.items():
        if np.allclose(got, value, rtol=1e-3, atol=1e-4):
            return hint
    return (
        "z of the head at the LAST position (hm.head_z(prompt)[layer, -1, head]), mean over "
        "the positive prompts minus mean over the negative prompts"
    )


def check_steering_vector(
    fn: Any, hm: Any, positive: Sequence[str], negative: Sequence[str], head: Head
) -> None:
    """Exercise 2: ``fn(hm, positive, negative, head)`` -> the mean-difference steering vector
    of ``head`` (z at the last position); compared with ``steering_vectors`` on the given sets
    and on sets of unequal size."""

    if unanswered(fn):
        return None
    width = int(hm.head_dim)
    # the notebook's sets, then subsets of different sizes (a sum differs from a mean there)
    for pos, neg in ((list(positive), list(negative)), (list(positive[:2]), list(negative[1:]))):
        got = call(fn, hm, pos, neg, head)
        if got is None or unanswered(got):
            print("✏️  not answered yet: your function returns nothing; return the vector")
            return None
        yours = _vector(got, width)
        want = np.asarray(steering_vectors(hm, pos, neg, heads=[head])[head], dtype=float)
        if not np.allclose(yours, want, rtol=1e-3, atol=1e-4):
            wrong(
                f"on {len(pos)} positive and {len(neg)} negative prompts your vector differs "
                f"from hw.steering.steering_vectors (largest gap "
                f"{float(np.abs(yours - want).max()):.3f}). Hint: "
                f"{_vector_hint(yours, hm, pos, neg, head)}"
            )
    final = np.asarray(steering_vectors(hm, positive, negative, heads=[head])[head])
    return ok(
        f"head {head[0]}.{head[1]}: a vector of {width} numbers, norm "
        f"{float(np.linalg.norm(final)):.2f}, the same as hw.steering.steering_vectors."
    )


def show_solution(number: int) -> None:
    """Print the solution of exercise ``number``."""
    show(globals(), number, COUNT)


# ---------------------------------------------------------------------------------------------
# solutions


def solution_1(m_patched: float, m_clean: float, m_corrupt: float) -> float:
    """Exercise 1: 0 = the path changes nothing, 1 = it carries the whole corruption effect."""
    return (m_patched - m_clean) / (m_corrupt - m_clean)


def solution_2(hm: Any, positive: Sequence[str], negative: Sequence[str], head: Head) -> Any:
    """Exercise 2: mean z at the last position over each set, positive minus negative."""
    import torch

    layer, index = head

    def mean_z(prompts: Sequence[str]) -> Any:
        return torch.stack([hm.head_z(p)[layer, -1, index] for p in prompts]).mean(dim=0)

    return mean_z(positive) - mean_z(negative)
