"""Causal scores: ablation sweeps, activation patching and metric-vs-scale curves.

All variants of one prompt run as ONE batched forward pass (``hm.sweep_values``: row 0 is the
unedited run, the other rows carry one edit each), chunked by the engine to fit memory. A list
of prompts adds a ``prompt`` dim (or ``reduce="mean"``/``"median"``); metrics can be given per
prompt (``PromptSet.metrics()``).

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("circuits-4l")
>>> m = hw.Metric("logit_diff", target=" Mary", distractor=" John")
>>> effect = hw.scores.ablation_effect(
...     hm, "When Mary and John went to the store, John gave a drink to", m
... )
>>> len(hw.top_heads(effect, 3, largest=False))
3
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from headwidgets.scores import _run
from headwidgets.scores._run import Reduce
from headwidgets.vocab import ABLATION_MODES, AblationMode

if TYPE_CHECKING:
    import xarray as xr

    from headwidgets.interventions import Intervention
    from headwidgets.metrics import Metric

__all__ = [
    "AblationMode",
    "ablation_effect",
    "activation_patching",
    "patch_heads",
    "scale_response",
]

Head = tuple[int, int]


def _metric(metric: Any) -> Metric:
    from headwidgets.metrics import as_metric

    return as_metric(metric)


def _edit(
    head: Head, mode: str, alpha: float, reference: Any, source: Any, positions: Any = None
) -> Intervention:
    from headwidgets.interventions import HeadEdit, Intervention

    if mode not in ABLATION_MODES:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(ABLATION_MODES)}")
    kwargs: dict[str, Any] = {"positions": positions}
    if mode == "scale":
        kwargs["alpha"] = alpha
    elif mode == "mean":
        if not reference:
            raise ValueError("mode 'mean' needs reference=[prompt, ...] (the prompts to average)")
        kwargs["reference"] = (reference,) if isinstance(reference, str) else tuple(reference)
    elif mode == "resample":
        if not isinstance(source, str):
            raise ValueError(f"mode {mode!r} needs source=<prompt> (the run z comes from)")
        kwargs["source"] = source
    return Intervention((HeadEdit(head[0], head[1], mode, **kwargs),))  # type: ignore[arg-type]


def _prompts(prompt: Any) -> tuple[list[str], bool]:
    prompts, single = _run.as_prompt_list(prompt)
    if not all(isinstance(p, str) for p in prompts):
        raise TypeError("causal scores take prompts as text (the engine tokenizes them)")
    return prompts, single  # type: ignore[return-value]


def ablation_effect(
    hm: Any,
    prompt: str | Sequence[str],
    metric: Any,
    mode: AblationMode = "zero",
    alpha: float = 0.0,
    reference: Sequence[str] | None = None,
    source: str | Sequence[str] | None = None,
    heads: Iterable[Head] | None = None,
    *,
    reduce: Reduce | None = None,
    progress: bool | None = None,
) -> xr.DataArray:
    """``metric(prompt with one head edited) − metric(prompt)`` for every head.

    Parameters
    ----------
    hm
        The bound model.
    prompt
        A prompt, or a list of prompts (adds a ``prompt`` dim).
    metric
        A :class:`~headwidgets.metrics.Metric` (or a kind name), or one per prompt.
    mode
        ``"zero"``, ``"mean"`` (over ``reference`` prompts), ``"resample"`` (z from
        ``source``, one per prompt allowed) or ``"scale"`` (z times ``alpha``).
    heads
        The heads to sweep (default all); the others are NaN in the cube.
    reduce, progress
        Reduce over prompts (``"mean"``/``"median"``); tqdm bar over prompts.

    Returns
    -------
    xarray.DataArray
        (layer, head) cube named ``ablation_effect``, in the metric's units.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> cube = ablation_effect(hm, "ba be bi ba be bi", "loss", heads=[(1, 0), (1, 1)])
    >>> cube.dims, int(cube.notnull().sum())
    (('layer', 'head'), 2)
    """
    hm.require_lm_head("ablation_effect")
    from headwidgets.cubes import make_cube

    prompts, single = _prompts(prompt)
    metrics = [_metric(m) for m in _run.per_prompt(metric, len(prompts), "metric")]
    sources = _run.per_prompt(source, len(prompts), "source")
    chosen = _run.head_list(hm, heads)
    cubes = []
    rows = list(zip(prompts, metrics, sources, strict=True))
    for text, m, src in _run.progress_bar(rows, progress, "ablation"):
        specs = [_edit(h, mode, alpha, reference, src) for h in chosen]
        values, clean = hm.sweep_values(text, m, specs)
        effect = (values - clean).float().numpy()
        params: dict[str, Any] = {
            "mode": mode,
            "alpha": alpha if mode == "scale" else None,
            "reference": list(reference) if mode == "mean" and reference else None,
            "source": src if mode == "resample" else None,
            "heads": [list(h) for h in chosen],
        }
        attrs = _run.score_attrs(
            hm,
            f"single-head {mode} ablation, one batched pass",
            f"change in {m.describe()} when the head is edited",
            m.units,
            metric=m.describe(),
            intervention=_run.params_json(per_head={"mode": mode, "alpha": alpha}),
            prompts=prompt,
            extra={"metric_clean": float(clean)},
            **params,
        )
        coords = {"prompt_text": text}
        grid = _run.head_grid(hm, chosen, effect)
        cubes.append(make_cube(grid, ("layer", "head"), coords, "ablation_effect", attrs))
    if single:
        return cubes[0]
    return _run.stack_prompts(cubes, prompts, reduce)


def activation_patching(
    hm: Any,
    clean: str | Sequence[str],
    corrupt: str | Sequence[str],
    metric: Any,
    heads: Iterable[Head] | None = None,
    per_query: bool = False,
    normalize: bool = True,
    *,
    reduce: Reduce | None = None,
    progress: bool | None = None,
) -> xr.DataArray:
    """Patch each head's z from the clean run into the corrupted run (all positions, or one
    query position at a time with ``per_query=True``):
    ``(m_patched − m_corrupt) / (m_clean − m_corrupt)``.

    1 means the head alone restores the clean metric, 0 means no effect;
    ``normalize=False`` gives ``m_patched − m_corrupt`` in the metric's units. Clean and
    corrupted prompts must have the same number of tokens. One batched pass per prompt pair
    (plus one clean run). :func:`patch_heads` patches a head set at once.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")
    >>> ds = hw.datasets.ioi(4, hm=hm)
    >>> cube = activation_patching(hm, ds.prompts, ds.corrupted, ds.metrics(), reduce="mean")
    >>> cube.dims
    ('layer', 'head')
    """
    hm.require_lm_head("activation_patching")
    from headwidgets.cubes import make_cube

    cleans, single = _prompts(clean)
    corrupts, _ = _prompts(corrupt)
    if len(cleans) != len(corrupts):
        raise ValueError(f"{len(cleans)} clean prompts but {len(corrupts)} corrupted prompts")
    metrics = [_metric(m) for m in _run.per_prompt(metric, len(cleans), "metric")]
    if any(m.needs_baseline for m in metrics):
        raise ValueError("metric 'kl' has no single baseline for patching; use e.g. logit_diff")
    chosen = _run.head_list(hm, heads)
    cubes = []
    pairs = list(zip(cleans, corrupts, metrics, strict=True))
    for good, bad, m in _run.progress_bar(pairs, progress, "patching"):
        tok_good, tok_bad = hm.tokenize(good), hm.tokenize(bad)
        if len(tok_good) != len(tok_bad):
            raise ValueError(
                f"clean and corrupted prompts must have the same number of tokens "
                f"({len(tok_good)} vs {len(tok_bad)}): {good!r} / {bad!r}"
            )
        n_pos = len(tok_bad)
        positions: list[Any] = [(q,) for q in range(n_pos)] if per_query else [None]
        specs = [_edit(h, "resample", 1.0, None, good, pos) for h in chosen for pos in positions]
        m_clean = _clean_metric(hm, good, m)
        values, m_corrupt = hm.sweep_values(bad, m, specs)
        gap = _gap(float(m_clean), float(m_corrupt)) if normalize else 1.0
        effect = ((values - m_corrupt) / gap).float().numpy().reshape(len(chosen), -1)
        attrs = _run.score_attrs(
            hm,
            "activation patching clean -> corrupt, (m_patched - m_corrupt)"
            + ("/(m_clean - m_corrupt)" if normalize else ""),
            f"{'fraction of ' if normalize else 'change in '}{m.describe()} from patching the head",
            "fraction" if normalize else m.units,
            metric=m.describe(),
            intervention=_run.params_json(per_head={"mode": "resample", "source": good}),
            prompts=clean,
            extra={
                "metric_clean": float(m_clean),
                "metric_corrupt": float(m_corrupt),
                "clean": good,
                "corrupt": bad,
            },
            per_query=per_query,
            normalize=normalize,
            heads=[list(h) for h in chosen],
        )
        coords: dict[str, Any] = {"prompt_text": bad}
        if per_query:
            dims: tuple[str, ...] = ("layer", "head", "query")
            coords["query"] = np.arange(n_pos)
            coords["token"] = ("query", np.asarray(tok_bad.tokens, dtype=str))
        else:
            dims = ("layer", "head")
            effect = effect[:, 0]
        grid = _run.head_grid(hm, chosen, effect)
        cubes.append(make_cube(grid, dims, coords, "activation_patching", attrs))
    if single:
        return cubes[0]
    return _run.stack_prompts(cubes, corrupts, reduce)


def _clean_metric(hm: Any, prompt: str, metric: Metric) -> Any:
    """The metric of the unedited prompt (the batch's clean row)."""
    from headwidgets.interventions import Intervention

    return hm.sweep_values(prompt, metric, [Intervention()])[1]


def _gap(m_clean: float, m_corrupt: float) -> float:
    gap = m_clean - m_corrupt
    if abs(gap) < 1e-6:
        raise ValueError(
            f"the clean and corrupted prompts give the same metric ({m_clean:.4g}); "
            "normalized patching effects are undefined. Choose a corruption that changes the "
            "metric, or pass normalize=False"
        )
    return gap


def patch_heads(
    hm: Any,
    clean: str,
    corrupt: str,
    metric: Any,
    heads: Iterable[Head] | None = None,
    positions: Sequence[int] | None = None,
    normalize: bool = True,
) -> float:
    """Patch a head SET (default every head) from clean into corrupted at once.

    Returns ``(m_patched − m_corrupt) / (m_clean − m_corrupt)`` (or the raw difference with
    ``normalize=False``): how much of the behaviour the set restores (circuit faithfulness).
    Patching every head at every position gives exactly 1 when the two prompts share the
    token at the metric's position (that position's residual stream is then the clean one).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")
    >>> ds = hw.datasets.ioi(1, hm=hm)
    >>> round(patch_heads(hm, ds.prompts[0], ds.corrupted[0], ds.metrics()[0]), 4)
    1.0
    """
    hm.require_lm_head("patch_heads")
    from headwidgets.interventions import Intervention

    m = _metric(metric)
    if m.needs_baseline:
        raise ValueError("metric 'kl' has no single baseline for patching; use e.g. logit_diff")
    spec = Intervention.patch(_run.head_list(hm, heads), source=clean, positions=positions)
    m_clean = _clean_metric(hm, clean, m)
    values, m_corrupt = hm.sweep_values(corrupt, m, [spec])
    gap = _gap(float(m_clean), float(m_corrupt)) if normalize else 1.0
    return float(values[0] - m_corrupt) / gap


def scale_response(
    hm: Any,
    prompt: str | Sequence[str],
    metric: Any,
    heads: Iterable[Head],
    alphas: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
    together: bool = True,
    *,
    reduce: Reduce | None = None,
    progress: bool | None = None,
) -> xr.DataArray:
    """The metric as a function of the scale α of a head set (α grid, one batched pass).

    ``together=True`` scales all ``heads`` at once and returns a curve with dims
    ``("scale",)``; ``together=False`` scales each head alone: (layer, head, scale), NaN for
    heads not asked for. Values are the metric itself (α = 1 is the unedited run).

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("induction-2l")
    >>> curve = scale_response(hm, "ba be bi ba be bi", "loss", heads=[(1, 0), (1, 2)])
    >>> curve.dims, curve["scale"].values.tolist()[:3]
    (('scale',), [0.0, 0.25, 0.5])
    """
    hm.require_lm_head("scale_response")
    from headwidgets.cubes import make_cube
    from headwidgets.interventions import Intervention

    prompts, single = _prompts(prompt)
    metrics = [_metric(m) for m in _run.per_prompt(metric, len(prompts), "metric")]
    chosen = _run.head_list(hm, heads)
    scales = np.asarray([float(a) for a in alphas], dtype=np.float64)
    if scales.size == 0 or not np.all(np.isfinite(scales)):
        raise ValueError(f"alphas must be a non-empty list of finite numbers, got {alphas!r}")
    cubes = []
    rows = list(zip(prompts, metrics, strict=True))
    for text, m in _run.progress_bar(rows, progress, "scale response"):
        if together:
            specs = [Intervention.scale(dict.fromkeys(chosen, float(a))) for a in scales]
        else:
            specs = [Intervention.scale({h: float(a)}) for h in chosen for a in scales]
        values, clean = hm.sweep_values(text, m, specs)
        attrs = _run.score_attrs(
            hm,
            "metric under head scaling, one batched pass",
            m.describe(),
            m.units,
            metric=m.describe(),
            intervention=_run.params_json(scale=[list(h) for h in chosen], together=together),
            prompts=prompt,
            extra={"metric_clean": float(clean)},
            heads=[list(h) for h in chosen],
        )
        data = values.float().numpy()
        coords: dict[str, Any] = {"scale": scales, "prompt_text": text}
        if together:
            cubes.append(make_cube(data, ("scale",), coords, "scale_response", attrs))
        else:
            grid = _run.head_grid(hm, chosen, data.reshape(len(chosen), len(scales)))
            dims = ("layer", "head", "scale")
            cubes.append(make_cube(grid, dims, coords, "scale_response", attrs))
    if single:
        return cubes[0]
    return _run.stack_prompts(cubes, prompts, reduce)
