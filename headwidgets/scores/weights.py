"""Weights-only scores (no forward pass): the OV copying score.

The OV circuit of head h maps an attended token to the logits it writes:
``M_h = W_U W_O^h W_V^h W_E^T`` (tokens × tokens). Its eigenvalues λ say whether the head
copies (positive: attending to a token raises that token's logit) or suppresses (negative).
The score is ``Re(Σλ) / Σ|λ|`` ∈ [−1, 1] over the ``k`` tokens it is restricted to.

The nonzero eigenvalues of ``M_h = (U W_O^h)(W_V^h E^T)`` equal those of the small
``d_head × d_head`` matrix ``W_V^h (E^T U) W_O^h`` (cyclic property), so the score costs one
``d_model × d_model`` product per layer and one ``d_head`` eigen-decomposition per head.
Norm weights are folded in (the block's input norm into ``W_E``, the final norm into ``W_U``;
LayerNorm centering included); the norms' scales drop out of the ratio.

Example
-------
>>> import headwidgets as hw
>>> hm = hw.load("induction-2l")
>>> len(hw.top_heads(hw.scores.ov_copying(hm), 3))
3
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from headwidgets.architectures import INPUT_NORMS, first_module, get_module, linear_weight
from headwidgets.scores import _run

if TYPE_CHECKING:
    import torch
    import xarray as xr

__all__ = ["ov_copying", "ov_eigenvalues", "value_weight"]


def _linear_weight(module: Any) -> torch.Tensor:
    """(out, in) weight of an nn.Linear or GPT-2 Conv1D, detached."""
    weight: torch.Tensor = linear_weight(module).detach()
    return weight


def value_weight(hm: Any, layer: int) -> torch.Tensor:
    """W_V of one layer in nn.Linear convention: ``(n_kv_heads * head_dim, d_model)``.

    Rows ``kv * head_dim : (kv + 1) * head_dim`` belong to key/value head ``kv``; query head
    ``h`` reads kv head ``h // (n_heads // n_kv_heads)``.

    Example
    -------
    >>> import headwidgets as hw
    >>> value_weight(hw.load("circuits-4l"), 0).shape   # 2 kv heads of 32
    torch.Size([64, 128])
    """

    block = list(hm.model.get_submodule(hm.layout.blocks_path))[layer]
    paths = hm.layout.spec.qkv
    n_heads, n_kv, head_dim = int(hm.n_heads), int(hm.n_kv_heads), int(hm.head_dim)
    if len(paths) == 3:
        return _linear_weight(get_module(block, paths[2]))
    if len(paths) == 1:
        fused = _linear_weight(get_module(block, paths[0]))  # (rows, d_model)
        kind = hm.layout.model_type
        if kind == "gpt_neox":  # per head [q, k, v] interleaved
            return fused.reshape(n_heads, 3, head_dim, -1)[:, 2].reshape(n_heads * head_dim, -1)
        if fused.shape[0] == (n_heads + 2 * n_kv) * head_dim:  # [q | k | v] (GPT-2, Phi-3)
            return fused[(n_heads + n_kv) * head_dim :]
    raise ValueError(
        f"no value projection known for model type {hm.layout.model_type!r}; "
        "supported: separate q/k/v projections, GPT-2 c_attn, GPT-NeoX, Phi-3"
    )


def _norm_gain(hm: Any, norm: Any) -> tuple[np.ndarray, bool]:
    """(per-dimension gain γ, centers?) of a norm module (ones, False if there is none)."""
    d_model = int(hm.d_model)
    if norm is None:
        return np.ones(d_model), False
    import torch

    name = type(norm).__name__
    if isinstance(norm, torch.nn.LayerNorm) or "LayerNorm" in name:
        weight = getattr(norm, "weight", None)
        gain = np.ones(d_model) if weight is None else weight.detach().double().cpu().numpy()
        return gain, True
    if "RMSNorm" in name:
        eps = float(getattr(norm, "variance_epsilon", getattr(norm, "eps", 0.0)) or 0.0)
        ones = torch.ones(1, d_model, device=hm.device, dtype=hm.dtype)
        with torch.no_grad():
            gain = norm(ones)[0].double().cpu().numpy() * math.sqrt(1.0 + eps)
        return gain, False
    raise ValueError(f"cannot fold the norm {name}; pass fold_norms=False")


def _input_norm(hm: Any, layer: int) -> Any:
    block = list(hm.model.get_submodule(hm.layout.blocks_path))[layer]
    return first_module(block, INPUT_NORMS)


def _center(x: np.ndarray, axis: int) -> np.ndarray:
    return x - x.mean(axis=axis, keepdims=True)


def _token_ids(hm: Any, k: int, tokens: Sequence[int | str] | None, frequencies: Any) -> list[int]:
    vocab = int(hm.vocab_size)
    if tokens is not None:
        ids = [hm.token_id(t) if isinstance(t, str) else int(t) for t in tokens]
        bad = [i for i in ids if not 0 <= i < vocab]
        if bad or not ids:
            raise ValueError(f"tokens must be ids in 0..{vocab - 1} (got {bad or 'none'})")
        return list(dict.fromkeys(ids))
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    special = set(getattr(hm.tokenizer, "all_special_ids", []) or [])
    if frequencies is not None:
        freq = np.asarray(frequencies, dtype=float)
        if freq.shape != (vocab,):
            raise ValueError(f"frequencies must have one count per token id ({vocab})")
        order = np.argsort(-freq, kind="stable")
    else:
        order = np.arange(vocab)
    return [int(i) for i in order if int(i) not in special][:k]


def ov_eigenvalues(
    hm: Any,
    layer: int,
    k: int = 1000,
    tokens: Sequence[int | str] | None = None,
    frequencies: Any = None,
    fold_norms: bool = True,
) -> np.ndarray:
    """Nonzero eigenvalues of every head's OV circuit in ``layer``: complex (H, head_dim)."""
    ids = _token_ids(hm, k, tokens, frequencies)
    emb = hm.model.get_input_embeddings().weight.detach().double().cpu().numpy()[ids]
    unemb = hm.unembed().detach().double().cpu().numpy()[ids]
    w_o = hm.out_proj_weight(layer).detach().double().cpu().numpy()  # (d_model, H*D)
    w_v = value_weight(hm, layer).double().cpu().numpy()  # (KV*D, d_model)
    if fold_norms:
        gain, center = _norm_gain(hm, _input_norm(hm, layer))
        emb = (_center(emb, 1) if center else emb) * gain
        gain, center = _norm_gain(hm, hm.final_norm)
        unemb = unemb * gain
        if center:
            w_o = _center(w_o, 0)
    inner = emb.T @ unemb  # (d_model, d_model): E^T U
    n_heads, head_dim = int(hm.n_heads), int(hm.head_dim)
    group = n_heads // int(hm.n_kv_heads)
    out = np.zeros((n_heads, head_dim), dtype=np.complex128)
    for head in range(n_heads):
        kv = head // group
        v = w_v[kv * head_dim : (kv + 1) * head_dim]  # (D, d_model)
        o = w_o[:, head * head_dim : (head + 1) * head_dim]  # (d_model, D)
        out[head] = np.linalg.eigvals(v @ inner @ o)
    return out


def ov_copying(
    hm: Any,
    k: int = 1000,
    tokens: Sequence[int | str] | None = None,
    frequencies: Any = None,
    fold_norms: bool = True,
) -> xr.DataArray:
    """OV copying score ``Re(Σλ) / Σ|λ|`` of every head (+1 copying, −1 suppression).

    Parameters
    ----------
    hm
        The bound model.
    k
        Restrict the circuit to ``k`` tokens: the most frequent by ``frequencies`` (one count
        per token id) or, without them, the first ``k`` non-special ids.
    tokens
        Explicit token ids or single-token strings instead of ``k``.
    fold_norms
        Fold the block input norm's and the final norm's weights (and LayerNorm centering).

    Example
    -------
    >>> import headwidgets as hw
    >>> cube = ov_copying(hw.load("circuits-4l"), k=500)
    >>> float(cube.min()) >= -1 and float(cube.max()) <= 1
    True
    """
    from headwidgets.cubes import make_cube

    values = np.zeros((int(hm.n_layers), int(hm.n_heads)), dtype=np.float32)
    for layer in range(int(hm.n_layers)):
        eig = ov_eigenvalues(hm, layer, k, tokens, frequencies, fold_norms)
        total = np.abs(eig).sum(axis=-1)
        values[layer] = np.where(
            total > 0, eig.real.sum(axis=-1) / np.where(total > 0, total, 1), np.nan
        )
    n_tokens = len(_token_ids(hm, k, tokens, frequencies))
    attrs = _run.score_attrs(
        hm,
        "OV circuit eigenvalues, Re(sum lambda) / sum |lambda|",
        "OV copying score",
        "ratio",
        forward=False,
        k=n_tokens,
        tokens="given"
        if tokens is not None
        else ("frequent" if frequencies is not None else "first ids"),
        fold_norms=fold_norms,
    )
    return make_cube(values, ("layer", "head"), name="ov_copying", attrs=attrs)
