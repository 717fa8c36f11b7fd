"""Tests of headwidgets.figures.style: the house style, its overrides, sizes, palettes, themes."""

from __future__ import annotations

import pytest
import xarray as xr

from headwidgets import figures


def test_unknown_style_key_raises_type_error_listing_the_keys(score: xr.DataArray) -> None:
    with pytest.raises(TypeError, match=r"unknown style keys.*'font'"):
        figures.head_heatmap(score, style={"fontsize": 12})


def test_style_overrides_reach_the_figure(score: xr.DataArray) -> None:
    fig = figures.head_heatmap(score, style={"tick_font_size": "11pt", "width": 500})
    assert fig.width == 500
    assert fig.xaxis[0].major_label_text_font_size == "11pt"


def test_sizes_are_column_or_text_width_or_lengths_with_units(score: xr.DataArray) -> None:
    assert figures.head_heatmap(score).width == 312  # one column, 3.25 in, by default
    assert figures.head_heatmap(score, width="text").width == 648  # 6.75 in
    assert figures.layer_profile(score, width="3in", height="2in").height == 192
    assert figures.scale_response(score.expand_dims(scale=[0.0, 1.0]).transpose(
        "layer", "head", "scale"), width="8cm").width == 302  # fmt: skip
    with pytest.raises(ValueError, match=r"unknown width 'wide'.*'column'.*'text'"):
        figures.head_heatmap(score, width="wide")


def test_font_sizes_may_be_numbers_of_points(score: xr.DataArray) -> None:
    fig = figures.head_heatmap(score, style={"tick_font_size": 7, "label_font_size": 8.5})
    assert fig.xaxis[0].major_label_text_font_size == "7pt"
    assert fig.xaxis[0].axis_label_text_font_size == "8.5pt"
    with pytest.raises(ValueError, match=r"tick_font_size must be points"):
        figures.head_heatmap(score, style={"tick_font_size": "big"})


def test_palettes_take_matplotlib_and_bokeh_names(score: xr.DataArray) -> None:
    from bokeh import palettes

    def colors(palette: str) -> tuple[str, ...]:
        fig = figures.head_heatmap(score, palette=palette)
        return tuple(fig.select_one({"name": "cells"}).glyph.fill_color.transform.palette)

    assert colors("viridis") == palettes.Viridis256 == colors("Viridis256")
    assert colors("Blues")[0] == "#f7fbff"  # matplotlib order: light for low values
    assert colors("RdBu")[0] == "#67001f" and colors("RdBu_r")[0] == "#053061"
    assert colors("RdBu11") == palettes.RdBu11  # a bokeh name keeps bokeh's order
    with pytest.raises(ValueError, match=r"unknown palette 'jet'.*'Viridis256'.*'viridis'"):
        colors("jet")


def test_dark_theme_recolors_text_axes_legends_and_color_bars(score: xr.DataArray) -> None:
    fig = figures.head_heatmap(score, highlight=[(0, 0)], style=figures.DARK)
    light = [
        fig.xaxis[0].axis_label_text_color,
        fig.yaxis[0].major_label_text_color,
        fig.title.text_color,
        fig.right[0].major_label_text_color,
        fig.right[0].title_text_color,
        fig.below[1].label_text_color,  # the legend under the heatmap
    ]
    assert set(light) == {"#e6e6e6"}
    assert fig.xaxis[0].axis_line_color == "#bdbdbd"
    assert fig.select_one({"name": "highlight"}).glyph.line_color == "#ffffff"
    assert fig.border_fill_color == fig.below[1].background_fill_color == "#1e1e1e"
