"""Tests of headwidgets.figures.panel: multi-panel figures and their data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import headwidgets as hw
from headwidgets import figures
from tests.figures._helpers import TOKENS, _panels


def test_panel_gives_equal_frames_letters_and_one_shared_color_bar(
    score: xr.DataArray, effect: xr.DataArray
) -> None:
    grid = figures.panel(
        [
            figures.head_heatmap(effect),
            figures.head_heatmap(effect * 3),
            figures.layer_profile(score),
        ],
        ncols=3,
        width="text",
        shared_colorbar=True,
    )  # fmt: skip
    figs = _panels(grid)
    assert len({(f.frame_width, f.frame_height) for f in figs}) == 1
    assert [f.title.text.split()[0] for f in figs] == ["(a)", "(b)", "(c)"]
    assert [len(f.right) for f in figs[:2]] == [0, 1]  # one color bar, at the end of the row
    mappers = [f.select_one({"name": "cells"}).glyph.fill_color.transform for f in figs[:2]]
    assert mappers[0] is mappers[1]
    assert mappers[0].high == -mappers[0].low == pytest.approx(3 * float(np.abs(effect).max()))


def test_two_panels_stack_at_column_width(score: xr.DataArray) -> None:
    grid = figures.panel([figures.head_heatmap(score), figures.layer_profile(score)])
    assert [len(line.children) for line in grid.children] == [1, 1]
    assert _panels(grid)[0].frame_width >= 150


def test_panel_writes_every_panels_cube_into_one_dataset(
    score: xr.DataArray, effect: xr.DataArray, tmp_path: Path
) -> None:
    grid = figures.panel([figures.head_heatmap(score), figures.head_heatmap(effect)])
    hw.export(grid, tmp_path / "fig.html", data=True)
    assert hw.cubes.cube_names(tmp_path / "fig.nc") == ["a_induction", "b_ablation_effect"]
    xr.testing.assert_equal(hw.load_cube(tmp_path / "fig.nc", "b_ablation_effect"), effect)
    assert figures.figure_metadata(grid)["letters"] == ["a", "b"]


def test_panel_data_keeps_each_prompts_own_tokens(pattern: xr.DataArray, tmp_path: Path) -> None:
    first = pattern.sel(layer=0, head=0)
    other = first.assign_coords(token=("query", [t.upper() for t in TOKENS]))
    grid = figures.panel([figures.attention_pattern(first), figures.attention_pattern(other)])
    hw.export(grid, tmp_path / "two.html", data=True)
    a = hw.load_cube(tmp_path / "two.nc", "a_attention")
    b = hw.load_cube(tmp_path / "two.nc", "b_attention")
    assert "token" not in b.coords  # not one shared coord that is wrong for one panel
    assert (a.attrs["token"], b.attrs["token"]) == (TOKENS, [t.upper() for t in TOKENS])
    assert a["key_token"].values.tolist() == TOKENS  # equal in both: shared
