"""Tests of headwidgets.figures.heatmap: head heatmaps, differences, comparisons."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import headwidgets as hw
from headwidgets import figures
from tests.figures._helpers import _heads, _panels


def test_effect_cube_gets_a_diverging_palette_centred_on_zero(effect: xr.DataArray) -> None:
    mapper = (
        figures.head_heatmap(effect).select_one({"name": "cells"}).glyph.fill_color["transform"]
    )
    assert mapper.low == -mapper.high
    assert mapper.high == pytest.approx(float(np.abs(effect).max()))
    assert tuple(mapper.palette) == figures.DIVERGING


def test_score_cube_gets_a_sequential_palette_from_zero_to_its_max(score: xr.DataArray) -> None:
    mapper = figures.head_heatmap(score).select_one({"name": "cells"}).glyph.fill_color["transform"]
    assert (mapper.low, mapper.high) == (0.0, float(score.max()))
    assert mapper.palette[0] != figures.DIVERGING[0]


def test_color_bar_title_is_long_name_with_units(score: xr.DataArray) -> None:
    fig = figures.head_heatmap(score)
    (bar,) = fig.right
    assert bar.title == "induction score [attention]"


def test_color_bar_title_of_a_flat_cube_is_shortened_and_fits_beside_the_bar() -> None:
    # a 2 x 4 cube is too short for "induction: attention to the token after ..." along the bar
    cube = _heads(np.random.default_rng(3).random((2, 4)))
    cube.attrs["long_name"] = "induction: attention to the token after the earlier copy"
    fig = figures.head_heatmap(cube)
    (bar,) = fig.right
    assert bar.title == "induction [attention]"
    frame_h = fig.height - 44 - 26 * bool(fig.title and fig.title.text)
    assert frame_h >= 0.56 * (8 * 4 / 3) * len(bar.title), (fig.height, bar.title)
    roomy = figures.head_heatmap(_heads(np.random.default_rng(3).random((12, 12))))
    assert roomy.right[0].title == "induction score [attention]"  # the long form when it fits


def test_highlight_outlines_exactly_the_chosen_heads(score: xr.DataArray) -> None:
    fig = figures.head_heatmap(score, highlight=[(1, 2), (5, 7)])
    outline = fig.select_one({"name": "highlight"})
    assert sorted(
        zip(outline.data_source.data["y"], outline.data_source.data["x"], strict=True)
    ) == [
        (1, 2),
        (5, 7),
    ]
    assert outline.glyph.fill_color is None


def test_highlight_of_a_head_outside_the_cube_names_the_valid_ones(score: xr.DataArray) -> None:
    with pytest.raises(ValueError, match=r"\(12, 0\).*not in the cube"):
        figures.head_heatmap(score, highlight=[(12, 0)])


def test_heatmap_of_a_cube_with_extra_dims_says_which_to_reduce(pattern: xr.DataArray) -> None:
    with pytest.raises(ValueError, match=r"reduce or select dims \['query', 'key'\]"):
        figures.head_heatmap(pattern)


def test_heatmap_legend_names_the_highlight_and_the_nan_cells(score: xr.DataArray) -> None:
    holes = score.copy(data=np.where(np.eye(12, dtype=bool), np.nan, score.values))
    fig = figures.head_heatmap(holes, highlight=[(1, 2)], highlight_label="name movers")
    (legend,) = fig.below[1:]  # under the x axis
    assert [item.label.value for item in legend.items] == ["name movers", "no value (NaN)"]
    assert not figures.head_heatmap(score).legend  # nothing to explain, no legend


def test_heatmap_prints_cell_values_in_an_ink_that_reads_on_the_cell() -> None:
    cube = _heads(np.array([[0.25, -2.0], [np.nan, 2.0]]), "ablation_effect")
    text = figures.head_heatmap(cube, values=".1f").select_one({"name": "values"})
    data = text.data_source.data
    assert list(data["text"]) == ["0.2", "-2.0", "2.0"]  # NaN cells print nothing
    assert list(data["text_color"]) == ["#000000", "#ffffff", "#ffffff"]  # dark ends: white
    with pytest.raises(ValueError, match=r"do not fit.*width='text'"):
        figures.head_heatmap(_heads(np.random.default_rng(5).random((12, 40))), values=True)


def test_cube_difference_is_a_minus_b_on_a_symmetric_scale(score: xr.DataArray) -> None:
    later = score.copy(data=score.values[::-1]).assign_attrs(revision="step-5000")
    diff = figures.difference_cube(score, later, labels=["early", "late"])
    np.testing.assert_allclose(diff.values, score.values - score.values[::-1])
    fig = figures.cube_difference(score, later, labels=["early", "late"])
    mapper = fig.select_one({"name": "cells"}).glyph.fill_color["transform"]
    assert mapper.low == -mapper.high
    assert fig.title.text == "early − late"


def test_difference_of_two_checkpoints_keeps_the_models_name(score: xr.DataArray) -> None:
    later = score.copy(data=score.values[::-1]).assign_attrs(revision="step-5000")
    diff = figures.difference_cube(score, later, labels=["early", "late"])
    assert diff.attrs["model"] == "toy-12l"
    assert diff.attrs["difference"] == "early − late"
    other = later.assign_attrs(model="toy-24l")
    assert json.loads(figures.difference_cube(score, other).attrs["model"]) == [
        "toy-12l",
        "toy-24l",
    ]


def test_heatmap_of_a_comparison_draws_one_panel_per_model(score: xr.DataArray) -> None:
    other = score.assign_attrs(model="toy-24l") * 2
    grid = figures.head_heatmap(hw.compare(score, other), width="text")
    figs = _panels(grid)
    assert [f.title.text for f in figs] == ["toy-12l", "toy-24l"]
    mappers = {id(f.select_one({"name": "cells"}).glyph.fill_color.transform) for f in figs}
    assert len(mappers) == 1  # one color scale for both models
    with pytest.raises(ValueError, match=r"facet='query'.*\['model'\]"):
        figures.head_heatmap(hw.compare(score, other), facet="query")
