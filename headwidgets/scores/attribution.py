"""Attribution patching: activation patching estimated to first order.

Attribution patching estimates activation patching with one clean forward, one corrupted
forward and one backward: ``(z_clean − z_corrupt) · ∂m/∂z`` at the corrupted run, for every
head and position at once. (Direct logit attribution is in :mod:`.direct`.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from headwidgets.scores import _run
from headwidgets.scores._run import Reduce

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["attribution_patching"]

Head = tuple[int, int]


def _metric(metric: Any) -> Any:
    from headwidgets.metrics import as_metric

    return as_metric(metric)


def _corrupted_gradients(hm: Any, text: str, metric: Any) -> tuple[Any, Any, float]:
    """z (L, T, H, D) and ∂m/∂z of the corrupted run, and its metric (one fwd + one bwd)."""
    import torch

    from headwidgets.interventions import z_perturbations

    tok = hm.tokenize(text)
    with torch.enable_grad(), z_perturbations(hm.model, hm.out_projs, hm.n_heads) as (zs, deltas):
        logits = hm.forward(tok.input_ids)
        value = metric.compute(hm, logits, tok.input_ids)
        order = [deltas[layer] for layer in range(hm.n_layers)]
        grads = torch.autograd.grad(value.sum(), order, allow_unused=True)
    z = torch.stack([zs[layer][0].float().cpu() for layer in range(hm.n_layers)])
    g = torch.stack(
        [
            torch.zeros_like(z[i]) if grad is None else grad[0].float().cpu()
            for i, grad in enumerate(grads)
        ]
    )
    return z, g, float(value.detach().float().sum())


def _clean_run(hm: Any, text: str, metric: Any) -> tuple[Any, float]:
    import torch

    tok = hm.tokenize(text)
    zs: dict[int, torch.Tensor] = {}

    def keep(layer: int, z: torch.Tensor) -> None:
        zs[layer] = z[0].detach().float().cpu()

    with torch.no_grad(), hm.capture_z(keep):
        logits = hm.forward(tok.input_ids)
    value = float(metric.compute(hm, logits, tok.input_ids).float().sum())
    return torch.stack([zs[layer] for layer in range(hm.n_layers)]), value


def attribution_patching(
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
    """Linear estimate of activation patching: ``(z_clean − z_corrupt) · ∂m/∂z`` at the
    corrupted run, summed over the head's dimensions (and positions unless ``per_query``).

    With ``normalize=True`` (default) it is divided by ``m_clean − m_corrupt``, the same
    scale as :func:`~headwidgets.scores.causal.activation_patching`.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")
    >>> ds = hw.datasets.ioi(4, hm=hm)
    >>> cube = attribution_patching(hm, ds.prompts, ds.corrupted, ds.metrics(), reduce="mean")
    >>> cube.dims, cube.attrs["units"]
    (('layer', 'head'), 'fraction')
    """
    hm.require_lm_head("attribution_patching")
    from headwidgets.cubes import make_cube

    cleans, single = _run.as_prompt_list(clean)
    corrupts, _ = _run.as_prompt_list(corrupt)
    if len(cleans) != len(corrupts):
        raise ValueError(f"{len(cleans)} clean prompts but {len(corrupts)} corrupted prompts")
    metrics = [_metric(m) for m in _run.per_prompt(metric, len(cleans), "metric")]
    if any(m.needs_baseline for m in metrics):
        raise ValueError("metric 'kl' has no gradient baseline here; use e.g. logit_diff")
    chosen = _run.head_list(hm, heads)
    cubes = []
    rows = list(zip(cleans, corrupts, metrics, strict=True))
    for good, bad, m in _run.progress_bar(rows, progress, "attribution"):
        if not isinstance(good, str) or not isinstance(bad, str):
            raise TypeError("attribution_patching takes prompts as text")
        z_clean, m_clean = _clean_run(hm, good, m)
        z_bad, grad, m_corrupt = _corrupted_gradients(hm, bad, m)
        if z_clean.shape != z_bad.shape:
            raise ValueError(
                f"clean and corrupted prompts must have the same number of tokens "
                f"({z_clean.shape[1]} vs {z_bad.shape[1]}): {good!r} / {bad!r}"
            )
        attr = ((z_clean - z_bad) * grad).sum(-1).numpy()  # (L, T, H)
        gap = m_clean - m_corrupt
        if normalize:
            if abs(gap) < 1e-6:
                raise ValueError(
                    "the clean and corrupted prompts give the same metric; "
                    "use normalize=False or a corruption that changes the metric"
                )
            attr = attr / gap
        per_head = attr.transpose(0, 2, 1)  # (L, H, T)
        picked = np.stack([per_head[layer, head] for layer, head in chosen])
        coords: dict[str, Any] = {"prompt_text": bad}
        if per_query:
            dims: tuple[str, ...] = ("layer", "head", "query")
            coords["query"] = np.arange(per_head.shape[-1])
            coords["token"] = ("query", np.asarray(hm.tokenize(bad).tokens, dtype=str))
        else:
            dims = ("layer", "head")
            picked = picked.sum(-1)
        attrs = _run.score_attrs(
            hm,
            "attribution patching (z_clean - z_corrupt) . dm/dz at the corrupted run",
            f"linear estimate of patching effect on {m.describe()}",
            "fraction" if normalize else m.units,
            metric=m.describe(),
            prompts=clean,
            extra={
                "metric_clean": m_clean,
                "metric_corrupt": m_corrupt,
                "clean": good,
                "corrupt": bad,
            },
            per_query=per_query,
            normalize=normalize,
            heads=[list(h) for h in chosen],
        )
        grid = _run.head_grid(hm, chosen, picked)
        cubes.append(make_cube(grid, dims, coords, "attribution_patching", attrs))
    if single:
        return cubes[0]
    return _run.stack_prompts(cubes, [str(c) for c in corrupts], reduce)
