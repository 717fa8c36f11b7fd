"""Tests of headwidgets.figures.labels: labels in words, probabilities on their whole range."""

from __future__ import annotations

import xarray as xr

from headwidgets import figures


def test_probabilities_are_drawn_on_zero_to_one(score: xr.DataArray, pattern: xr.DataArray) -> None:
    probability = score.assign_attrs(units="probability") * 0.5
    probability.attrs = {**score.attrs, "units": "probability"}
    mapper = (figures.head_heatmap(probability).select_one({"name": "cells"}).glyph.fill_color)[
        "transform"
    ]
    assert (mapper.low, mapper.high) == (0.0, 1.0)
    weights = figures.attention_pattern(pattern, layer=0, head=0)
    assert weights.select_one({"name": "cells"}).glyph.fill_color["transform"].high == 1.0
    profile = figures.layer_profile(probability)
    assert (profile.y_range.start, profile.y_range.end) == (0, 1)


def test_default_labels_are_words_not_variable_names(
    effect: xr.DataArray, curves: xr.DataArray
) -> None:
    sweep = effect.rename("ablation_effect").assign_attrs(
        long_name="change in logit_diff(' Mary' - ' John') when the head is edited", units="logit"
    )
    # too long to run along the bar: the score's name, in words
    assert figures.head_heatmap(sweep).right[0].title == "ablation effect [logit]"
    curve = curves.assign_attrs(long_name="logit_diff(' Mary' - ' John')", units="logit")
    fig = figures.scale_response(curve, height="5in")  # tall enough for the long form
    assert fig.yaxis[0].axis_label == "logit difference ' Mary' − ' John' [logit]"
    assert figures.scale_response(curve).yaxis[0].axis_label == "logit diff [logit]"
