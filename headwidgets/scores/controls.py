"""Random-head controls: is ablating the top-k heads of a score special, or would any k do?

Example
-------
>>> import headwidgets as hw
>>> hw.random_heads(3, seed=0, n_layers=2, n_heads=4)
[(1, 0), (1, 1), (1, 3)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from headwidgets.scores import _run
from headwidgets.scores.causal import ABLATION_MODES, AblationMode

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from headwidgets.interventions import Intervention

__all__ = ["TopKControl", "random_heads", "topk_vs_random"]

Head = tuple[int, int]


def random_heads(
    k: int,
    seed: int = 0,
    n_layers: int | None = None,
    n_heads: int | None = None,
    hm: Any = None,
) -> list[Head]:
    """``k`` distinct heads drawn uniformly (seeded), sorted by (layer, head).

    Give the model's shape as ``n_layers``/``n_heads`` or through ``hm``.

    Example
    -------
    >>> random_heads(2, seed=1, n_layers=12, n_heads=12)
    [(5, 7), (6, 1)]
    """
    if hm is not None:
        n_layers = int(hm.n_layers) if n_layers is None else n_layers
        n_heads = int(hm.n_heads) if n_heads is None else n_heads
    if n_layers is None or n_heads is None:
        raise ValueError("random_heads needs the model's shape: n_layers and n_heads, or hm=")
    total = n_layers * n_heads
    if not 0 <= k <= total:
        raise ValueError(f"k must be in 0..{total} (the number of heads), got {k}")
    rng = np.random.default_rng(seed)
    picks = rng.choice(total, size=k, replace=False)
    return sorted((int(i) // n_heads, int(i) % n_heads) for i in picks)


@dataclass(frozen=True)
class TopKControl:
    """Effect of ablating the top-k heads next to size-matched random sets.

    Effects are ``metric(ablated) − metric(clean)``, averaged over prompts.
    """

    k: int
    metric: str
    top_heads: list[Head]
    top_effect: float
    random_sets: list[list[Head]]
    random_effects: list[float]

    @property
    def random_mean(self) -> float:
        return float(np.mean(self.random_effects))

    @property
    def random_std(self) -> float:
        return float(np.std(self.random_effects, ddof=1)) if len(self.random_effects) > 1 else 0.0

    @property
    def z(self) -> float:
        """(top − random mean) / random std (inf when the random sets all agree)."""
        std = self.random_std
        diff = self.top_effect - self.random_mean
        return diff / std if std > 0 else float(np.sign(diff) * np.inf) if diff else 0.0

    def to_frame(self) -> pd.DataFrame:
        """One row per head set: ``set`` (top/random), ``seed``, ``heads``, ``effect``."""
        import pandas as pd

        rows = [("top", -1, self.top_heads, self.top_effect)]
        rows += [
            ("random", seed, heads, effect)
            for seed, (heads, effect) in enumerate(
                zip(self.random_sets, self.random_effects, strict=True)
            )
        ]
        return pd.DataFrame(rows, columns=["set", "seed", "heads", "effect"])

    def __str__(self) -> str:
        return (
            f"top-{self.k} ablation: {self.top_effect:+.4g}; random {self.k}: "
            f"{self.random_mean:+.4g} ± {self.random_std:.3g} (n={len(self.random_effects)}) "
            f"on {self.metric}"
        )


def _ablate(
    heads: Sequence[Head], mode: str, alpha: float, reference: Any, source: Any
) -> Intervention:
    from headwidgets.interventions import Intervention

    if mode == "zero":
        return Intervention.zero(heads)
    if mode == "scale":
        return Intervention.scale(dict.fromkeys(heads, alpha))
    if mode == "mean":
        if not reference:
            raise ValueError("mode 'mean' needs reference=[prompt, ...]")
        return Intervention.mean(heads, reference)
    if mode == "resample":
        if not isinstance(source, str):
            raise ValueError("mode 'resample' needs source=<prompt>")
        return Intervention.resample(heads, source)
    raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(ABLATION_MODES)}")


def topk_vs_random(
    hm: Any,
    prompt: str | Sequence[str],
    metric: Any,
    score_cube: xr.DataArray,
    k: int,
    n_seeds: int = 10,
    mode: AblationMode = "zero",
    *,
    alpha: float = 0.0,
    reference: Sequence[str] | None = None,
    source: str | Sequence[str] | None = None,
    largest: bool = True,
    abs: bool = False,
    seed: int = 0,
) -> TopKControl:
    """Ablate the top-k heads of ``score_cube`` and ``n_seeds`` random k-sets in ONE batched
    pass per prompt; report the effects.

    Random sets use seeds ``seed .. seed + n_seeds - 1`` (:func:`random_heads`) and are drawn
    from all heads.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> prompts = hw.datasets.repeated_tokens(hm, n=2)
    >>> loss = hw.Metric("loss", start=21)        # the second copy of BOS + R + R, len(R) = 20
    >>> score = hw.scores.induction(hm, prompts, reduce="mean")
    >>> res = topk_vs_random(hm, prompts, loss, score, k=2)
    >>> len(res.random_effects), res.to_frame().columns.tolist()
    (10, ['set', 'seed', 'heads', 'effect'])
    """
    from headwidgets.cubes import top_heads
    from headwidgets.metrics import as_metric

    table = top_heads(score_cube, k, largest=largest, abs=abs)
    if len(table) < k:
        raise ValueError(f"the score cube has only {len(table)} non-NaN heads; k={k}")
    top = sorted(zip(table["layer"].tolist(), table["head"].tolist(), strict=True))
    randoms = [random_heads(k, seed + i, hm=hm) for i in range(n_seeds)]
    prompts, _ = _run.as_prompt_list(prompt)
    metrics = [as_metric(m) for m in _run.per_prompt(metric, len(prompts), "metric")]
    sources = _run.per_prompt(source, len(prompts), "source")
    effects = []
    for text, m, src in zip(prompts, metrics, sources, strict=True):
        specs = [_ablate(s, mode, alpha, reference, src) for s in [top, *randoms]]
        values, clean = hm.sweep_values(text, m, specs)
        effects.append((values - clean).float().numpy())
    mean = np.mean(effects, axis=0)
    return TopKControl(
        k=k,
        metric=metrics[0].describe() if len(set(map(str, metrics))) == 1 else "per-prompt metrics",
        top_heads=top,
        top_effect=float(mean[0]),
        random_sets=randoms,
        random_effects=[float(x) for x in mean[1:]],
    )
