"""Steering edits at the head site: add (z + α·v) and inject ((1 − α)·z + α·ē)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import headwidgets as hw
from headwidgets import Intervention
from headwidgets.engine.refresh import Refresher
from headwidgets.steering import steering_vectors
from tests._tiny import prompt, tiny

TEXT = prompt(9, seed=4)
SHOTS = [prompt(5, seed=10), prompt(7, seed=11), prompt(6, seed=12)]


@pytest.fixture(scope="module")
def hm() -> hw.HeadModel:
    return tiny("llama")


def _hooked(hm: hw.HeadModel, edit: Any, text: str = TEXT) -> torch.Tensor:
    """Logits with ``edit(layer, z (B, T, H, D))`` applied by a plain pre-hook on o_proj."""

    def pre(module: Any, args: tuple[Any, ...], layer: int) -> tuple[Any, ...]:
        z = args[0].unflatten(-1, (hm.n_heads, hm.head_dim)).clone()
        return (edit(layer, z).flatten(-2),)

    handles = [
        proj.register_forward_pre_hook(lambda m, a, layer=layer: pre(m, a, layer))
        for layer, proj in enumerate(hm.out_projs)
    ]
    try:
        with torch.no_grad():
            return hm.model(hm.tokenize(text).input_ids).logits
    finally:
        for handle in handles:
            handle.remove()


def _edited(hm: hw.HeadModel, spec: Intervention, text: str = TEXT) -> torch.Tensor:
    with torch.no_grad(), hm.intervene(spec):
        return hm.model(hm.tokenize(text).input_ids).logits


def _last_z(hm: hw.HeadModel, text: str) -> dict[int, torch.Tensor]:
    seen: dict[int, torch.Tensor] = {}

    def keep(layer: int, z: torch.Tensor) -> torch.Tensor:
        seen[layer] = z[0, -1].clone()
        return z

    _hooked(hm, keep, text)
    return seen


def test_add_moves_a_head_output_by_alpha_times_the_vector(hm: hw.HeadModel) -> None:
    rng = np.random.default_rng(0)
    v0, v1 = rng.normal(size=hm.head_dim), rng.normal(size=hm.head_dim)
    spec = Intervention.add(
        {(0, 1): v0.tolist(), (1, 3): v1.tolist()}, alpha={(0, 1): 2.0, (1, 3): -0.5}
    )

    def by_hand(layer: int, z: torch.Tensor) -> torch.Tensor:
        if layer == 0:
            z[..., 1, :] += 2.0 * torch.tensor(v0, dtype=z.dtype)
        else:
            z[..., 3, :] += -0.5 * torch.tensor(v1, dtype=z.dtype)
        return z

    want = _hooked(hm, by_hand)
    torch.testing.assert_close(_edited(hm, spec), want, atol=1e-5, rtol=1e-5)
    assert (want - _edited(hm, Intervention())).abs().max() > 1e-3


def test_inject_mixes_a_head_output_toward_its_mean_over_few_shot_prompts(
    hm: hw.HeadModel,
) -> None:
    lasts = [_last_z(hm, shot) for shot in SHOTS]
    mean = {layer: torch.stack([z[layer] for z in lasts]).mean(0) for layer in (0, 1)}
    last = len(hm.tokenize(TEXT)) - 1  # under hm.intervene positions are absolute
    spec = Intervention.inject({(1, 0): 0.25, (0, 2): 1.0}, SHOTS, positions=[last])

    def by_hand(layer: int, z: torch.Tensor) -> torch.Tensor:
        head, alpha = (0, 0.25) if layer == 1 else (2, 1.0)
        z[:, -1, head] = (1 - alpha) * z[:, -1, head] + alpha * mean[layer][head]
        return z

    torch.testing.assert_close(_edited(hm, spec), _hooked(hm, by_hand), atol=1e-5, rtol=1e-5)


def test_steering_edits_round_trip_through_json() -> None:
    spec = Intervention.add({(0, 1): [1.0, 2.5]}, alpha=0.5) | Intervention.inject(
        {(1, 2): 0.75}, ["a b", "c d"], positions=[3]
    )
    text = spec.to_json()
    assert Intervention.from_json(text) == spec
    assert '"vector":[1.0,2.5]' in text and '"mode":"inject"' in text


def test_zero_alpha_steering_is_bit_identical_to_no_edit(hm: hw.HeadModel) -> None:
    v = [1.0] * hm.head_dim
    spec = Intervention.add({(0, 0): v}, alpha=0.0) | Intervention.inject({(1, 1): 0.0}, SHOTS)
    assert torch.equal(_edited(hm, spec), _edited(hm, Intervention()))


def test_batched_rows_with_steering_equal_one_run_each(hm: hw.HeadModel) -> None:
    v = np.linspace(-1, 1, hm.head_dim).tolist()
    specs = [Intervention.add({(1, 2): v}, alpha=a) for a in (0.5, 3.0)] + [
        Intervention.inject({(0, 3): 0.5}, SHOTS),
        Intervention.zero([(0, 0)]),
    ]
    batched = hm.run_batch(TEXT, specs)
    for row, spec in enumerate(specs):
        torch.testing.assert_close(batched[row], _edited(hm, spec)[0], atol=1e-5, rtol=1e-5)


def test_the_refresh_path_applies_steering_edits(hm: hw.HeadModel) -> None:
    refresher = Refresher(hm, TEXT, cuda_graph="off")
    v = [0.3] * hm.head_dim
    for spec in (
        Intervention.add({(0, 1): v}, alpha=2.0),
        Intervention(),
        Intervention.inject({(1, 1): 0.5}, SHOTS),
    ):
        torch.testing.assert_close(
            refresher.logits(spec), _edited(hm, spec)[0, -refresher.keep :], atol=1e-5, rtol=1e-5
        )


def test_steering_vectors_are_mean_differences_at_a_position(hm: hw.HeadModel) -> None:
    positive, negative = SHOTS[:2], [SHOTS[2]]
    vectors = steering_vectors(hm, positive, negative, heads=[(1, 3), (0, 0)])
    assert sorted(vectors) == [(0, 0), (1, 3)]
    lasts = [_last_z(hm, p) for p in positive]
    want = torch.stack([z[1][3] for z in lasts]).mean(0) - _last_z(hm, negative[0])[1][3]
    np.testing.assert_allclose(vectors[(1, 3)], want.numpy(), atol=1e-6)


def test_bad_steering_edits_say_what_is_valid(hm: hw.HeadModel) -> None:
    with pytest.raises(ValueError, match="heads are 8 wide"):
        _edited(hm, Intervention.add({(0, 0): [1.0, 2.0]}))
    with pytest.raises(ValueError, match="needs vector"):
        hw.HeadEdit(0, 0, "add")
    with pytest.raises(ValueError, match="needs reference"):
        Intervention.inject({(0, 0): 0.5}, [])
    with pytest.raises(ValueError, match="no entry for head"):
        Intervention.add({(0, 0): [1.0]}, alpha={(1, 1): 2.0})
    with pytest.raises(ValueError, match="position 9 is out of range"):
        steering_vectors(hm, [prompt(3)], [prompt(3)], position=9)


def test_steering_leaves_no_hooks(hm: hw.HeadModel) -> None:
    _edited(hm, Intervention.add({(0, 0): [1.0] * hm.head_dim}))
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in hm.model.modules())
