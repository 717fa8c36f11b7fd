"""Provenance that is true: every cube records the model, the intervention its runs were made
under (also an enclosing ``with hm.intervene(spec):``) and the prompt set with its generator
and seed; saved and read back from ``.nc``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import headwidgets as hw
from headwidgets import datasets, scores
from tests._tiny import prompt, tiny

NO_EDITS: dict[str, list[Any]] = {"edits": []}


@pytest.fixture(scope="module")
def hm() -> Any:
    return tiny("gpt2")


def _saved(cube: Any, tmp_path: Path, name: str) -> Any:
    return hw.load_cube(hw.save_cube(cube, tmp_path / f"{name}.nc"))


def test_a_score_inside_intervene_records_the_enclosing_spec(hm: Any, tmp_path: Path) -> None:
    spec = hw.Intervention.scale({(0, 1): 0.0, (1, 0): 2.0})
    with hm.intervene(spec):
        pattern = scores.previous_token(hm, [prompt(8)])
        sweep = hm.sweep(prompt(8), "loss", mode="zero")
        weights = scores.ov_copying(hm)
    after = scores.previous_token(hm, [prompt(8)])

    assert _saved(pattern, tmp_path, "pattern").attrs["intervention"] == spec.to_json()
    recorded = json.loads(_saved(sweep, tmp_path, "sweep").attrs["intervention"])
    assert recorded["under"] == json.loads(spec.to_json())  # the block's spec ...
    assert recorded["per_head"]["mode"] == "zero"  # ... and the sweep's own edit
    assert json.loads(weights.attrs["intervention"]) == NO_EDITS  # weights: no run to edit
    assert json.loads(after.attrs["intervention"]) == NO_EDITS  # nothing leaks past the block


def test_nested_intervene_blocks_are_recorded_innermost_last(hm: Any) -> None:
    outer, inner = hw.Intervention.zero([(0, 0)]), hw.Intervention.scale({(1, 1): 0.5})
    with hm.intervene(outer), hm.intervene(inner):
        cube = scores.previous_token(hm, [prompt(6)])
    stack = json.loads(cube.attrs["intervention"])["stack"]
    assert stack == [json.loads(outer.to_json()), json.loads(inner.to_json())]


def test_a_generated_prompt_set_is_recorded_with_its_generator_and_seed(
    hm: Any, tmp_path: Path
) -> None:
    prompts = datasets.repeated_tokens(hm, n=3, length=4, seed=7)
    cube = _saved(scores.previous_token(hm, prompts), tmp_path, "generated")
    source = json.loads(cube.attrs["prompt_set"])
    assert source["generator"] == "repeated_tokens"
    assert (source["seed"], source["n"], source["length"]) == (7, 3, 4)
    by_hand = json.loads(scores.previous_token(hm, [prompt(5), prompt(6)]).attrs["prompt_set"])
    assert by_hand == {"generator": None, "n": 2}


def test_dataset_prompt_sets_remember_generator_seed_and_parameters() -> None:
    assert datasets.ioi(2, seed=3).source == {
        "generator": "ioi",
        "seed": 3,
        "split": "train",
        "filtered_for": None,
        "n": 2,
    }
    assert datasets.successor(1, seed=4, kinds=["days"]).source["kinds"] == ["days"]
    assert datasets.needle_haystack(1, seed=5).source["seed"] == 5


def test_every_score_cube_names_its_model(hm: Any) -> None:
    cube = hm.sweep(prompt(6), "loss", mode="zero")
    assert cube.attrs["model"] == hm.name == "tiny-gpt2"
