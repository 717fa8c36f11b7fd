"""Direct-path scores: direct logit attribution and every direct effect on a logit.

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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from headwidgets.scores import _run
from headwidgets.scores._run import Reduce

if TYPE_CHECKING:
    import pandas as pd
    import torch
    import xarray as xr

__all__ = ["direct_effects", "direct_logit_attribution"]


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
