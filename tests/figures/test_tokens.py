"""Tests of headwidgets.figures.tokens: attention patterns and token strips."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from headwidgets import figures
from tests.figures._helpers import TOKENS


def test_attention_pattern_leaves_the_causal_mask_blank(pattern: xr.DataArray) -> None:
    fig = figures.attention_pattern(pattern, layer=1, head=2)
    n = len(TOKENS)
    assert len(fig.select_one({"name": "cells"}).data_source.data["value"]) == n * (n + 1) // 2
    assert fig.yaxis[0].major_label_overrides[1] == " Mary"
    assert fig.title.text == "toy-12l · layer 1, head 2"


def test_attention_pattern_asks_for_a_head_when_the_cube_has_several(pattern: xr.DataArray) -> None:
    with pytest.raises(ValueError, match=r"pass layer=\.\.\. \(the cube has \[0, 1\]\)"):
        figures.attention_pattern(pattern)


def test_attention_pattern_labels_every_token_at_six_points_or_more() -> None:
    n = 41
    weights = np.tril(np.ones((n, n)))
    weights /= weights.sum(1, keepdims=True)
    tokens = ["<s>"] + [f" w{i}" for i in range(n - 1)]
    for width in (None, 240, 312):
        fig = figures.attention_pattern(weights, tokens=tokens, width=width)
        for axis in (fig.xaxis[0], fig.yaxis[0]):
            assert axis.ticker.ticks == list(range(n))  # none thinned out
            assert [axis.major_label_overrides[i] for i in range(n)] == tokens
            assert float(axis.major_label_text_font_size.removesuffix("pt")) >= 6
    cropped = figures.attention_pattern(weights, tokens=tokens, positions=slice(-5, None))
    assert list(cropped.xaxis[0].major_label_overrides.values()) == tokens[-5:]


def test_token_strip_colors_each_token_and_keeps_its_text(per_token: xr.DataArray) -> None:
    fig = figures.token_strip(per_token)
    data = fig.select_one({"name": "tokens"}).data_source.data
    assert data["text"] == TOKENS
    assert len(set(data["color"])) == len(TOKENS)
