"""Tests of headwidgets.figures.lines: scale response and layer profile."""

from __future__ import annotations

import numpy as np
import xarray as xr

from headwidgets import figures


def test_scale_response_draws_one_line_per_head_and_marks_the_baseline(
    curves: xr.DataArray,
) -> None:
    fig = figures.scale_response(curves)
    assert [item.label.value for item in fig.legend[0].items] == ["L1.H2", "L1.H3"]
    (rule,) = [r for r in fig.center if type(r).__name__ == "Span"]
    assert rule.location == 1.0


def test_scale_response_takes_a_mapping_of_head_sets(curves: xr.DataArray) -> None:
    sets = {"name movers": curves.sel(layer=1, head=2), "backup": curves.sel(layer=1, head=3)}
    fig = figures.scale_response(sets)
    assert [item.label.value for item in fig.legend[0].items] == ["name movers", "backup"]


def test_layer_profile_lines_are_the_reductions_over_heads(score: xr.DataArray) -> None:
    fig = figures.layer_profile(score, reduce=("mean", "max"))
    mean = fig.select_one({"name": "mean"}).data_source.data["value"]
    np.testing.assert_allclose(mean, score.mean("head").values)
    np.testing.assert_allclose(
        fig.select_one({"name": "max"}).data_source.data["value"], score.max("head").values
    )


def test_signed_layer_profile_shows_min_and_max_with_a_zero_rule(effect: xr.DataArray) -> None:
    fig = figures.layer_profile(effect)
    labels = [item.label.value for item in fig.legend[0].items]
    assert labels == ["mean", "min", "max"] and fig.legend[0].title == "over heads:"
    np.testing.assert_allclose(
        fig.select_one({"name": "min"}).data_source.data["value"], effect.min("head").values
    )
    assert [r.location for r in fig.center if type(r).__name__ == "Span"] == [0]
