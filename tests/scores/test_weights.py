"""OV copying: the cheap small-matrix eigenvalues against the full token-space circuit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import headwidgets as hw
from headwidgets.scores import weights
from tests._tiny import tiny


def full_circuit_score(hm, layer: int, head: int, ids: list[int]) -> float:
    """Re(Σλ)/Σ|λ| of the full (k × k) matrix W_U W_O^h W_V^h W_E^T, weights read here."""
    model = hm.model
    d, dh = hm.d_model, hm.head_dim
    emb = model.get_input_embeddings().weight.detach().double().numpy()[ids]
    unemb = model.get_output_embeddings().weight.detach().double().numpy()[ids]
    if hm.layout.model_type == "gpt2":
        attn = model.transformer.h[layer].attn
        w_v = attn.c_attn.weight.detach().double().numpy()[:, 2 * d :].T  # Conv1D: x @ W
        w_o = attn.c_proj.weight.detach().double().numpy().T
        v_rows = w_v[head * dh : (head + 1) * dh]
    else:
        attn = model.model.layers[layer].self_attn
        kv = head // (hm.n_heads // hm.n_kv_heads)
        v_rows = attn.v_proj.weight.detach().double().numpy()[kv * dh : (kv + 1) * dh]
        w_o = attn.o_proj.weight.detach().double().numpy()
    circuit = unemb @ w_o[:, head * dh : (head + 1) * dh] @ v_rows @ emb.T
    eig = np.linalg.eigvals(circuit)
    return float(eig.real.sum() / np.abs(eig).sum())


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_ov_copying_equals_the_full_token_circuit_eigenvalue_ratio(arch: str) -> None:
    hm = tiny(arch)
    cube = hw.scores.ov_copying(hm, k=60, fold_norms=False)
    ids = [i for i in range(hm.vocab_size) if i not in hm.tokenizer.all_special_ids][:60]
    for layer, head in [(0, 0), (1, 3), (0, 2)]:
        expected = full_circuit_score(hm, layer, head, ids)
        assert float(cube.sel(layer=layer, head=head)) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_constructed_copying_head_scores_plus_one_and_its_negation_minus_one(sign) -> None:
    hm = tiny("gpt2")  # tied embeddings: W_U = W_E
    d, dh = hm.d_model, hm.head_dim
    attn = hm.model.transformer.h[1].attn
    a = torch.randn(dh, d, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        attn.c_attn.weight[:, 2 * d + 2 * dh : 2 * d + 3 * dh] = a.T  # W_V of head 2
        attn.c_proj.weight[2 * dh : 3 * dh, :] = sign * a  # W_O^2 = ±Aᵀ (Conv1D stores Wᵀ)
    score = hw.scores.ov_copying(hm, fold_norms=False).sel(layer=1, head=2)
    assert float(score) == pytest.approx(sign, abs=1e-5)


def test_folded_scores_stay_between_minus_one_and_one_and_record_their_parameters() -> None:
    for arch in ["gpt2", "gemma", "gpt_neox"]:
        cube = hw.scores.ov_copying(tiny(arch), k=50)
        assert float(cube.min()) >= -1 and float(cube.max()) <= 1
        assert cube.attrs["units"] == "ratio" and '"k": 50' in cube.attrs["params"]


def test_value_weight_reads_each_architectures_value_projection() -> None:
    gpt2 = tiny("gpt2")
    d = gpt2.d_model
    torch.testing.assert_close(
        weights.value_weight(gpt2, 1), gpt2.model.transformer.h[1].attn.c_attn.weight[:, 2 * d :].T
    )
    llama = tiny("llama")
    assert weights.value_weight(llama, 0).shape == (
        llama.n_kv_heads * llama.head_dim,
        llama.d_model,
    )
    neox = tiny("gpt_neox")
    fused = neox.model.gpt_neox.layers[0].attention.query_key_value.weight
    per_head = fused.view(neox.n_heads, 3 * neox.head_dim, neox.d_model)
    torch.testing.assert_close(
        weights.value_weight(neox, 0),
        per_head[:, 2 * neox.head_dim :].reshape(-1, neox.d_model),
    )


def test_frequencies_and_explicit_tokens_choose_the_restriction() -> None:
    hm = tiny("gpt2")
    freq = np.zeros(hm.vocab_size)
    freq[[10, 20, 30]] = [3, 2, 1]
    by_freq = hw.scores.ov_copying(hm, k=3, frequencies=freq, fold_norms=False)
    by_ids = hw.scores.ov_copying(hm, tokens=[10, 20, 30], fold_norms=False)
    np.testing.assert_allclose(by_freq.values, by_ids.values, atol=1e-6)
    with pytest.raises(ValueError, match="one count per token id"):
        hw.scores.ov_copying(hm, frequencies=[1.0, 2.0])
    with pytest.raises(ValueError, match="k must be >= 1"):
        hw.scores.ov_copying(hm, k=0)
