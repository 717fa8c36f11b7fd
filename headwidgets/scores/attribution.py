"""Gradient and direct-path scores: attribution patching and direct logit attribution.

Attribution patching estimates activation patching to first order with one clean forward,
one corrupted forward and one backward: ``(z_clean − z_corrupt) · ∂m/∂z`` at the corrupted
run, for every head and position at once.

Direct logit attribution (DLA) reads what each head writes straight into the logit of the
target (minus the distractor) at a position, through the final norm frozen at the clean run:

``DLA_h = (W_O^h z_h) · u / s``, ``u = γ ⊙ (W_U[target] − W_U[distractor])`` (minus its mean
for LayerNorm, which centers its input), ``s`` = the final norm's scale on the clean run
(``sqrt(var + eps)`` for LayerNorm, ``sqrt(mean(x²) + eps)`` for RMSNorm).

Bias terms: biases inside the head (the value bias) are part of z and so of the head; the
output projection's bias ``b_O`` is its own component per layer; the final norm's bias β
contributes ``β · dir`` and an unembedding bias ``b_U[target] − b_U[distractor]``. With the
embeddings and the rest of each block (the MLP), :func:`direct_effects` sums exactly to the
model's logit difference.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("circuits-4l")
>>> prompt = "When Mary and John went to the store, John gave a drink to"
>>> dla = hw.scores.direct_logit_attribution(hm, prompt, " Mary", " John")
>>> frame = hw.scores.direct_effects(hm, prompt, " Mary", " John")
>>> bool(abs(frame["value"].sum() - frame.attrs["logit_diff"]) < 1e-3)
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from headwidgets.scores import _run
from headwidgets.scores._run import Reduce

if TYPE_CHECKING:
    import pandas as pd
    import torch
    import xarray as xr

__all__ = ["attribution_patching", "direct_effects", "direct_logit_attribution"]

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


# ---------------------------------------------------------------------------------------------
# direct logit attribution


def _norm_map(hm: Any) -> tuple[torch.Tensor, torch.Tensor | None, bool, float]:
    """(γ, β or None, centers?, eps) of the final norm (identity when there is none)."""
    import torch

    norm = hm.final_norm
    d_model = int(hm.d_model)
    if norm is None:
        return torch.ones(d_model), None, False, 0.0
    name = type(norm).__name__
    eps = next(
        (
            float(getattr(norm, a))
            for a in ("eps", "variance_epsilon", "epsilon")
            if hasattr(norm, a)
        ),
        1e-5,
    )
    weight = getattr(norm, "weight", None)
    if isinstance(norm, torch.nn.LayerNorm) or "LayerNorm" in name:
        gamma = torch.ones(d_model) if weight is None else weight.detach().float().cpu()
        bias = getattr(norm, "bias", None)
        beta = None if bias is None else bias.detach().float().cpu()
        return gamma, beta, True, eps
    if "RMSNorm" in name:
        # γ_eff from the module itself (covers weight and 1 + weight conventions)
        ones = torch.ones(1, d_model, device=hm.device, dtype=hm.dtype)
        with torch.no_grad():
            gamma = norm(ones)[0].float().cpu() * math.sqrt(1.0 + eps)
        return gamma, None, False, eps
    raise ValueError(
        f"direct logit attribution supports LayerNorm and RMSNorm final norms, not {name}"
    )


def _decompose(hm: Any, text: str, target: int, distractor: int | None) -> dict[str, Any]:
    """Every direct contribution to ``logit[target] − logit[distractor]`` at every position."""
    import torch

    from headwidgets.interventions import capture_inputs

    config = hm.model.config
    if getattr(config, "final_logit_softcapping", None):
        raise ValueError("direct logit attribution is linear; logit soft-capping is not supported")
    tok = hm.tokenize(text)
    n_layers = int(hm.n_layers)
    blocks = list(hm.model.get_submodule(hm.layout.blocks_path))
    norm = hm.final_norm
    sites = blocks + ([norm] if norm is not None else [])
    resid: dict[int, torch.Tensor] = {}
    zs: dict[int, torch.Tensor] = {}

    def keep_resid(index: int, hidden: torch.Tensor) -> None:
        resid[index] = hidden[0].detach().float().cpu()

    def keep_z(layer: int, z: torch.Tensor) -> None:
        zs[layer] = z[0].detach().float().cpu()

    with torch.no_grad(), capture_inputs(sites, keep_resid), hm.capture_z(keep_z):
        logits = hm.forward(tok.input_ids)[0].float().cpu()
    if norm is None:  # no final norm: the last block's output is what the unembedding reads
        raise ValueError("direct logit attribution needs a model with a final norm module")
    x_final = resid[n_layers]
    gamma, beta, center, eps = _norm_map(hm)
    w_u = hm.unembed().detach().float().cpu()
    direction = w_u[target] - (w_u[distractor] if distractor is not None else 0.0)
    u = gamma * direction
    if center:
        u = u - u.mean()
        scale = torch.sqrt(x_final.var(dim=-1, unbiased=False) + eps)
    else:
        scale = torch.sqrt(x_final.pow(2).mean(dim=-1) + eps)
    heads = torch.zeros(n_layers, x_final.shape[0], int(hm.n_heads))
    bias = torch.zeros(n_layers, x_final.shape[0])
    rest = torch.zeros(n_layers, x_final.shape[0])
    for layer in range(n_layers):
        w_o = hm.out_proj_weight(layer).detach().float().cpu()  # (d_model, H*D)
        w_head = (w_o.T @ u).reshape(int(hm.n_heads), -1)  # (H, D)
        heads[layer] = torch.einsum("thd,hd->th", zs[layer], w_head) / scale[:, None]
        b_o = getattr(hm.out_projs[layer], "bias", None)
        if b_o is not None:
            bias[layer] = float(b_o.detach().float().cpu() @ u) / scale
        after = resid[layer + 1]
        block = ((after - resid[layer]) @ u) / scale
        rest[layer] = block - heads[layer].sum(-1) - bias[layer]
    unembed_bias = 0.0
    head_bias = getattr(hm.model.get_output_embeddings(), "bias", None)
    if head_bias is not None:
        b = head_bias.detach().float().cpu()
        unembed_bias = float(b[target] - (b[distractor] if distractor is not None else 0.0))
    actual = logits[:, target] - (logits[:, distractor] if distractor is not None else 0.0)
    return {
        "tokens": tok.tokens,
        "heads": heads,
        "attn_bias": bias,
        "mlp": rest,
        "embed": (resid[0] @ u) / scale,
        "norm_bias": float(beta @ direction) if beta is not None else 0.0,
        "unembed_bias": unembed_bias,
        "actual": actual,
    }


def _ids(hm: Any, target: Any, distractor: Any) -> tuple[int, int | None]:
    from headwidgets.metrics import Metric

    kind = "logit_diff" if distractor is not None else "logprob"
    metric = Metric(kind, target=target, distractor=distractor)  # type: ignore[arg-type]
    t, d = metric.token_ids(hm)
    assert t is not None
    return t, d


def direct_logit_attribution(
    hm: Any,
    prompt: str | Sequence[str],
    target: str | int | Sequence[str | int],
    distractor: str | int | Sequence[str | int] | None = None,
    position: int = -1,
    per_query: bool = False,
    *,
    reduce: Reduce | None = None,
    progress: bool | None = None,
) -> xr.DataArray:
    """What each head writes directly into ``logit[target] − logit[distractor]``.

    At ``position`` (default the last) or, with ``per_query=True``, at every position (dims
    layer, head, query). See the module docstring for the exact formula and the bias terms;
    :func:`direct_effects` lists the other components.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")
    >>> prompt = "When Mary and John went to the store, John gave a drink to"
    >>> direct_logit_attribution(hm, prompt, " Mary", " John", per_query=True).dims
    ('layer', 'head', 'query')
    """
    hm.require_lm_head("direct_logit_attribution")
    from headwidgets.cubes import make_cube

    prompts, single = _run.as_prompt_list(prompt)
    targets = _run.per_prompt(target, len(prompts), "target")
    distractors = _run.per_prompt(distractor, len(prompts), "distractor")
    cubes = []
    rows = list(zip(prompts, targets, distractors, strict=True))
    for text, tgt, dis in _run.progress_bar(rows, progress, "direct logit attribution"):
        if not isinstance(text, str):
            raise TypeError("direct_logit_attribution takes prompts as text")
        t_id, d_id = _ids(hm, tgt, dis)
        parts = _decompose(hm, text, t_id, d_id)
        heads = parts["heads"].permute(0, 2, 1).numpy()  # (L, H, T)
        n_pos = heads.shape[-1]
        if not -n_pos <= position < n_pos:
            raise ValueError(f"position {position} is out of range for {n_pos} tokens")
        label = f"logit[{tgt!r}]" + (f" - logit[{dis!r}]" if dis is not None else "")
        attrs = _run.score_attrs(
            hm,
            "direct logit attribution through the final norm frozen at the clean run",
            f"direct effect on {label}",
            "logit",
            metric=label,
            prompts=prompt,
            position=position,
            per_query=per_query,
        )
        coords: dict[str, Any] = {"prompt_text": text}
        if per_query:
            dims: tuple[str, ...] = ("layer", "head", "query")
            coords["query"] = np.arange(n_pos)
            coords["token"] = ("query", np.asarray(parts["tokens"], dtype=str))
            data = heads
        else:
            dims = ("layer", "head")
            data = heads[..., position]
        cubes.append(make_cube(data, dims, coords, "direct_logit_attribution", attrs))
    if single:
        return cubes[0]
    return _run.stack_prompts(cubes, [str(p) for p in prompts], reduce)


def direct_effects(
    hm: Any,
    prompt: str,
    target: str | int,
    distractor: str | int | None = None,
    position: int = -1,
) -> pd.DataFrame:
    """Every direct contribution to the logit difference at ``position``; they sum to it.

    Returns
    -------
    pandas.DataFrame
        Columns ``component`` (``embed``, ``head``, ``attn_bias``, ``mlp`` — the rest of the
        block —, ``norm_bias``, ``unembed_bias``), ``layer`` and ``head`` (-1 where not
        applicable) and ``value`` (logits). ``frame.attrs["logit_diff"]`` is the model's own
        value; ``frame["value"].sum()`` reproduces it.

    Example
    -------
    >>> import headwidgets as hw
    >>> hm = hw.load("circuits-4l")
    >>> frame = direct_effects(hm, "Monday Tuesday Wednesday", " Thursday", " Wednesday")
    >>> bool(abs(frame["value"].sum() - frame.attrs["logit_diff"]) < 1e-3)
    True
    """
    hm.require_lm_head("direct_effects")
    import pandas as pd

    t_id, d_id = _ids(hm, target, distractor)
    parts = _decompose(hm, prompt, t_id, d_id)
    n_pos = len(parts["tokens"])
    if not -n_pos <= position < n_pos:
        raise ValueError(f"position {position} is out of range for {n_pos} tokens")
    rows: list[tuple[str, int, int, float]] = [("embed", -1, -1, float(parts["embed"][position]))]
    for layer in range(int(hm.n_layers)):
        for head in range(int(hm.n_heads)):
            rows.append(("head", layer, head, float(parts["heads"][layer, position, head])))
        rows.append(("attn_bias", layer, -1, float(parts["attn_bias"][layer, position])))
        rows.append(("mlp", layer, -1, float(parts["mlp"][layer, position])))
    rows.append(("norm_bias", -1, -1, parts["norm_bias"]))
    rows.append(("unembed_bias", -1, -1, parts["unembed_bias"]))
    frame = pd.DataFrame(rows, columns=["component", "layer", "head", "value"])
    frame.attrs["logit_diff"] = float(parts["actual"][position])
    total = float(frame["value"].sum())
    if not math.isclose(total, frame.attrs["logit_diff"], rel_tol=1e-3, abs_tol=1e-3):
        warnings.warn(
            f"direct effects sum to {total:.5g} but the model's logit difference is "
            f"{frame.attrs['logit_diff']:.5g}; the final norm may not be supported",
            RuntimeWarning,
            stacklevel=2,
        )
    return frame
