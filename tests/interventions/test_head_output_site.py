"""The head intervention engine against independent references (weight edits, plain HF)."""

from __future__ import annotations

import copy
import json

import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention
from headwidgets._compat import call_offset, output_cache
from tests._tiny import ARCHS, checksum, hook_count, prompt, tiny, tiny_model, word_tokenizer


def zero_head_weights(hm: hw.HeadModel, layer: int, head: int) -> torch.nn.Module:
    """A copy of the model with head (layer, head)'s columns of W_O zeroed: the reference."""
    model = copy.deepcopy(hm.model)
    proj = model.get_submodule(hm.layout.blocks_path)[layer].get_submodule(hm.layout.spec.out_proj)
    cols = slice(head * hm.head_dim, (head + 1) * hm.head_dim)
    with torch.no_grad():
        if type(proj).__name__ == "Conv1D":  # GPT-2 stores W as (in, out)
            proj.weight[cols, :] = 0
        else:
            proj.weight[:, cols] = 0
    return model


@pytest.mark.parametrize("arch", ARCHS)
def test_zero_ablation_equals_zeroing_the_heads_output_projection_columns(arch: str) -> None:
    hm = tiny(arch)
    ids = hm.tokenize(prompt(10)).input_ids
    for layer, head in [(0, 1), (1, 3)]:
        reference = zero_head_weights(hm, layer, head)(input_ids=ids).logits
        with torch.no_grad(), hm.intervene(Intervention.zero([(layer, head)])):
            edited = hm.model(input_ids=ids).logits
        plain = hm.model(input_ids=ids).logits
        torch.testing.assert_close(edited, reference, atol=1e-5, rtol=0)
        assert not torch.allclose(plain, reference, atol=1e-5), "the head should matter"


@pytest.mark.parametrize("arch", ARCHS)
def test_scale_one_on_every_head_is_bit_identical_to_no_hooks(arch: str) -> None:
    hm = tiny(arch)
    ids = hm.tokenize(prompt(9)).input_ids
    spec = Intervention.scale(
        {(layer, head): 1.0 for layer in range(hm.n_layers) for head in range(hm.n_heads)}
    )
    with torch.no_grad():
        plain = hm.model(input_ids=ids).logits
        with hm.intervene(spec):
            hooked = hm.model(input_ids=ids).logits
    assert torch.equal(plain, hooked)


def test_scale_one_with_hooks_really_registered_is_still_bit_identical() -> None:
    # identity edits register no hook; force a hook at every site with an explicit multiply
    from headwidgets import interventions as iv

    hm = tiny("llama")
    ids = hm.tokenize(prompt(9)).input_ids
    plans = {layer: iv.LayerEdit(torch.ones(1, 1, hm.n_heads)) for layer in range(hm.n_layers)}
    with torch.no_grad():
        plain = hm.model(input_ids=ids).logits
        with iv.apply_edits(hm.model, hm.out_projs, hm.n_heads, plans):
            assert hook_count(hm.model) > 0
            hooked = hm.model(input_ids=ids).logits
    assert torch.equal(plain, hooked)


def test_resample_with_its_own_prompt_changes_nothing() -> None:
    hm = tiny("llama")
    text = prompt(10)
    out = hm.run_batch(text, [Intervention(), Intervention.resample([(0, 1), (1, 2)], text)])
    torch.testing.assert_close(out[0], out[1], atol=1e-5, rtol=0)


def test_patch_of_every_head_reproduces_the_source_head_outputs() -> None:
    hm = tiny("gpt2")
    clean, corrupt = prompt(10, 1), prompt(10, 2)
    heads = [(layer, head) for layer in range(hm.n_layers) for head in range(hm.n_heads)]
    seen: dict[int, torch.Tensor] = {}
    with torch.no_grad(), hm.intervene(Intervention.patch(heads, source=clean)):
        with hm.capture_z(lambda layer, z: seen.__setitem__(layer, z[0].clone())):
            hm.model(input_ids=hm.tokenize(corrupt).input_ids)
    torch.testing.assert_close(torch.stack([seen[0], seen[1]]), hm.head_z(clean), atol=1e-6, rtol=0)


def test_patch_is_one_behaviour_with_resample_under_one_name() -> None:
    source = prompt(10, 1)
    patched = Intervention.patch([(0, 1), (1, 0)], source=source, positions=[2])
    assert patched == Intervention.resample([(0, 1), (1, 0)], source=source, positions=[2])
    assert {e.mode for e in patched.edits} == {"resample"}
    # a spec written as "patch" (older JSON, hand-written dicts) is read as resample
    old = json.dumps({"edits": [{"layer": 0, "head": 1, "mode": "patch", "source": source}]})
    assert Intervention.from_json(old) == Intervention.resample([(0, 1)], source=source)


@pytest.mark.parametrize("arch", ["llama", "gemma", "qwen3"])
def test_editing_a_gqa_query_head_leaves_the_heads_sharing_its_kv_head_untouched(arch: str) -> None:
    hm = tiny(arch)
    assert hm.n_kv_heads < hm.n_heads
    group = hm.n_heads // hm.n_kv_heads
    head = 1  # shares its key/value head with head 0 (group >= 2)
    text = prompt(9)
    clean = hm.head_z(text)
    seen: dict[int, torch.Tensor] = {}
    with torch.no_grad(), hm.intervene(Intervention.scale({(0, head): 3.0})):
        with hm.capture_z(lambda layer, z: seen.__setitem__(layer, z[0].clone())):
            hm.model(input_ids=hm.tokenize(text).input_ids)
    edited = seen[0]
    sharing = [h for h in range(hm.n_heads) if h // group == head // group and h != head]
    assert sharing
    for other in range(hm.n_heads):
        if other == head:
            torch.testing.assert_close(edited[:, other], 3.0 * clean[0, :, other])
        else:
            assert torch.equal(edited[:, other], clean[0, :, other]), f"head {other} changed"


def test_hooks_are_removed_and_weights_unchanged_after_every_path() -> None:
    hm = tiny("gpt2")
    text = prompt(8)
    before_hooks, before_params = hook_count(hm.model), checksum(hm.model)
    with hm.intervene(Intervention.zero([(0, 0)])):
        assert hook_count(hm.model) > before_hooks
        hm.model(input_ids=hm.tokenize(text).input_ids)
    assert hook_count(hm.model) == before_hooks
    with pytest.raises(RuntimeError, match="boom"):
        with hm.intervene(Intervention.scale({(1, 1): 2.0})):
            raise RuntimeError("boom")
    assert hook_count(hm.model) == before_hooks
    hm.run_batch(text, [Intervention.zero([(1, 2)]), Intervention.mean([(0, 1)], [text])])
    hm.run(text, patterns=True)
    with pytest.raises(ValueError):
        hm.run_batch(text, [Intervention.zero([(9, 0)])])
    assert hook_count(hm.model) == before_hooks
    for old, new in zip(before_params, hm.model.parameters(), strict=True):
        assert torch.equal(old, new)


def test_generate_under_an_intervention_differs_where_the_edit_matters() -> None:
    hm = tiny("gpt2")
    ids = hm.tokenize(prompt(6)).input_ids
    kwargs = {"max_new_tokens": 8, "do_sample": False, "pad_token_id": 0}
    base = hm.model.generate(ids, **kwargs)
    alpha = 40.0
    reference = copy.deepcopy(hm.model)  # the same edit made on the weights of a copy
    with torch.no_grad():
        for block in reference.transformer.h:
            block.attn.c_proj.weight.mul_(alpha)
    every = [(layer, head) for layer in range(hm.n_layers) for head in range(hm.n_heads)]
    with hm.intervene(Intervention.scale(dict.fromkeys(every, alpha))):
        edited = hm.model.generate(ids, **kwargs)
    assert not torch.equal(base, edited)
    assert torch.equal(edited, reference.generate(ids, **kwargs))
    assert torch.equal(hm.model.generate(ids, **kwargs), base)  # nothing left behind


@pytest.mark.parametrize("model_type", ["gpt2", "llama", "gpt_neox", "qwen2", "opt", "phi3"])
def test_generation_with_kv_cache_sees_position_restricted_edits_at_absolute_positions(
    model_type: str,
) -> None:
    hm = tiny(model_type)
    ids = hm.tokenize(prompt(5)).input_ids
    # edit positions inside the prompt and inside the generated continuation
    spec = Intervention.scale({(0, 1): 5.0, (1, 2): -2.0}, positions=[2, 7])
    kwargs = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": 0}
    with hm.intervene(spec):
        cached = hm.model.generate(ids, use_cache=True, **kwargs)
        uncached = hm.model.generate(ids, use_cache=False, **kwargs)
    assert torch.equal(cached, uncached)


def test_the_call_offset_is_read_from_the_cache_whatever_its_keyword() -> None:
    from transformers import DynamicCache

    hm = tiny("llama")
    ids = hm.tokenize(prompt(5)).input_ids
    out = hm.model(input_ids=ids, use_cache=True)
    cache = output_cache(out)
    assert isinstance(cache, DynamicCache) and cache.get_seq_length() == ids.shape[1]
    for keyword in ("cache", "past_key_values", "some_future_name"):
        assert call_offset((), {keyword: cache, "input_ids": ids[:, :1]}) == ids.shape[1]
    assert call_offset((ids, cache), {}) == ids.shape[1]
    assert call_offset((), {"cache_position": torch.tensor([4, 5])}) == 4
    assert call_offset((), {"input_ids": ids}) == 0


def test_an_edit_whose_head_site_did_not_run_is_an_error_not_a_silent_no_op() -> None:
    hm = tiny("gpt2")
    ids = hm.tokenize(prompt(5)).input_ids
    block = hm.model.transformer.h[1]
    bound = block.attn.c_proj
    block.attn.c_proj = copy.deepcopy(bound)  # the forward no longer calls the bound module
    try:
        with hm.intervene(Intervention.zero([(0, 1)])):
            hm.model(input_ids=ids)  # layer 0's site still runs: fine
        with (
            pytest.raises(RuntimeError, match=r"head site of layer\(s\) \[1\] did not run"),
            hm.intervene(Intervention.zero([(0, 1), (1, 2)])),
        ):
            hm.model(input_ids=ids)
        assert hook_count(hm.model) == 0
    finally:
        block.attn.c_proj = bound


def test_head_z_is_the_input_of_the_output_projection() -> None:
    hm = tiny("gpt2")
    text = prompt(7)
    seen = []
    proj = hm.out_projs[1]
    handle = proj.register_forward_pre_hook(lambda m, args: seen.append(args[0][0].clone()))
    try:
        hm.model(input_ids=hm.tokenize(text).input_ids)
    finally:
        handle.remove()
    z = hm.head_z(text)[1]  # (T, H, D)
    torch.testing.assert_close(z.flatten(-2), seen[0])


def test_patterns_come_back_for_the_call_and_the_attention_setting_is_restored() -> None:
    hm = tiny("llama")
    before = hm.model.config._attn_implementation
    assert before != "eager"
    out = hm.run([prompt(6), prompt(9, 1)], patterns=True)
    assert out.patterns is not None
    assert out.patterns.shape == (2, hm.n_layers, hm.n_heads, 10, 10)
    rows = out.patterns[1].sum(-1)
    torch.testing.assert_close(rows, torch.ones_like(rows))
    assert hm.model.config._attn_implementation == before
    ref = hm.model
    ref.set_attn_implementation("eager")
    try:
        expected = ref(input_ids=hm.tokenize(prompt(9, 1)).input_ids, output_attentions=True)
    finally:
        ref.set_attn_implementation(before)
    torch.testing.assert_close(out.patterns[1, 1], expected.attentions[1][0], atol=1e-6, rtol=0)


def test_bind_reads_the_head_layout() -> None:
    hm = hw.bind(tiny_model("gemma"), word_tokenizer())
    assert (hm.n_layers, hm.n_heads, hm.n_kv_heads, hm.head_dim) == (2, 4, 1, 16)
    assert hm.is_causal
    assert not tiny("bert").is_causal
    tok = hm.tokenize("w1 w2 w3")
    assert tok.tokens == ["<bos>", "w1", "w2", "w3"]
    assert tok["input_ids"].shape == (1, 4)


def test_positions_from_the_end_need_a_known_prompt_length() -> None:
    hm = tiny("gpt2")
    text = prompt(6)
    spec = Intervention.scale({(1, 2): 0.0}, positions=[-1])
    last = len(hm.tokenize(text).tokens) - 1
    absolute = Intervention.scale({(1, 2): 0.0}, positions=[last])
    torch.testing.assert_close(hm.run_batch(text, [spec]), hm.run_batch(text, [absolute]))
    with pytest.raises(ValueError, match=r"positions \[-1\] count from the end.*0\.\.T-1"):
        hm.run(text, intervention=spec)
