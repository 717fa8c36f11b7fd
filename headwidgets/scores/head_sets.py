"""Head-set search: the smallest head set that keeps a behaviour, against random sets.

The fraction of the metric a head set S keeps (METHODS.md, "Circuits", head-set search):

``f(S) = (m(S kept, every other head ablated) − m(all ablated)) / (m(clean) − m(all ablated))``

so f = 1 is the whole model and f = 0 no head at all (for a loss the same formula holds:
higher f is closer to the clean model). The metric is averaged over the prompts first.

- **forward**: start from the empty set; at each step add the head whose keeping gives the
  largest f; stop when f ≥ ``target``.
- **backward**: start from every head; at each step remove the head whose removal keeps the
  largest f, as long as f stays ≥ ``target``.

At every step, ``n_random`` (≥ 16) seeded random sets of the same size are scored the same
way (their mean, standard deviation, min and max are in the cube). Every step is one
batched pass per prompt: the candidate sets and the random sets are rows of one forward.

Example
-------
>>> import json
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> m = hw.Metric("logit_diff", target=" kib", distractor=" lot")
>>> text = "lot dom buv ki kib lot dom buv ki"
>>> cube = hw.scores.head_set_search(hm, text, m, "backward", target=0.8)
>>> cube.dims, bool(cube.values[-1] >= 0.8), [0, 1] in json.loads(cube.attrs["chosen"])
(('step',), True, True)
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from headwidgets.scores import _run

if TYPE_CHECKING:
    import xarray as xr

    from headwidgets.interventions import Intervention

__all__ = ["Direction", "head_set_search"]

Direction = Literal["forward", "backward"]
Head = tuple[int, int]


def head_set_search(
    hm: Any,
    prompt: str | Sequence[str],
    metric: Any,
    direction: Direction = "forward",
    target: float = 0.9,
    mode: Literal["zero", "mean"] = "zero",
    reference: Sequence[str] | None = None,
    n_random: int = 16,
    seed: int = 0,
    max_steps: int | None = None,
) -> xr.DataArray:
    """Greedy forward or backward search for a head set keeping ``target`` of the metric.

    Parameters
    ----------
    hm
        The bound model.
    prompt
        A prompt or a list of prompts (the metric is averaged over them).
    metric
        A :class:`~headwidgets.metrics.Metric` (or a kind name), or one per prompt.
    direction
        ``"forward"`` (add heads) or ``"backward"`` (remove heads).
    target
        The fraction f of the metric to reach (forward) or keep (backward), in (0, 1].
    mode
        How heads outside the set are ablated: ``"zero"`` or ``"mean"`` (over ``reference``).
    n_random
        Random sets of the same size scored at every step (at least 16), drawn with ``seed``.
    max_steps
        Stop after this many steps (default: as many as there are heads).

    Returns
    -------
    xarray.DataArray
        Dims ``("step",)``: f of the set after each step (step 0: the empty set, or every
        head). Coords along ``step``: ``changed`` (the head added or removed, ``"L.H"``),
        ``size``, ``random_mean``, ``random_std``, ``random_min``, ``random_max``. Attrs:
        ``chosen`` (the final set, [[layer, head], ...]), ``reached`` (whether f ≥ target),
        ``direction``, ``target``, ``metric_clean``, ``metric_none`` (every head ablated).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> m = hw.Metric("logit_diff", target=" kib", distractor=" lot")
    >>> cube = head_set_search(hm, "lot dom buv ki kib lot dom buv ki", m, max_steps=1)
    >>> cube["size"].values.tolist(), cube.attrs["direction"]
    ([0, 1], 'forward')
    """
    hm.require_lm_head("head_set_search")
    from headwidgets.cubes import make_cube
    from headwidgets.metrics import as_metric

    if direction not in ("forward", "backward"):
        raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
    if not 0.0 < float(target) <= 1.0:
        raise ValueError(f"target must be a fraction in (0, 1], got {target!r}")
    if isinstance(n_random, bool) or not isinstance(n_random, int) or n_random < 16:
        raise ValueError(
            f"n_random must be an int >= 16 (size-matched random sets), got {n_random}"
        )
    if mode not in ("zero", "mean"):
        raise ValueError(f"mode must be 'zero' or 'mean', got {mode!r}")
    if mode == "mean" and not reference:
        raise ValueError("mode 'mean' needs reference=[prompt, ...] (the prompts to average)")
    prompts, _ = _run.as_prompt_list(prompt)
    if not all(isinstance(p, str) for p in prompts):
        raise TypeError("head_set_search takes prompts as text (the engine tokenizes them)")
    metrics = [as_metric(m) for m in _run.per_prompt(metric, len(prompts), "metric")]
    every = _run.head_list(hm, None)
    scorer = _Scorer(hm, prompts, metrics, every, mode, reference)
    rng = random.Random(seed)
    forward = direction == "forward"
    current: list[Head] = [] if forward else list(every)
    steps = max_steps if max_steps is not None else len(every)
    rows: list[tuple[float, str, int, np.ndarray]] = []
    first = scorer.fractions([current], rng, n_random)
    rows.append((first[0][0], "", len(current), first[1]))
    while len(rows) <= steps:
        value = rows[-1][0]
        if forward and value >= target:
            break
        pool = [h for h in every if h not in current] if forward else list(current)
        if not pool:
            break
        sets = [[*current, h] if forward else [g for g in current if g != h] for h in pool]
        values, randoms = scorer.fractions(sets, rng, n_random)
        best = int(np.argmax(values))
        if not forward and values[best] < target:
            break
        head = pool[best]
        current = sets[best]
        rows.append((float(values[best]), f"{head[0]}.{head[1]}", len(current), randoms))
    fractions = np.asarray([r[0] for r in rows], dtype=np.float32)
    randoms = np.stack([r[3] for r in rows])
    coords: dict[str, Any] = {
        "step": np.arange(len(rows)),
        "changed": ("step", np.asarray([r[1] for r in rows], dtype=str)),
        "size": ("step", np.asarray([r[2] for r in rows])),
        "random_mean": ("step", randoms.mean(axis=1)),
        "random_std": ("step", randoms.std(axis=1)),
        "random_min": ("step", randoms.min(axis=1)),
        "random_max": ("step", randoms.max(axis=1)),
    }
    attrs = _run.score_attrs(
        hm,
        f"greedy {direction} head-set search: f(S) = (m(S kept, others {mode}-ablated) - "
        "m(all ablated)) / (m(clean) - m(all ablated)); random sets of the same size at "
        "every step",
        "fraction of the metric the head set keeps",
        "fraction",
        metric=metrics[0].describe(),
        prompts=prompt,
        extra={
            "chosen": json.dumps([list(h) for h in sorted(current)]),
            "reached": int(bool(fractions[-1] >= target)),
            "direction": direction,
            "target": float(target),
            "metric_clean": scorer.m_clean,
            "metric_none": scorer.m_none,
        },
        mode=mode,
        n_random=n_random,
        seed=seed,
    )
    return make_cube(fractions, ("step",), coords, "head_set_search", attrs)


class _Scorer:
    """f of head sets on every prompt: one batched pass per prompt and call."""

    def __init__(
        self,
        hm: Any,
        prompts: Sequence[Any],
        metrics: Sequence[Any],
        every: list[Head],
        mode: str,
        reference: Sequence[str] | None,
    ) -> None:
        self.hm, self.prompts, self.metrics, self.every = hm, prompts, metrics, every
        self.mode, self.reference = mode, reference
        none, self.m_clean = self._metric([[]])
        self.m_none = float(none[0])
        self.gap = self.m_clean - self.m_none
        if abs(self.gap) < 1e-6:
            raise ValueError(
                f"ablating every head leaves the metric where it was ({self.m_clean:.4g}); "
                "the fraction of the metric a head set keeps is undefined"
            )

    def _spec(self, kept: Sequence[Head]) -> Intervention:
        from headwidgets.interventions import Intervention

        keep = set(kept)
        others = [h for h in self.every if h not in keep]
        if self.mode == "mean":
            return Intervention.mean(others, self.reference or ())
        return Intervention.zero(others)

    def _metric(self, sets: Sequence[Sequence[Head]]) -> tuple[np.ndarray, float]:
        """(mean metric of each set over the prompts, mean clean metric)."""
        specs = [self._spec(s) for s in sets]
        total = np.zeros(len(sets))
        clean = 0.0
        for text, m in zip(self.prompts, self.metrics, strict=True):
            values, base = self.hm.sweep_values(text, m, specs)
            total += values.double().numpy()
            clean += float(base)
        return total / len(self.prompts), clean / len(self.prompts)

    def fractions(
        self, sets: Sequence[Sequence[Head]], rng: random.Random, n_random: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(f of each set, f of n_random random sets as large as the first set)."""
        size = len(sets[0])
        randoms = [rng.sample(self.every, size) for _ in range(n_random)]
        values, _ = self._metric([*sets, *randoms])
        f = (values - self.m_none) / self.gap
        return f[: len(sets)], f[len(sets) :]
