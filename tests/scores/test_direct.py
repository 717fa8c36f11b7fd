"""Direct logit attribution and direct effects against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import headwidgets as hw
from tests._tiny import prompt, tiny

NORM_FAMILIES = ["gpt2", "llama", "gemma", "olmo", "gpt_neox", "qwen3"]


@pytest.mark.parametrize("arch", NORM_FAMILIES)
@pytest.mark.parametrize("distractor", ["w2", None])
def test_direct_effects_sum_to_the_models_logit_difference(arch: str, distractor) -> None:
    hm = tiny(arch)
    text = prompt(8)
    frame = hw.scores.direct_effects(hm, text, "w1", distractor)
    with torch.no_grad():
        logits = hm.model(input_ids=hm.tokenize(text).input_ids).logits[0, -1]
    expected = logits[hm.token_id("w1")] - (logits[hm.token_id(distractor)] if distractor else 0)
    assert frame["value"].sum() == pytest.approx(float(expected), abs=2e-5)
    assert frame.attrs["logit_diff"] == pytest.approx(float(expected), abs=1e-6)
    assert set(frame["component"]) == {
        "embed",
        "head",
        "attn_bias",
        "mlp",
        "norm_bias",
        "unembed_bias",
    }
    assert (frame["component"] == "head").sum() == hm.n_layers * hm.n_heads


def reference_head_dla(hm, text: str, layer: int, head: int) -> float:
    """Apply the model's own modules: out_proj on z with one head kept, the final norm with its
    scale frozen at the clean residual (computed here from the norm's definition)."""
    captured = {}
    proj = hm.out_projs[layer]
    norm = hm.final_norm

    def grab_z(module, args):
        captured["z"] = args[0].detach().clone()

    def grab_x(module, args):
        captured["x"] = args[0].detach().clone()

    handles = [proj.register_forward_pre_hook(grab_z), norm.register_forward_pre_hook(grab_x)]
    with torch.no_grad():
        hm.model(input_ids=hm.tokenize(text).input_ids)
        for handle in handles:
            handle.remove()
        z = captured["z"][0, -1]
        keep = torch.zeros_like(z)
        cols = slice(head * hm.head_dim, (head + 1) * hm.head_dim)
        keep[cols] = z[cols]
        out = proj(keep[None])[0] - proj(torch.zeros_like(keep)[None])[0]
        x = captured["x"][0, -1]
        if isinstance(norm, torch.nn.LayerNorm):
            sigma = lambda v: torch.sqrt(v.var(unbiased=False) + norm.eps)  # noqa: E731
            through = (norm(out[None])[0] - norm.bias) * sigma(out) / sigma(x)
        else:  # RMSNorm: linear up to its scale
            eps = getattr(norm, "variance_epsilon", getattr(norm, "eps", None))
            rms = lambda v: torch.sqrt(v.pow(2).mean() + eps)  # noqa: E731
            through = norm(out[None])[0] * rms(out) / rms(x)
        logits = hm.model.get_output_embeddings().weight @ through
    return float(logits[hm.token_id("w1")] - logits[hm.token_id("w2")])


@pytest.mark.parametrize("arch", ["gpt2", "llama", "gemma"])
def test_head_dla_equals_the_heads_output_through_the_frozen_final_norm(arch: str) -> None:
    hm = tiny(arch)
    text = prompt(7)
    cube = hw.scores.direct_logit_attribution(hm, text, "w1", "w2")
    for layer, head in [(0, 1), (1, 3)]:
        expected = reference_head_dla(hm, text, layer, head)
        assert float(cube.sel(layer=layer, head=head)) == pytest.approx(expected, abs=1e-5)


def test_per_query_dla_keeps_every_position_and_its_last_equals_the_default() -> None:
    hm = tiny("llama")
    text = prompt(6)
    per_query = hw.scores.direct_logit_attribution(hm, text, "w1", "w2", per_query=True)
    assert per_query.dims == ("layer", "head", "query")
    last = hw.scores.direct_logit_attribution(hm, text, "w1", "w2")
    np.testing.assert_allclose(per_query.isel(query=-1).values, last.values, atol=1e-6)
    third = hw.scores.direct_logit_attribution(hm, text, "w1", "w2", position=2)
    np.testing.assert_allclose(per_query.isel(query=2).values, third.values, atol=1e-6)
