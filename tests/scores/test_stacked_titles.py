"""A score over several prompts whose per-prompt titles differ gets a short title."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import headwidgets as hw
from headwidgets import zoo


@pytest.fixture(scope="module")
def hm():
    if "circuits-4l" not in zoo.models():
        pytest.skip("shipped model circuits-4l missing; build it with `make models`")
    return hw.load("circuits-4l", device="cpu")


@pytest.mark.parametrize("reduce", ["mean", None])
def test_prompt_specific_titles_become_one_short_title(hm, reduce):
    ds = hw.datasets.ioi(2, seed=1, split="heldout")
    cube = hw.scores.direct_logit_attribution(
        hm, ds.prompts, ds.targets, ds.distractors, reduce=reduce, progress=False
    )
    want = "mean over 2 prompts" if reduce else "per prompt"
    assert cube.attrs["long_name"] == f"direct logit attribution, {want}"
    assert ds.targets[0] in cube.attrs["long_names"]  # the per-prompt titles are kept


def test_a_title_shared_by_every_prompt_is_kept(hm):
    prompts = hw.datasets.repeated_tokens(hm, n=2, length=10, seed=1)
    cube = hw.scores.induction(hm, prompts, reduce="mean")
    assert cube.attrs["long_name"].startswith("induction")
    assert "long_names" not in cube.attrs
