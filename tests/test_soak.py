"""A long live session stays flat: bounded caches, flat memory, the view equals the controls.

A reduced count of the soak in ``bench/bench_soak.py`` (2,000 changes on the shipped
``circuits-4l`` there, numbers in ``bench/RESULTS.md``), here on a tiny random-init GPT-2
through the real Explorer.
"""

from __future__ import annotations

import numpy as np
import pytest

from headwidgets.widgets import Explorer
from tests._tiny import prompt, tiny
from tests.soak import soak


@pytest.mark.slow
def test_a_long_session_keeps_memory_flat_and_ends_on_the_final_controls() -> None:
    hm = tiny("gpt2")
    text = prompt(10)
    explorer = Explorer(hm, text, target="w3", distractor="w7")
    live = explorer.output.live
    # warm-up fills the live caches (64 entries each) with new interventions
    result = soak(explorer, changes=200, warmup=100, seed=0)
    # every cache the live loop keeps stays at its bound, however many changes came
    assert result.cache_sizes["outputs"] <= live._cache_size
    assert result.cache_sizes["generations"] <= live._cache_size
    assert result.growth <= 0.05, result
    # the final view is the final controls, computed afresh
    spec = explorer.controls.intervention
    assert explorer.controls.edits == result.last_edits
    assert explorer.output.intervention == spec == explorer.attention.intervention
    expected = hm.run(text, intervention=spec).logits[0, -1].softmax(-1).topk(10)
    shown = explorer.output._result["topk"]["intervened"]
    assert shown["ids"] == expected.indices.tolist()
    probs = np.frombuffer(shown["probs"], dtype="<f4")
    np.testing.assert_allclose(probs, expected.values.numpy(), rtol=1e-5, atol=1e-7)
