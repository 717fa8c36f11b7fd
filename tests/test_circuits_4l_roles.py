"""Every head the circuits-4l card and notebook 03 name does what they say it does.

Measured on a fixed set of 100 held-out IOI prompts (names and template combinations never in
IOI training, seed 424242); heads are named by the thresholds of :mod:`headwidgets.zoo.roles`,
and each test asks for a margin around its threshold so that a claim never rests on a value
sitting at the edge. The card's numbers are read from ``measurements.json``, which the last
test ties to these measurements.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import headwidgets as hw
from headwidgets import zoo
from headwidgets.datasets import tasks
from headwidgets.zoo import roles

SEED = 424242  # never used by headwidgets.zoo.train; the card's seed
CARD = zoo.ROOT / "circuits-4l" / "README.md"
MEASUREMENTS = zoo.ROOT / "circuits-4l" / "measurements.json"
DIRECT = [(2, 3), (3, 0)]  # the heads that write the answer (lower the subject)
NEEDED = [(0, 0), (0, 3), (2, 3), (3, 0), (3, 1)]  # one-head ablations that matter


@pytest.fixture(scope="module")
def hm() -> Any:
    if "circuits-4l" not in zoo.models():
        pytest.skip("shipped model circuits-4l missing; build it with `make models`")
    return hw.load("circuits-4l", device="cpu")


@pytest.fixture(scope="module")
def items() -> list[dict[str, str]]:
    return tasks.ioi_prompts(100, seed=SEED, split="heldout")


@pytest.fixture(scope="module")
def split(hm: Any, items: list[dict[str, str]]) -> dict[str, list[list[float]]]:
    return roles.split_dla(hm, items)


@pytest.fixture(scope="module")
def clean(hm: Any, items: list[dict[str, str]]) -> float:
    return float(roles.logit_diffs(hm, items).mean())


PAIRS = [
    ("end", "article"),
    ("end", "io"),
    ("end", "s1"),
    ("end", "end"),
    ("article", "s2"),
    ("article", "verb"),
]


@pytest.fixture(scope="module")
def attention(hm: Any, items: list[dict[str, str]]) -> dict[tuple[str, str], Any]:
    return roles.attention_grids(hm, items, PAIRS)


def _at(grid: list[list[float]], head: tuple[int, int]) -> float:
    return grid[head[0]][head[1]]


def test_only_2_3_and_3_0_write_the_answer_directly(split):
    dla = split["io_s"]
    assert roles.heads_above(dla, roles.DLA_THRESHOLD) == DIRECT
    for layer, row in enumerate(dla):
        for head, value in enumerate(row):
            if (layer, head) in DIRECT:
                assert value > 2 * roles.DLA_THRESHOLD, (layer, head, value)
            else:
                assert abs(value) < roles.DLA_THRESHOLD / 2, (layer, head, value)


@pytest.mark.parametrize("head", DIRECT, ids=["2.3", "3.0"])
def test_direct_heads_lower_the_subject_and_do_not_copy_the_indirect_object(split, head):
    io_c, s_c = _at(split["io_c"], head), _at(split["s_c"], head)
    assert s_c < -2 * roles.DLA_THRESHOLD, s_c  # the subject's logit goes down
    assert io_c < roles.DLA_THRESHOLD / 2, io_c  # the IO's does not go up: no copying
    assert s_c < 2 * io_c, (io_c, s_c)  # the subject goes down at least twice as much


@pytest.mark.parametrize("head", DIRECT, ids=["2.3", "3.0"])
def test_direct_heads_read_the_article_from_the_last_position(attention, head):
    assert _at(attention[("end", "article")], head) > 0.8
    assert _at(attention[("end", "io")], head) < 0.05
    assert _at(attention[("end", "s1")], head) < 0.05


def test_head_0_3_moves_the_second_subject_into_the_article(hm, items, attention, clean):
    assert _at(attention[("article", "s2")], (0, 3)) > 0.4
    at_article = roles.logit_diffs(hm, items, [(0, 3)], at="article").mean() - clean
    at_end = roles.logit_diffs(hm, items, [(0, 3)], at="end").mean() - clean
    assert at_article < -0.75 * clean, (at_article, clean)  # the whole answer needs it there
    assert at_end > 0, at_end  # and not at the last position


def test_heads_whose_zero_ablation_costs_more_than_the_threshold(hm, items):
    grid = roles.ablation_grid(hm, items)
    assert roles.heads_above(grid, roles.ABLATION_THRESHOLD) == NEEDED
    margin = 0.3
    for layer, row in enumerate(grid):
        for head, value in enumerate(row):
            assert abs(abs(value) - roles.ABLATION_THRESHOLD) > margin, (layer, head, value)
            if (layer, head) in NEEDED:
                assert value < 0, (layer, head, value)  # each of them lowers the answer


def test_head_0_0_attends_to_itself_at_the_end_and_to_the_verb_at_the_article(
    hm, items, attention, clean
):
    assert _at(attention[("end", "end")], (0, 0)) > 0.8
    assert _at(attention[("article", "verb")], (0, 0)) > 0.6
    for place in ("article", "end"):  # and the answer needs it at both
        assert roles.logit_diffs(hm, items, [(0, 0)], at=place).mean() - clean < -1.0, place


@pytest.fixture(scope="module")
def mlp(hm: Any, items: list[dict[str, str]]) -> dict[str, list[float]]:
    return roles.mlp_direct_effects(hm, items[:50])


def test_the_layer_3_mlp_raises_the_indirect_object_not_the_subject(mlp):
    assert mlp["io_c"][3] > 1.0, mlp
    assert abs(mlp["s_c"][3]) < 0.5, mlp


def test_the_layer_0_mlp_raises_both_names_of_the_prompt_alike(mlp):
    assert mlp["io_c"][0] > 2.0 and mlp["s_c"][0] > 2.0, mlp
    assert abs(mlp["io_s"][0]) < 0.5, mlp


def test_head_3_1_prefers_the_io_and_acts_through_the_layer_3_mlp(hm, items, split, attention, mlp):
    assert abs(_at(split["io_s"], (3, 1))) < roles.DLA_THRESHOLD / 2
    to_io = _at(attention[("end", "io")], (3, 1))
    to_s = _at(attention[("end", "s1")], (3, 1))
    assert to_io > to_s + 0.15, (to_io, to_s)
    clean_mlp = mlp["io_c"][3]
    ablated_mlp = roles.mlp_direct_effects(hm, items[:50], hw.Intervention.zero([(3, 1)]))
    assert ablated_mlp["io_c"][3] < clean_mlp - 0.5, (clean_mlp, ablated_mlp)


def test_no_head_takes_over_when_2_3_and_3_0_are_removed(hm, items, split, clean):
    ablated = float(roles.logit_diffs(hm, items, DIRECT).mean())
    summed_dla = sum(_at(split["io_s"], head) for head in DIRECT)
    assert clean - ablated >= summed_dla  # no net compensation: the drop exceeds the direct part
    with hm.intervene(hw.Intervention.zero(DIRECT)):
        after = roles.split_dla(hm, items)["io_s"]
    change = np.abs(np.asarray(after) - np.asarray(split["io_s"]))
    for head in DIRECT:
        change[head] = 0.0
    assert change.max() < 0.1, change.max()


def test_removing_2_3_and_3_0_costs_more_than_random_head_pairs(hm, items, clean):
    drop = clean - float(roles.logit_diffs(hm, items, DIRECT).mean())
    drops = [
        clean - float(roles.logit_diffs(hm, items, hw.scores.random_heads(2, seed, hm=hm)).mean())
        for seed in range(20)
    ]
    assert drop > np.mean(drops) + 2 * np.std(drops, ddof=1), (drop, drops)


def test_card_numbers_are_the_measured_ones(split):
    """The card's role numbers come from measurements.json, and that file matches today's."""
    measured = json.loads(MEASUREMENTS.read_text())["circuits-4l"]
    assert [tuple(head) for head in measured["ioi_direct_heads"]] == DIRECT
    assert [tuple(head) for head in measured["ioi_needed_heads"]] == NEEDED
    np.testing.assert_allclose(measured["ioi_dla_io_c"], split["io_c"], atol=1e-3)
    np.testing.assert_allclose(measured["ioi_dla_s_c"], split["s_c"], atol=1e-3)
    card = CARD.read_text().replace("−", "-")
    for key in ("ioi_dla", "ioi_dla_io_c", "ioi_dla_s_c"):
        for head in DIRECT:
            assert f"{_at(measured[key], head):+.2f}" in card, (key, head)
    quoted = [f"{_at(measured['ioi_attention_end_to_article'], head):.2f}" for head in DIRECT] + [
        f"{_at(measured['ioi_attention_article_to_s2'], (0, 3)):.2f}",
        f"{_at(measured['ioi_ablation_at_article'], (0, 3)):+.2f}",
        f"{_at(measured['ioi_ablation_at_end'], (0, 3)):+.2f}",
        f"{_at(measured['ioi_ablation_at_article'], (0, 0)):+.2f}",
        f"{_at(measured['ioi_ablation_at_end'], (0, 0)):+.2f}",
        f"{_at(measured['ioi_attention_end_to_end'], (0, 0)):.2f}",
        f"{_at(measured['ioi_attention_article_to_verb'], (0, 0)):.2f}",
        f"{measured['ioi_mlp_direct_effects']['io_c'][3]:+.2f}",
        f"{measured['ioi_mlp_direct_effects']['s_c'][3]:+.2f}",
        f"{measured['ioi_mlp_direct_effects_3_1_zeroed']['io_c'][3]:+.2f}",
        f"{measured['ioi_direct_heads_backup']['summed_dla']:.2f}",
        f"{measured['ioi_direct_heads_backup']['drop']:.2f}",
        f"{measured['ioi_direct_heads_backup']['largest_dla_change_other_heads']:.3f}",
        f"{measured['ioi_direct_heads_vs_random']['random_mean']:.2f}",
        f"{measured['ioi_direct_heads_vs_random']['random_std']:.2f}",
    ]
    for text in quoted:
        assert text in card, text
    assert not re.search(r"name[- ]movers? (are|heads?) 2\.3", card, re.IGNORECASE)


def test_no_head_copies_the_indirect_object(split):
    """No name movers: no head raises IO over an absent name by more than the threshold."""
    raised = [[max(value, 0.0) for value in row] for row in split["io_c"]]
    assert roles.heads_above(raised, roles.DLA_THRESHOLD) == []
