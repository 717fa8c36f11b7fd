"""Edits inside attention (interventions/attention*.py, vectors.py) against hand computations
from HF's eager run."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention
from headwidgets.interventions import SUPPORTED_MODEL_TYPES, AttentionSiteError
from tests._tiny import ARCHS, prompt, tiny

SITE_ARCHS = [a for a in ARCHS if a in SUPPORTED_MODEL_TYPES]
LAYER = 1  # edits sit in the last layer of the tiny models: its q, k, v are those of the clean run


@pytest.fixture(scope="module")
def llama() -> hw.HeadModel:
    return tiny("llama")  # GQA: 4 query heads share 2 key/value heads


@pytest.fixture(scope="module")
def gpt2() -> hw.HeadModel:
    return tiny("gpt2")


def every_head(hm: hw.HeadModel, value: float) -> dict[tuple[int, int], float]:
    return {(layer, head): value for layer in range(hm.n_layers) for head in range(hm.n_heads)}


def z_of(hm: hw.HeadModel, text: str, spec: Intervention | None = None) -> torch.Tensor:
    """z (T, H, D) of layer LAYER under ``spec`` (z edits included: read after them)."""
    seen: dict[int, torch.Tensor] = {}

    def keep(layer: int, z: torch.Tensor) -> None:
        seen[layer] = z[0].detach().clone()

    ids = hm.tokenize(text).input_ids
    with torch.no_grad(), hm.intervene(spec or Intervention()), hm.capture_z(keep):
        hm.model(input_ids=ids)
    return seen[LAYER]


_RECORDED: dict[str, Any] = {}


def eager_qkv(hm: hw.HeadModel, text: str) -> dict[str, Any]:
    """q, k, v, mask and scaling of layer LAYER as HF's own eager attention receives them."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    module = hm.attention_modules[LAYER]
    eager = importlib.import_module(type(module).__module__).eager_attention_forward

    def record(mod: Any, q: Any, k: Any, v: Any, mask: Any, **kwargs: Any) -> Any:
        if mod is module:
            _RECORDED.update(q=q[0], k=k[0], v=v[0], mask=mask, scaling=kwargs.get("scaling"))
        return eager(mod, q, k, v, mask, **kwargs)

    AttentionInterface.register("test_record", record)
    AttentionMaskInterface.register("test_record", eager_mask)
    before = hm.model.config._attn_implementation
    hm.model.set_attn_implementation("test_record")
    try:
        with torch.no_grad():
            hm.model(input_ids=hm.tokenize(text).input_ids)
    finally:
        hm.model.set_attn_implementation(before)
    return dict(_RECORDED)


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Row softmax written out."""
    shifted = torch.exp(logits - logits.max(dim=-1, keepdim=True).values)
    return shifted / shifted.sum(dim=-1, keepdim=True)


def hand_logits(rec: dict[str, Any], head: int, n_heads: int) -> torch.Tensor:
    kv = head // (n_heads // rec["k"].shape[0])
    logits = rec["q"][head] @ rec["k"][kv].T * rec["scaling"]
    n = logits.shape[0]
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    return logits.masked_fill(~causal, float("-inf"))


def hand_value(rec: dict[str, Any], head: int, n_heads: int) -> torch.Tensor:
    return rec["v"][head // (n_heads // rec["k"].shape[0])]


def renorm(weights: torch.Tensor) -> torch.Tensor:
    return weights / weights.sum(dim=-1, keepdim=True)


def _keep(n: int, width: int, sinks: int) -> torch.Tensor:
    q = torch.arange(n)[:, None]
    k = torch.arange(n)[None, :]
    return ((k < sinks) | (q - k < width)).float()


def _previous(n: int) -> torch.Tensor:
    target = torch.zeros(n, n)
    target[0, 0] = 1.0
    for q in range(1, n):
        target[q, q - 1] = 1.0
    return target


HAND: dict[str, tuple[Callable[[hw.HeadModel, int], Intervention], Callable[..., torch.Tensor]]] = {
    "temperature 0.5": (
        lambda hm, h: Intervention.temperature({(LAYER, h): 0.5}),
        lambda L: softmax(L / 0.5),
    ),
    "temperature 3": (
        lambda hm, h: Intervention.temperature({(LAYER, h): 3.0}),
        lambda L: softmax(L / 3.0),
    ),
    "sink 0.25": (
        lambda hm, h: Intervention.sink({(LAYER, h): 0.25}),
        lambda L: renorm(softmax(L) * torch.tensor([0.25] + [1.0] * (L.shape[1] - 1))),
    ),
    "reweight 3 on keys 2 and 4": (
        lambda hm, h: Intervention.reweight({(LAYER, h): 3.0}, keys=[2, 4]),
        lambda L: renorm(
            softmax(L) * torch.tensor([3.0 if k in (2, 4) else 1.0 for k in range(L.shape[1])])
        ),
    ),
    "mix 0.4 toward uniform": (
        lambda hm, h: Intervention.mix({(LAYER, h): 0.4}, toward="uniform"),
        lambda L: 0.6 * softmax(L) + 0.4 * renorm(torch.ones_like(L).tril()),
    ),
    "mix 0.7 toward previous": (
        lambda hm, h: Intervention.mix({(LAYER, h): 0.7}, toward="previous"),
        lambda L: 0.3 * softmax(L) + 0.7 * _previous(L.shape[0]),
    ),
    "window 3, 1 sink": (
        lambda hm, h: Intervention.window({(LAYER, h): 3}, sinks=1),
        lambda L: renorm(softmax(L) * _keep(L.shape[0], 3, 1)),
    ),
}


@pytest.mark.parametrize("arch", SITE_ARCHS)
def test_neutral_settings_equal_the_unedited_run(arch: str) -> None:
    hm = tiny(arch)
    ids = hm.tokenize(prompt(10)).input_ids
    with torch.no_grad():
        plain = hm.model(input_ids=ids).logits
        specs = [
            Intervention.temperature(every_head(hm, 1.0)),
            Intervention.sink(every_head(hm, 1.0)),
            Intervention.reweight(every_head(hm, 1.0), keys=[1, 3]),
            Intervention.mix(every_head(hm, 0.0), toward="previous"),
            Intervention.window({k: 64 for k in every_head(hm, 0)}, sinks=0),
        ]
        for spec in specs:
            with hm.intervene(spec):
                edited = hm.model(input_ids=ids).logits
            torch.testing.assert_close(edited, plain, atol=1e-5, rtol=0)
        with hm.intervene(Intervention.mix(every_head(hm, 1.0), toward="previous")):
            moved = hm.model(input_ids=ids).logits
    assert not torch.allclose(moved, plain, atol=1e-4), "a real edit should change the output"


@pytest.mark.parametrize("name", sorted(HAND))
@pytest.mark.parametrize("which", ["llama", "gpt2"])
def test_each_edit_gives_the_head_output_of_the_hand_computation(
    name: str, which: str, request: pytest.FixtureRequest
) -> None:
    hm: hw.HeadModel = request.getfixturevalue(which)
    text = prompt(8)
    rec = eager_qkv(hm, text)
    make, expected_pattern = HAND[name]
    head = 2
    pattern = expected_pattern(hand_logits(rec, head, hm.n_heads))
    torch.testing.assert_close(pattern.sum(-1), torch.ones(pattern.shape[0]))
    expected = pattern @ hand_value(rec, head, hm.n_heads)
    edited = z_of(hm, text, make(hm, head))
    torch.testing.assert_close(edited[:, head], expected, atol=1e-5, rtol=1e-4)
    plain = z_of(hm, text)
    assert not torch.allclose(plain[:, head], expected, atol=1e-4), "the edit should matter"


def test_sink_zero_leaves_the_first_row_as_it_was(gpt2: hw.HeadModel) -> None:
    text = prompt(6)
    edited = z_of(gpt2, text, Intervention.sink({(LAYER, 0): 0.0}))
    plain = z_of(gpt2, text)
    torch.testing.assert_close(edited[0, 0], plain[0, 0], atol=1e-6, rtol=0)
    assert not torch.allclose(edited[1:, 0], plain[1:, 0], atol=1e-5)


def test_mix_one_toward_identity_makes_z_equal_the_heads_value(llama: hw.HeadModel) -> None:
    text = prompt(8)
    rec = eager_qkv(llama, text)
    for head in range(llama.n_heads):
        edited = z_of(llama, text, Intervention.mix({(LAYER, head): 1.0}, toward="identity"))
        torch.testing.assert_close(edited[:, head], hand_value(rec, head, llama.n_heads))


def test_editing_a_query_head_leaves_its_gqa_siblings_unchanged(llama: hw.HeadModel) -> None:
    text = prompt(8)
    plain = z_of(llama, text)
    edited = z_of(llama, text, Intervention.temperature({(LAYER, 0): 0.3}))
    assert llama.n_kv_heads == 2  # heads 0 and 1 share key/value head 0
    assert not torch.allclose(edited[:, 0], plain[:, 0], atol=1e-4)
    torch.testing.assert_close(edited[:, 1:], plain[:, 1:], atol=0, rtol=0)


def test_query_positions_restrict_the_edit(gpt2: hw.HeadModel) -> None:
    text = prompt(8)
    plain = z_of(gpt2, text)
    edited = z_of(gpt2, text, Intervention.sink({(LAYER, 0): 0.0}, positions=[5, 6]))
    changed = (edited[:, 0] - plain[:, 0]).abs().amax(dim=-1) > 1e-6
    assert changed.nonzero().reshape(-1).tolist() == [5, 6]


def test_token_string_keys_are_the_positions_holding_that_token(gpt2: hw.HeadModel) -> None:
    words = "w5 w7 w9 w7 w3 w7 w1".split()
    text = " ".join(words)
    positions = [i + 1 for i, w in enumerate(words) if w == "w7"]  # +1: the BOS
    by_text = z_of(gpt2, text, Intervention.reweight({(LAYER, 1): 0.0}, keys=["w7"]))
    by_position = z_of(gpt2, text, Intervention.reweight({(LAYER, 1): 0.0}, keys=positions))
    torch.testing.assert_close(by_text, by_position, atol=0, rtol=0)
    assert not torch.allclose(by_text, z_of(gpt2, text), atol=1e-5)


def test_attention_and_z_edits_compose_in_one_spec(gpt2: hw.HeadModel) -> None:
    text = prompt(8)
    sink = Intervention.sink({(LAYER, 0): 0.0})
    both = sink | Intervention.scale({(LAYER, 0): 2.0, (LAYER, 3): 0.0})
    edited = z_of(gpt2, text, both)
    torch.testing.assert_close(edited[:, 0], 2.0 * z_of(gpt2, text, sink)[:, 0])
    assert edited[:, 3].abs().max() == 0
    assert Intervention.from_json(both.to_json()) == both
    assert json.loads(both.to_json())["attention"][0]["kind"] == "sink"


def test_a_z_only_spec_serialises_as_before() -> None:
    assert Intervention.zero([(0, 1)]).to_json() == (
        '{"edits":[{"head":1,"layer":0,"mode":"zero"}]}'
    )


def test_cached_generation_equals_uncached_generation_under_attention_edits(
    llama: hw.HeadModel,
) -> None:
    spec = (
        Intervention.window({(0, 1): 2}, sinks=1)
        | Intervention.sink({(1, 0): 0.0}, positions=[3, 9, 11])
        | Intervention.reweight({(1, 3): 0.1}, keys=[2])
        | Intervention.mix({(1, 2): 0.5}, toward="previous")
        | Intervention.reweight({(0, 3): 0.2}, keys=[prompt(6).split()[1]])
    )
    ids = llama.tokenize(prompt(6)).input_ids
    with torch.no_grad(), llama.intervene(spec):
        cached = llama.model.generate(ids, max_new_tokens=8, do_sample=False, use_cache=True)
        uncached = llama.model.generate(ids, max_new_tokens=8, do_sample=False, use_cache=False)
        full = llama.model(input_ids=cached).logits
    assert torch.equal(cached, uncached)
    with torch.no_grad():
        plain = llama.model(input_ids=cached).logits
    assert not torch.allclose(full, plain, atol=1e-4)


def test_the_users_attention_implementation_and_weights_survive_every_exit(
    llama: hw.HeadModel,
) -> None:
    before = llama.model.config._attn_implementation
    weights = [p.detach().clone() for p in llama.model.parameters()]
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in llama.model.modules())
    ids = llama.tokenize(prompt(6)).input_ids
    with llama.intervene(Intervention.temperature({(1, 0): 2.0})):
        assert llama.model.config._attn_implementation == "headwidgets"
        llama.model(input_ids=ids)
    with (
        pytest.raises(RuntimeError, match="inside"),
        llama.intervene(Intervention.sink({(1, 0): 0.0})),
    ):
        raise RuntimeError("inside the block")
    missing = Intervention.reweight({(1, 0): 0.0}, keys=["w99"])
    with pytest.raises(ValueError, match="does not occur in the prompt"), llama.intervene(missing):
        llama.model(input_ids=ids)
    with (
        llama.intervene(Intervention.sink({(1, 0): 0.0})),
        llama.intervene(  # nested blocks
            Intervention.sink({(1, 1): 0.0})
        ),
    ):
        llama.model(input_ids=ids)
    assert llama.model.config._attn_implementation == before
    assert all(torch.equal(a, b) for a, b in zip(weights, llama.model.parameters(), strict=True))
    assert hooks == sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) for m in llama.model.modules()
    )


def test_an_eager_users_kernel_stays_eager() -> None:
    hm = tiny("gemma2")  # transformers picks eager for gemma2 (logit softcapping)
    assert hm.model.config._attn_implementation == "eager"
    ids = hm.tokenize(prompt(6)).input_ids
    with torch.no_grad():
        plain = hm.model(input_ids=ids).logits
        with hm.intervene(Intervention.sink(every_head(hm, 1.0))):
            same = hm.model(input_ids=ids).logits
    torch.testing.assert_close(same, plain, atol=1e-5, rtol=0)
    assert hm.model.config._attn_implementation == "eager"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Intervention.temperature({(0, 0): 0.0}), "τ > 0"),
        (lambda: Intervention.temperature({(0, 0): -1.0}), "τ > 0"),
        (lambda: Intervention.sink({(0, 0): -0.5}), "β ≥ 0"),
        (lambda: Intervention.mix({(0, 0): 1.5}), r"0 ≤ t ≤ 1"),
        (lambda: Intervention.mix({(0, 0): -0.1}), r"0 ≤ t ≤ 1"),
        (lambda: Intervention.mix({(0, 0): 0.5}, toward="diagonal"), "identity, uniform, previous"),  # type: ignore[arg-type]
        (lambda: Intervention.window({(0, 0): 0}), "w ≥ 1"),
        (lambda: Intervention.window({(0, 0): 2.5}), "w ≥ 1"),
        (lambda: Intervention.reweight({(0, 0): -1.0}, keys=[1]), "g ≥ 0"),
        (lambda: Intervention.reweight({(0, 0): 0.0}, keys=[]), "non-empty"),
    ],
)
def test_bad_parameters_name_the_valid_range(make: Callable[[], Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_a_head_out_of_range_names_the_valid_heads(gpt2: hw.HeadModel) -> None:
    with (
        pytest.raises(ValueError, match="valid query heads are 0..3"),
        gpt2.intervene(Intervention.sink({(1, 4): 0.0})),
    ):
        pass


def test_a_model_without_the_interface_gets_an_error_naming_those_with_it() -> None:
    hm = tiny("gpt_neo")
    before = hm.model.config._attn_implementation
    with (
        pytest.raises(AttentionSiteError, match="gpt2, gpt_neox"),
        hm.intervene(Intervention.sink({(0, 0): 0.0})),
    ):
        pass
    assert hm.model.config._attn_implementation == before


def test_the_supported_list_is_every_tiny_architecture_that_switches() -> None:
    from transformers import PreTrainedModel

    switches = []
    for arch in ARCHS:
        model = tiny(arch).model
        assert isinstance(model, PreTrainedModel)
        try:
            from headwidgets.interventions import check_dispatch

            check_dispatch(model)
            switches.append(arch)
        except AttentionSiteError:
            pass
    assert tuple(sorted(switches)) == SUPPORTED_MODEL_TYPES


def test_run_batch_rows_equal_one_edited_run_each(llama: hw.HeadModel) -> None:
    text = prompt(10)
    specs = [
        Intervention.sink({(1, 2): 0.0}),
        Intervention.temperature({(0, 3): 0.5}) | Intervention.zero([(1, 0)]),
        Intervention.reweight({(1, 1): 0.0}, keys=[text.split()[3]]),
        Intervention.window({(0, 0): 2}, sinks=1),
        Intervention(),
    ]
    batched = llama.run_batch(text, specs, chunk_size=2)
    for row, spec in enumerate(specs):
        with torch.no_grad(), llama.intervene(spec):
            alone = llama.model(input_ids=llama.tokenize(text).input_ids).logits[0]
        torch.testing.assert_close(batched[row], alone, atol=1e-5, rtol=0)


def test_an_all_heads_sink_sweep_is_one_forward_pass(gpt2: hw.HeadModel) -> None:
    heads = [(layer, head) for layer in range(gpt2.n_layers) for head in range(gpt2.n_heads)]
    specs = [Intervention.sink({h: 0.0}) for h in heads]
    calls = []
    handle = gpt2.model.register_forward_pre_hook(lambda *args: calls.append(1))
    try:
        values, clean = gpt2.sweep_values(prompt(10), hw.Metric("loss"), specs)
    finally:
        handle.remove()
    assert len(calls) == 1
    with torch.no_grad(), gpt2.intervene(specs[5]):
        logits = gpt2.model(input_ids=gpt2.tokenize(prompt(10)).input_ids).logits
    ids = gpt2.tokenize(prompt(10)).input_ids
    loss = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
    torch.testing.assert_close(values[5], loss, atol=1e-5, rtol=0)
    assert bool((values != clean).any()), "the edits should move the metric"


# -- q / k / v edits ---------------------------------------------------------------------


def causal_logits(q: torch.Tensor, k: torch.Tensor, scaling: float) -> torch.Tensor:
    logits = q @ k.T * scaling
    n = logits.shape[0]
    return logits.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf"))


def test_qkv_reads_equal_what_hf_eager_attention_receives(llama: hw.HeadModel) -> None:
    text = prompt(8)
    rec = eager_qkv(llama, text)
    read = llama.head_qkv(text)
    for name in ("q", "k", "v"):
        torch.testing.assert_close(read[name][LAYER], rec[name], atol=1e-6, rtol=0)
    assert read["k"].shape[1] == llama.n_kv_heads


def test_adding_to_a_query_gives_the_hand_computed_head_output(llama: hw.HeadModel) -> None:
    text = prompt(8)
    rec = eager_qkv(llama, text)
    direction = torch.linspace(-1.0, 1.0, llama.head_dim)
    head = 3
    spec = Intervention.qkv_add("q", {(LAYER, head): 2.0}, direction.tolist())
    q = rec["q"][head] + 2.0 * direction
    expected = softmax(causal_logits(q, rec["k"][1], rec["scaling"])) @ rec["v"][1]
    torch.testing.assert_close(z_of(llama, text, spec)[:, head], expected, atol=1e-5, rtol=1e-4)


def test_projecting_out_of_a_key_gives_the_hand_computed_head_output(llama: hw.HeadModel) -> None:
    text = prompt(8)
    rec = eager_qkv(llama, text)
    direction = torch.linspace(1.0, 2.0, llama.head_dim)
    unit = direction / direction.norm()
    k = rec["k"][0] - (rec["k"][0] @ unit)[:, None] * unit
    spec = Intervention.qkv_project("k", [(LAYER, 0)], direction.tolist())
    edited = z_of(llama, text, spec)
    for head in (0, 1):  # key/value head 0 serves query heads 0 and 1
        expected = softmax(causal_logits(rec["q"][head], k, rec["scaling"])) @ rec["v"][0]
        torch.testing.assert_close(edited[:, head], expected, atol=1e-5, rtol=1e-4)


def test_editing_a_key_value_head_changes_exactly_its_group(llama: hw.HeadModel) -> None:
    text = prompt(8)
    plain = z_of(llama, text)
    spec = Intervention.qkv_add("v", {(LAYER, 1): 1.0}, [0.5] * llama.head_dim)
    edited = z_of(llama, text, spec)
    changed = [not torch.equal(edited[:, h], plain[:, h]) for h in range(llama.n_heads)]
    assert changed == [False, False, True, True]


def test_patching_values_uses_the_source_runs_values(llama: hw.HeadModel) -> None:
    text, other = prompt(8), prompt(8, seed=3)
    rec = eager_qkv(llama, text)
    source_v = eager_qkv(llama, other)["v"][1]
    edited = z_of(llama, text, Intervention.qkv_patch("v", [(LAYER, 1)], other))
    expected = softmax(causal_logits(rec["q"][2], rec["k"][1], rec["scaling"])) @ source_v
    torch.testing.assert_close(edited[:, 2], expected, atol=1e-5, rtol=1e-4)


def test_a_key_value_head_out_of_range_names_the_valid_range(llama: hw.HeadModel) -> None:
    spec = Intervention.qkv_add("k", {(LAYER, 2): 1.0}, [1.0] * llama.head_dim)
    with pytest.raises(ValueError, match=r"valid key/value heads are 0..1"), llama.intervene(spec):
        pass


def test_cached_generation_equals_uncached_under_qkv_edits(llama: hw.HeadModel) -> None:
    direction = torch.linspace(-2.0, 2.0, llama.head_dim).tolist()
    spec = Intervention.qkv_add("k", {(0, 1): 3.0}, direction, positions=[2, 8]) | (
        Intervention.qkv_project("q", [(1, 2)], direction)
    )
    ids = llama.tokenize(prompt(6)).input_ids
    with torch.no_grad(), llama.intervene(spec):
        cached = llama.model.generate(ids, max_new_tokens=8, do_sample=False, use_cache=True)
        uncached = llama.model.generate(ids, max_new_tokens=8, do_sample=False, use_cache=False)
    assert torch.equal(cached, uncached)
    assert Intervention.from_json(spec.to_json()) == spec


def test_the_refresher_runs_attention_edits_instead_of_dropping_them(gpt2: hw.HeadModel) -> None:
    from headwidgets.engine.refresh import Refresher

    text = prompt(8)
    spec = Intervention.sink({(1, 0): 0.0}) | Intervention.zero([(0, 2)])
    with torch.no_grad(), gpt2.intervene(spec):
        expected = gpt2.model(input_ids=gpt2.tokenize(text).input_ids).logits[0, -1]
    got = Refresher(gpt2, text, cuda_graph="off").logits(spec)[-1]
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


DECODERS = [a for a in SITE_ARCHS if a not in ("bert", "roberta", "distilbert")]


@pytest.mark.parametrize("arch", DECODERS)
def test_cached_steps_give_the_logits_of_the_uncached_edited_run(arch: str) -> None:
    from headwidgets._compat import cache_kwargs, output_cache

    hm = tiny(arch)
    text = prompt(12)
    direction = torch.linspace(-1.0, 1.0, hm.head_dim).tolist()
    spec = (
        Intervention.window({(0, 1): 3}, sinks=1)
        | Intervention.sink({(1, 0): 0.0}, positions=[4, 9, 11])
        | Intervention.reweight({(1, 2): 0.1}, keys=[text.split()[2]])
        | Intervention.mix({(1, 3): 0.5}, toward="uniform")
        | Intervention.temperature({(0, 2): 0.5})
        | Intervention.qkv_add("k", {(0, 0): 2.0}, direction, positions=[2, 10])
    )
    ids = hm.tokenize(text).input_ids
    with torch.no_grad(), hm.intervene(spec):
        full = hm.model(input_ids=ids).logits[0]
        out = hm.model(input_ids=ids[:, :7], use_cache=True)
        steps = [out.logits[0]]
        for position in range(7, ids.shape[1]):
            cache = output_cache(out)
            out = hm.model(
                input_ids=ids[:, position : position + 1],
                use_cache=True,
                **cache_kwargs(hm.model, cache),
            )
            steps.append(out.logits[0])
    torch.testing.assert_close(torch.cat(steps), full, atol=1e-5, rtol=0)
    with torch.no_grad():
        plain = hm.model(input_ids=ids).logits[0]
    assert not torch.allclose(plain, full, atol=1e-4)


def test_a_repeated_attention_sweep_reuses_its_edits_and_gives_the_same_values(
    llama: hw.HeadModel,
) -> None:
    text = prompt(9)
    specs = [Intervention.sink({(layer, head): 0.0}) for layer in (0, 1) for head in range(4)]
    first, clean = llama.sweep_values(text, hw.Metric("loss"), specs)
    again, _ = llama.sweep_values(text, hw.Metric("loss"), specs)
    other, _ = llama.sweep_values(text, hw.Metric("loss"), specs[::-1])
    torch.testing.assert_close(again, first, atol=0, rtol=0)
    torch.testing.assert_close(other, first.flip(0), atol=1e-6, rtol=0)
    assert bool((first != clean).any())
