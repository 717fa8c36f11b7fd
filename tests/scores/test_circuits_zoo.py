"""Circuits on the shipped models: induction-2l (K-composition) and circuits-4l (IOI by
subject suppressors: V-composition, head sets, self-repair, steering)."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest

import headwidgets as hw
from headwidgets.datasets.tasks import induction_vocab


@pytest.fixture(scope="module")
def induction() -> hw.HeadModel:
    return hw.load("induction-2l", device="cpu")


def _repeats(n: int = 6, length: int = 10, seed: int = 0) -> tuple[list[str], list[str], list]:
    """BOS + R + R[:6]; the corruption replaces R[5] in the first copy (the earlier occurrence
    of the current token), so only the key side of induction can tell where to look."""
    words = [w for w in induction_vocab() if not w.startswith("<")]
    rng = random.Random(seed)
    cleans, corrupts, metrics = [], [], []
    for _ in range(n):
        r = rng.sample(words, length)
        other = rng.choice([w for w in words if w not in r])
        clean = r + r[:6]
        bad = list(clean)
        bad[5] = other
        cleans.append(" ".join(clean))
        corrupts.append(" ".join(bad))
        metrics.append(hw.Metric("logit_diff", target=" " + r[6], distractor=" " + r[5]))
    return cleans, corrupts, metrics


def test_induction_2l_previous_token_head_reaches_the_induction_heads_through_their_keys(
    induction: hw.HeadModel,
) -> None:
    cleans, corrupts, metrics = _repeats()
    receivers = [(1, head) for head in range(4)]
    cube = hw.scores.path_patching(
        induction, cleans, corrupts, metrics, receivers=receivers, normalize=True, reduce="mean"
    )
    from_prev = cube.sel(layer=0, head=1)  # head 0.1, the previous-token head
    keys, queries = from_prev.sel(input="k").values, from_prev.sel(input="q").values
    # K-composition: through the keys of the four layer-1 heads, most of the effect
    assert keys.sum() > 0.8
    assert (keys > 0.1).all()
    # and through their queries, almost nothing
    assert np.abs(queries).max() < 0.02
    # no other layer-0 head comes close through the keys
    others = cube.sel(layer=0, head=[0, 2, 3], input="k").values
    assert np.abs(others).max() < 0.1 * keys.max()


# -- circuits-4l: IOI by subject suppressors (see its card), not by name movers ---------------

CARD_HEADS = {(0, 3), (2, 3), (0, 0), (3, 0), (3, 1)}  # ablation costs > 1.5 (the card)
SUPPRESSORS = [(2, 3), (3, 0)]


@pytest.fixture(scope="module")
def circuits() -> hw.HeadModel:
    return hw.load("circuits-4l", device="cpu")


@pytest.fixture(scope="module")
def heldout(circuits: hw.HeadModel) -> Any:
    return hw.datasets.ioi(4, hm=circuits, seed=424242, split="heldout")


def test_circuits_4l_head_0_3_reaches_the_subject_suppressors_through_their_values(
    circuits: hw.HeadModel, heldout: Any
) -> None:
    # the corruption replaces S2 by a third name; 0.3 moves S2 into the article, which the
    # suppressors read: V-composition, not Q or K
    cube = hw.scores.path_patching(
        circuits,
        heldout.prompts,
        heldout.corrupted,
        heldout.metrics(),
        receivers=SUPPRESSORS,
        normalize=True,
        reduce="mean",
        progress=False,
    )
    from_03 = cube.sel(layer=0, head=3)
    assert (from_03.sel(input="v").values > 0.4).all()
    assert np.nanmax(np.abs(cube.sel(layer=[0, 1], input=["q", "k"]).values)) < 0.05
    others = cube.where(cube["layer"] * 10 + cube["head"] != 3)  # every path not from 0.3
    assert np.nanmax(np.abs(others.values)) < 0.15
    direct = hw.scores.path_patching(
        circuits,
        heldout.prompts,
        heldout.corrupted,
        heldout.metrics(),
        normalize=True,
        reduce="mean",
        progress=False,
    ).squeeze()
    assert all(float(direct.sel(layer=la, head=he)) > 0.15 for la, he in SUPPRESSORS)


def test_circuits_4l_backward_search_keeps_the_card_heads_and_beats_random_sets(
    circuits: hw.HeadModel, heldout: Any
) -> None:
    cube = hw.scores.head_set_search(
        circuits, heldout.prompts, heldout.metrics(), "backward", target=0.9
    )
    chosen = {tuple(h) for h in json.loads(cube.attrs["chosen"])}
    assert CARD_HEADS <= chosen and len(chosen) <= 9
    assert cube.values[-1] >= 0.9 > cube["random_max"].values[-1]


def test_circuits_4l_forward_search_needs_heads_0_3_and_0_0_together(
    circuits: hw.HeadModel, heldout: Any
) -> None:
    # greedy forward search is myopic here: keeping 0.3 or 0.0 without the other keeps little,
    # so they are picked last, and the set reaches 90 % only once both are in (the issue's
    # claim that the card's heads come first is false for this model)
    cube = hw.scores.head_set_search(
        circuits, heldout.prompts, heldout.metrics(), "forward", target=0.9
    )
    picked = cube["changed"].values.tolist()
    both = max(picked.index("0.3"), picked.index("0.0"))
    assert (cube.values[:both] < 0.6).all() and cube.values[both] >= 0.9
    assert both == len(picked) - 1 and set(picked[-2:]) == {"0.3", "0.0"}
    assert cube.attrs["reached"] == 1


def test_circuits_4l_shows_no_self_repair_after_ablating_a_subject_suppressor(
    circuits: hw.HeadModel, heldout: Any
) -> None:
    cube = hw.scores.self_repair(circuits, heldout.prompts, heldout.metrics(), [(2, 3)])
    # the loss exceeds the direct effect (negative self-repair), and no head makes up for it
    assert cube.attrs["total_effect"] < cube.attrs["direct_effect"] - 1.0 < 0
    assert abs(cube.attrs["self_repair_heads"]) < 0.5
    assert float(cube.where(cube["layer"] > 2).max()) < 0.3  # the most any head compensates


def test_circuits_4l_steering_the_subject_suppressors_flips_the_answer(
    circuits: hw.HeadModel,
) -> None:
    from headwidgets.datasets import tasks
    from headwidgets.steering import steering_vectors

    rng = random.Random(1)
    a, b = "Derek", "Luis"  # held-out names

    def fill(template: str, subject: str) -> str:
        place, thing = rng.choice(tasks.PLACES), rng.choice(tasks.OBJECTS)
        return template.format(A=a, B=b, S=subject, place=place, object=thing)

    train = tasks.ioi_templates("train")
    to_b = [fill(t, a) for t in train[:12]]  # subject a: the answer is b
    to_a = [fill(t, b) for t in train[:12]]
    vectors = steering_vectors(circuits, to_b, to_a, heads=SUPPRESSORS)
    spec = hw.Intervention.add(vectors, alpha=1.0, positions=[-1])
    top_b = hw.Metric("accuracy", target=" " + b)
    for template in tasks.ioi_templates("heldout")[:4]:
        text = fill(template, b)
        steered, clean = circuits.sweep_values(text, top_b, [spec])
        assert float(clean) == 0.0 and float(steered[0]) == 1.0
