"""Circuits: path patching against a plain two-pass implementation written out here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import transformers as T

import headwidgets as hw
from tests._tiny import VOCAB, prompt, word_tokenizer


def _three_layers(kind: str) -> hw.HeadModel:
    """A tiny random model with 3 layers (a sender, a frozen middle layer, a receiver)."""
    common: dict[str, Any] = {
        "vocab_size": VOCAB,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
    }
    if kind == "gpt2":
        config: Any = T.GPT2Config(n_layer=3, n_head=4, n_embd=32, n_positions=64, **common)
        cls: Any = T.GPT2LMHeadModel
    else:  # GQA: 4 query heads, 2 key/value heads
        config = T.LlamaConfig(
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            hidden_size=32,
            intermediate_size=64,
            max_position_embeddings=64,
            **common,
        )
        cls = T.LlamaForCausalLM
    torch.manual_seed(0)
    model = cls(config).eval()
    with torch.no_grad():  # larger weights: effects well above float noise
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.02)
            elif param.ndim == 2:
                param.normal_(0.0, 0.3)
    return hw.bind(model, word_tokenizer(), name=f"tiny3-{kind}")


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def hm(request: pytest.FixtureRequest) -> hw.HeadModel:
    return _three_layers(request.param)


CLEAN, CORRUPT = prompt(8, seed=1), prompt(8, seed=2)
METRIC = hw.Metric("logit_diff", target="w5", distractor="w7")


# -- the reference: plain hooks on the HF modules, nothing from headwidgets ------------------


def _parts(hm: hw.HeadModel, layer: int) -> dict[str, Any]:
    block = hm.model.get_submodule(hm.layout.blocks_path)[layer]
    if isinstance(hm.model, T.GPT2LMHeadModel):
        return {
            "block": block,
            "o": block.attn.c_proj,
            "norm": block.ln_1,
            "qkv": block.attn.c_attn,
        }
    attn = block.self_attn
    return {
        "block": block,
        "o": attn.o_proj,
        "norm": block.input_layernorm,
        "q": attn.q_proj,
        "k": attn.k_proj,
        "v": attn.v_proj,
    }


def _z(hm: hw.HeadModel, text: str) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """Every layer's z (the output projection's input) and the logits, of a plain run."""
    zs: dict[int, torch.Tensor] = {}
    handles = [
        _parts(hm, layer)["o"].register_forward_pre_hook(
            lambda module, args, layer=layer: zs.__setitem__(layer, args[0].detach().clone())
        )
        for layer in range(hm.n_layers)
    ]
    with torch.no_grad():
        logits = hm.model(hm.tokenize(text).input_ids).logits
    for handle in handles:
        handle.remove()
    return zs, logits


def _metric(hm: hw.HeadModel, logits: torch.Tensor) -> float:
    return float(logits[0, -1, hm.token_id("w5")] - logits[0, -1, hm.token_id("w7")])


def reference_path(
    hm: hw.HeadModel, sender: tuple[int, int], receiver: tuple[int, int], x: str
) -> float:
    """Two passes written out: freeze/replace z slices, then patch one q/k/v projection."""
    z_clean, logits_clean = _z(hm, CLEAN)
    z_bad, _ = _z(hm, CORRUPT)
    dim, (s_layer, s_head), (r_layer, r_head) = hm.head_dim, sender, receiver
    ids = hm.tokenize(CLEAN).input_ids

    def freeze(module: Any, args: tuple[Any, ...], layer: int) -> tuple[Any, ...]:
        z = z_clean[layer].clone()  # every other head frozen at the clean run
        if layer == s_layer:
            part = slice(s_head * dim, (s_head + 1) * dim)
            z[..., part] = z_bad[layer][..., part]
        return (z, *args[1:])

    resid: list[torch.Tensor] = []

    def keep(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        resid.append((args[0] if args else kwargs["hidden_states"]).detach().clone())

    handles = [
        _parts(hm, layer)["o"].register_forward_pre_hook(
            lambda module, args, layer=layer: freeze(module, args, layer)
        )
        for layer in range(s_layer, hm.n_layers)
    ]
    handles.append(_parts(hm, r_layer)["block"].register_forward_pre_hook(keep, with_kwargs=True))
    with torch.no_grad():
        hm.model(ids)
    for handle in handles:
        handle.remove()
    parts = _parts(hm, r_layer)
    kv = r_head // (hm.n_heads // hm.n_kv_heads)
    if "qkv" in parts:  # GPT-2: one projection makes q | k | v
        proj = parts["qkv"]
        offset = {"q": 0, "k": hm.d_model, "v": 2 * hm.d_model}[x]
        cols = slice(offset + r_head * dim, offset + (r_head + 1) * dim)
    else:
        proj = parts[x]
        index = r_head if x == "q" else kv
        cols = slice(index * dim, (index + 1) * dim)

    with torch.no_grad():
        new = proj(parts["norm"](resid[0]))  # the projection of pass 1's residual

    def patch(module: Any, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        out = output.clone()
        out[..., cols] = new[..., cols]
        return out

    handle = proj.register_forward_hook(patch)
    with torch.no_grad():
        logits = hm.model(ids).logits
    handle.remove()
    return _metric(hm, logits) - _metric(hm, logits_clean)


def reference_direct(hm: hw.HeadModel, sender: tuple[int, int]) -> float:
    """s's change through the final norm with its clean scale, then the unembedding."""
    z_clean, _ = _z(hm, CLEAN)
    z_bad, _ = _z(hm, CORRUPT)
    layer, head, dim = sender[0], sender[1], hm.head_dim
    final: list[torch.Tensor] = []
    norm = hm.model.transformer.ln_f if hasattr(hm.model, "transformer") else hm.model.model.norm
    handle = norm.register_forward_pre_hook(lambda m, args: final.append(args[0].detach()))
    with torch.no_grad():
        hm.model(hm.tokenize(CLEAN).input_ids)
    handle.remove()
    x = final[0][0, -1].double()
    part = slice(head * dim, (head + 1) * dim)
    dz = (z_bad[layer] - z_clean[layer])[0, -1, part].double()
    o = _parts(hm, layer)["o"]
    w = o.weight if isinstance(o, torch.nn.Linear) else o.weight.T  # (d_model, H*D)
    delta = w[:, part].detach().double() @ dz
    w_u = hm.model.get_output_embeddings().weight.detach().double()
    gamma = norm.weight.detach().double()
    t, d = hm.token_id("w5"), hm.token_id("w7")

    def logit_diff(resid: torch.Tensor) -> float:  # the final norm with x's scale, then W_U
        if isinstance(norm, torch.nn.LayerNorm):
            scale = torch.sqrt(x.var(unbiased=False) + norm.eps)
            y = (resid - resid.mean()) / scale * gamma + norm.bias.detach().double()
        else:
            scale = torch.sqrt(x.pow(2).mean() + norm.variance_epsilon)
            y = resid / scale * gamma
        logits = y @ w_u.T
        return float(logits[t] - logits[d])

    return logit_diff(x + delta) - logit_diff(x)


# -- the claims ---------------------------------------------------------------------------------


def test_path_patching_equals_a_plain_two_pass_implementation(hm: hw.HeadModel) -> None:
    receivers = [(2, 0), (2, 3), (1, 1)]
    cube = hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC, receivers=receivers)
    assert cube.dims == ("layer", "head", "receiver", "input")
    assert cube["receiver"].values.tolist() == ["1.1", "2.0", "2.3"]
    checked = []
    for sender in [(0, 0), (0, 2), (1, 3)]:
        for receiver in receivers:
            for x in ("q", "k", "v"):
                label = f"{receiver[0]}.{receiver[1]}"
                got = cube.sel(layer=sender[0], head=sender[1], receiver=label, input=x)
                if sender[0] >= receiver[0]:
                    assert np.isnan(got.item())  # no path from a layer at or above
                    continue
                want = reference_path(hm, sender, receiver, x)
                checked.append(want)
                np.testing.assert_allclose(got.item(), want, atol=1e-5, rtol=1e-4)
    assert max(abs(v) for v in checked) > 1e-2  # the comparison is not between zeros


def test_direct_path_equals_the_change_through_the_frozen_final_norm(hm: hw.HeadModel) -> None:
    cube = hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC)
    assert cube["receiver"].values.tolist() == ["logits"]
    wants = []
    for sender in [(0, 1), (1, 2), (2, 3)]:
        want = reference_direct(hm, sender)
        wants.append(want)
        got = cube.sel(layer=sender[0], head=sender[1]).item()
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
    assert max(abs(v) for v in wants) > 1e-2


def test_key_value_paths_act_on_the_whole_gqa_group() -> None:
    hm = _three_layers("llama")
    cube = hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC, receivers=[(2, 0), (2, 1), (2, 2)])
    same_group = cube.sel(receiver=["2.0", "2.1"], layer=[0, 1])
    assert cube["receiver_kv_head"].values.tolist() == [0, 0, 1]
    for x in ("k", "v"):  # receivers of one key/value head share its k and v
        np.testing.assert_array_equal(
            same_group.sel(receiver="2.0", input=x), same_group.sel(receiver="2.1", input=x)
        )
    q = same_group.sel(input="q").values
    assert not np.allclose(q[..., 0], q[..., 1])  # queries are per query head


def test_path_patching_leaves_no_hooks_and_restores_attention(hm: hw.HeadModel) -> None:
    before = hm.model.config._attn_implementation
    hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC, receivers=[(2, 1)], inputs=("k",))
    modules = list(hm.model.modules())
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in modules)
    assert hm.model.config._attn_implementation == before


def test_normalized_path_divides_by_the_corruption_effect(hm: hw.HeadModel) -> None:
    raw = hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC, receivers=[(2, 1)], inputs="v")
    norm = hw.scores.path_patching(
        hm, CLEAN, CORRUPT, METRIC, receivers=[(2, 1)], inputs="v", normalize=True
    )
    gap = raw.attrs["metric_corrupt"] - raw.attrs["metric_clean"]
    np.testing.assert_allclose(norm.values, raw.values / gap, rtol=1e-5)
    assert norm.attrs["units"] == "fraction"


def test_bad_path_patching_input_names_what_is_valid(hm: hw.HeadModel) -> None:
    with pytest.raises(ValueError, match=r"inputs must be .*'q', 'k', 'v'"):
        hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC, receivers=[(2, 1)], inputs=("o",))
    with pytest.raises(ValueError, match="valid layers are 0..2"):
        hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC, receivers=[(5, 0)])
    with pytest.raises(ValueError, match="same number of tokens"):
        hw.scores.path_patching(hm, CLEAN, prompt(5), METRIC)


def test_path_patching_cube_saves_and_loads_exactly(hm: hw.HeadModel, tmp_path: Any) -> None:
    cube = hw.scores.path_patching(hm, CLEAN, CORRUPT, METRIC, receivers=[(2, 1)], inputs="q")
    hw.save_cube(cube, tmp_path / "paths.nc")
    import xarray as xr

    xr.testing.assert_identical(hw.load_cube(tmp_path / "paths.nc"), cube)
