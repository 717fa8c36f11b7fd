"""Tests of headwidgets.figures: builders, SVG/PNG/PDF/HTML export, data beside the figure.

Cubes are built by hand with xarray (no model). Tests that render need a headless Chromium
and chromedriver (``apt-get install chromium chromium-driver``) and are skipped without them.

Reference images: ``tests/reference_figures/<kind>.png`` hold each figure kind rendered at
scale 1. After an intended change of the house style, regenerate them with::

    HEADWIDGETS_UPDATE_REFERENCES=1 .venv/bin/python -m pytest tests/test_figures.py -k reference

and look at the new PNGs before committing them. A failing comparison writes the image it got
to ``tests/artifacts/figures/``.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

import headwidgets as hw
from headwidgets import figures
from headwidgets._export import BrowserNotFoundError, find_browser

REFERENCES = Path(__file__).parent / "reference_figures"
ARTIFACTS = Path(__file__).parent / "artifacts" / "figures"
UPDATE = os.environ.get("HEADWIDGETS_UPDATE_REFERENCES") == "1"
TOLERANCE = 1.0  # mean absolute difference per pixel and channel, on 0..255
SVG = "{http://www.w3.org/2000/svg}"
TOKENS = [
    "<s>",
    " Mary",
    " and",
    " John",
    " went",
    " to",
    " the",
    " store",
    ",",
    " John",
    " gave",
    " Mary",
]


def _attrs(**extra: Any) -> dict[str, Any]:
    attrs = {
        "model": "toy-12l",
        "revision": "",
        "dtype": "float32",
        "method": "induction",
        "metric": "",
        "intervention": "null",
        "headwidgets_version": hw.__version__,
        "long_name": "induction score",
        "units": "attention",
    }
    attrs.update(extra)
    return attrs


def _heads(values: np.ndarray, name: str = "induction", **attrs: Any) -> xr.DataArray:
    layers, heads = values.shape
    return xr.DataArray(
        values,
        dims=("layer", "head"),
        coords={"layer": np.arange(layers), "head": np.arange(heads)},
        name=name,
        attrs=_attrs(**attrs),
    )


@pytest.fixture(scope="module")
def score() -> xr.DataArray:
    rng = np.random.default_rng(0)
    return _heads(rng.random((12, 12)))


@pytest.fixture(scope="module")
def effect() -> xr.DataArray:
    rng = np.random.default_rng(1)
    spec = json.dumps({"edits": [{"layer": 9, "head": 6, "mode": "scale", "alpha": 0.0}]})
    return _heads(
        rng.normal(size=(12, 12)),
        "ablation_effect",
        method="ablation_effect",
        metric="logit_diff",
        long_name="Δ logit difference",
        units="nats",
        intervention=spec,
    )


@pytest.fixture(scope="module")
def pattern() -> xr.DataArray:
    rng = np.random.default_rng(2)
    n = len(TOKENS)
    weights = np.tril(rng.random((2, 3, n, n)) ** 4)
    weights /= weights.sum(-1, keepdims=True)
    return xr.DataArray(
        weights,
        dims=("layer", "head", "query", "key"),
        coords={
            "layer": np.arange(2),
            "head": np.arange(3),
            "query": np.arange(n),
            "key": np.arange(n),
            "token": ("query", TOKENS),
            "key_token": ("key", TOKENS),
        },
        name="attention",
        attrs=_attrs(method="attention", long_name="attention", units="probability"),
    )


@pytest.fixture(scope="module")
def curves() -> xr.DataArray:
    alphas = np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0])
    values = np.stack([[3.0 - k * (alphas - 1) ** 2 for k in (0.3, 1.0)]])
    return xr.DataArray(
        values,
        dims=("layer", "head", "scale"),
        coords={"layer": [1], "head": [2, 3], "scale": alphas},
        name="logit_diff",
        attrs=_attrs(method="scale_response", long_name="logit difference", units="nats"),
    )


@pytest.fixture(scope="module")
def per_token() -> xr.DataArray:
    values = np.linspace(-1.0, 1.5, len(TOKENS))
    return xr.DataArray(
        values,
        dims=("query",),
        coords={"query": np.arange(len(TOKENS)), "token": ("query", TOKENS)},
        name="loss_change",
        attrs=_attrs(method="ablation_effect", long_name="Δ loss", units="nats"),
    )


@pytest.fixture(scope="module")
def browser() -> None:
    try:
        find_browser()
    except BrowserNotFoundError as error:
        pytest.skip(str(error))


def _svg_tree(path: Path) -> ET.Element:
    return ET.fromstring(path.read_text(encoding="utf-8"))


def _texts(root: ET.Element) -> list[str]:
    return ["".join(node.itertext()).strip() for node in root.iter(f"{SVG}text")]


def _is_rect(d: str) -> bool:
    return bool(re.fullmatch(r"M [\d.e-]+ [\d.e-]+( L [\d.e-]+ [\d.e-]+){4} Z", d.strip()))


# ---------------------------------------------------------------------------------------------
# builders (no browser)


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


def test_unknown_style_key_raises_type_error_listing_the_keys(score: xr.DataArray) -> None:
    with pytest.raises(TypeError, match=r"unknown style keys.*'font'"):
        figures.head_heatmap(score, style={"fontsize": 12})


def test_style_overrides_reach_the_figure(score: xr.DataArray) -> None:
    fig = figures.head_heatmap(score, style={"tick_font_size": "11pt", "width": 500})
    assert fig.width == 500
    assert fig.xaxis[0].major_label_text_font_size == "11pt"


def test_attention_pattern_leaves_the_causal_mask_blank(pattern: xr.DataArray) -> None:
    fig = figures.attention_pattern(pattern, layer=1, head=2)
    n = len(TOKENS)
    assert len(fig.select_one({"name": "cells"}).data_source.data["value"]) == n * (n + 1) // 2
    assert fig.yaxis[0].major_label_overrides[1] == " Mary"
    assert fig.title.text == "toy-12l · layer 1, head 2"


def test_attention_pattern_asks_for_a_head_when_the_cube_has_several(pattern: xr.DataArray) -> None:
    with pytest.raises(ValueError, match=r"pass layer=\.\.\. \(the cube has \[0, 1\]\)"):
        figures.attention_pattern(pattern)


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


def test_heatmap_legend_names_the_highlight_and_the_nan_cells(score: xr.DataArray) -> None:
    holes = score.copy(data=np.where(np.eye(12, dtype=bool), np.nan, score.values))
    fig = figures.head_heatmap(holes, highlight=[(1, 2)], highlight_label="name movers")
    (legend,) = fig.below[1:]  # under the x axis
    assert [item.label.value for item in legend.items] == ["name movers", "no value (NaN)"]
    assert not figures.head_heatmap(score).legend  # nothing to explain, no legend


def test_signed_layer_profile_shows_min_and_max_with_a_zero_rule(effect: xr.DataArray) -> None:
    fig = figures.layer_profile(effect)
    labels = [item.label.value for item in fig.legend[0].items]
    assert labels == ["mean", "min", "max"] and fig.legend[0].title == "over heads:"
    np.testing.assert_allclose(
        fig.select_one({"name": "min"}).data_source.data["value"], effect.min("head").values
    )
    assert [r.location for r in fig.center if type(r).__name__ == "Span"] == [0]


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


def test_heatmap_prints_cell_values_in_an_ink_that_reads_on_the_cell() -> None:
    cube = _heads(np.array([[0.25, -2.0], [np.nan, 2.0]]), "ablation_effect")
    text = figures.head_heatmap(cube, values=".1f").select_one({"name": "values"})
    data = text.data_source.data
    assert list(data["text"]) == ["0.2", "-2.0", "2.0"]  # NaN cells print nothing
    assert list(data["text_color"]) == ["#000000", "#ffffff", "#ffffff"]  # dark ends: white
    with pytest.raises(ValueError, match=r"do not fit.*width='text'"):
        figures.head_heatmap(_heads(np.random.default_rng(5).random((12, 40))), values=True)


def test_sizes_are_column_or_text_width_or_lengths_with_units(score: xr.DataArray) -> None:
    assert figures.head_heatmap(score).width == 312  # one column, 3.25 in, by default
    assert figures.head_heatmap(score, width="text").width == 648  # 6.75 in
    assert figures.layer_profile(score, width="3in", height="2in").height == 192
    assert figures.scale_response(score.expand_dims(scale=[0.0, 1.0]).transpose(
        "layer", "head", "scale"), width="8cm").width == 302  # fmt: skip
    with pytest.raises(ValueError, match=r"unknown width 'wide'.*'column'.*'text'"):
        figures.head_heatmap(score, width="wide")


def _panels(grid: Any) -> list[Any]:
    return [fig for line in grid.children for fig in line.children]


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


def test_heatmap_of_a_comparison_draws_one_panel_per_model(score: xr.DataArray) -> None:
    other = score.assign_attrs(model="toy-24l") * 2
    grid = figures.head_heatmap(hw.compare(score, other), width="text")
    figs = _panels(grid)
    assert [f.title.text for f in figs] == ["toy-12l", "toy-24l"]
    mappers = {id(f.select_one({"name": "cells"}).glyph.fill_color.transform) for f in figs}
    assert len(mappers) == 1  # one color scale for both models
    with pytest.raises(ValueError, match=r"facet='query'.*\['model'\]"):
        figures.head_heatmap(hw.compare(score, other), facet="query")


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


def test_token_strip_colors_each_token_and_keeps_its_text(per_token: xr.DataArray) -> None:
    fig = figures.token_strip(per_token)
    data = fig.select_one({"name": "tokens"}).data_source.data
    assert data["text"] == TOKENS
    assert len(set(data["color"])) == len(TOKENS)


def test_every_builder_draws_a_plain_dataarray_and_shows_its_provenance_as_unknown(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(4)
    heads = xr.DataArray(rng.normal(size=(4, 3)), dims=("head", "layer"))  # no name, no attrs
    n = len(TOKENS)
    pattern = xr.DataArray(np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None],
                           dims=("query", "key"))  # fmt: skip
    curve = xr.DataArray([1.0, 2.0, 0.5], dims=("scale",), coords={"scale": [0.0, 1.0, 2.0]})
    figs = [
        figures.head_heatmap(heads),
        figures.layer_profile(heads),
        figures.cube_difference(heads, heads * 2),
        figures.attention_pattern(pattern, tokens=TOKENS),
        figures.token_strip(xr.DataArray(rng.normal(size=n), dims=("query",)), TOKENS),
        figures.scale_response(curve),
    ]
    meta = figures.figure_metadata(figs[0])
    assert meta["model"] == meta["revision"] == meta["method"] == "unknown"
    assert figs[0].title is None or not figs[0].title.text  # no "unknown" title
    for fig in figs:
        assert figures.figure_metadata(fig)["figure"]
    hw.export(figs[0], tmp_path / "plain.html", data=True)
    saved = hw.load_cube(tmp_path / "plain.nc")
    assert saved.attrs["dtype"] == "unknown" and saved.attrs["intervention"] == "null"
    np.testing.assert_array_equal(saved.values, heads.values.T)


def test_clean_svg_redraws_a_colour_ramp_image_as_rectangles_of_its_colours() -> None:
    import base64
    import io

    from PIL import Image

    from headwidgets._svgclean import clean_svg

    ramp = np.zeros((40, 4, 3), dtype=np.uint8)
    ramp[:, :, 0] = np.repeat(np.arange(0, 200, 10, dtype=np.uint8), 2)[:, None]  # 20 bands
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    href = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="50" height="100"><image width="10" '
        f'height="80" transform="matrix(1, 0, 0, 1, 30, 10)" href="{href}"/></svg>'
    )
    root = ET.fromstring(clean_svg(svg))
    assert list(root.iter(f"{SVG}image")) == []
    (bar,) = root.iter(f"{SVG}g")
    assert bar.get("transform") == "matrix(1, 0, 0, 1, 30, 10)"
    rects = list(bar.iter(f"{SVG}rect"))
    assert [r.get("fill") for r in rects] == [f"#{v:02x}0000" for v in range(0, 200, 10)]
    assert float(rects[-1].get("y", 0)) + float(rects[-1].get("height", 0)) == 80  # the bar's end


# ---------------------------------------------------------------------------------------------
# export


@pytest.mark.browser
def test_svg_heatmap_has_one_vector_shape_per_cell(
    score: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    path = hw.export(figures.head_heatmap(score), tmp_path / "heads.svg")
    root = _svg_tree(path)
    filled = [
        node
        for node in root.iter(f"{SVG}path")
        if node.get("fill") not in (None, "none") and _is_rect(node.get("d", ""))
    ]
    by_layer = Counter(node.get("clip-path") for node in filled)
    assert max(by_layer.values()) == 12 * 12  # the glyph layer: one rectangle per head
    assert len(list(root.iter(f"{SVG}image"))) <= 1  # only the color bar's gradient is raster


@pytest.mark.browser
def test_svg_has_axis_and_token_labels_as_text(
    score: xr.DataArray, pattern: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    heads = _texts(_svg_tree(hw.export(figures.head_heatmap(score), tmp_path / "heads.svg")))
    assert {"layer", "head", "induction score [attention]", "11"} <= set(heads)
    fig = figures.attention_pattern(pattern, layer=0, head=1)
    text = _texts(_svg_tree(hw.export(fig, tmp_path / "pattern.svg")))
    assert {"query", "key"} <= set(text)
    for token in TOKENS:
        assert text.count(token.strip()) >= 2  # on the query axis and on the key axis


@pytest.mark.browser
def test_svg_carries_the_cubes_provenance(
    effect: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    root = _svg_tree(hw.export(figures.head_heatmap(effect), tmp_path / "effect.svg"))
    meta = json.loads(root.find(f"{SVG}metadata").text)  # type: ignore[union-attr, arg-type]
    assert meta["model"] == "toy-12l"
    assert json.loads(meta["intervention"]) == json.loads(effect.attrs["intervention"])


@pytest.mark.browser
def test_png_has_the_requested_pixel_size(
    score: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    from PIL import Image

    fig = figures.head_heatmap(score)
    with Image.open(hw.export(fig, tmp_path / "heads.png", scale=2)) as image:
        assert image.size == (2 * fig.width, 2 * fig.height)
        assert round(image.info["dpi"][0]) == 192
    with Image.open(hw.export(fig, tmp_path / "small.png", scale=1.5, width=300, height=200)) as im:
        assert im.size == (450, 300)
    with Image.open(hw.export(fig, tmp_path / "print.png")) as image:  # print resolution
        assert round(image.info["dpi"][0]) == 300
        assert image.size == (round(fig.width * 300 / 96), round(fig.height * 300 / 96))
    assert (fig.width, fig.height) != (300, 200)  # the override is for that export only


@pytest.mark.browser
def test_pdf_export_is_one_page_of_the_figures_size(
    score: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    fig = figures.head_heatmap(score)
    data = hw.export(fig, tmp_path / "heads.pdf").read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", data)) == 1
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
    assert box is not None
    width_pt, height_pt = (float(v) for v in box.groups())
    assert width_pt == pytest.approx(fig.width * 0.75, abs=1.5)  # 96 px = 72 pt
    assert height_pt == pytest.approx(fig.height * 0.75, abs=1.5)


def _pdf_fonts(path: Path) -> list[dict[str, str]]:
    """``pdffonts`` rows as {name, type, emb}; skipped without poppler-utils."""
    import shutil
    import subprocess

    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts not found: apt-get install poppler-utils")
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    rows = []
    for line in out.stdout.splitlines()[2:]:
        # name, type (may contain spaces), encoding, emb, sub, uni, object ID
        match = re.match(r"(\S+)\s+(.+?)\s{2,}(\S+)\s+(yes|no)\s+(yes|no)\s+(yes|no)", line)
        assert match, line
        rows.append({"name": match[1], "type": match[2], "emb": match[4]})
    return rows


def _pdf_text(path: Path) -> str:
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not found: apt-get install poppler-utils")
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def camera_ready(
    effect: xr.DataArray,
    per_token: xr.DataArray,
    tmp_path_factory: pytest.TempPathFactory,
    browser: None,
) -> dict[str, Path]:
    """A heatmap (vertical colour bar) and a token strip (horizontal one) as SVG and PDF,
    exported once for the tests below."""
    out = tmp_path_factory.mktemp("camera_ready")
    figs = {"heatmap": figures.head_heatmap(effect), "tokens": figures.token_strip(per_token)}
    return {
        f"{name}{suffix}": hw.export(fig, out / f"{name}{suffix}")
        for name, fig in figs.items()
        for suffix in (".svg", ".pdf")
    }


@pytest.mark.browser
def test_pdf_embeds_every_font_and_has_no_type3_font(camera_ready: dict[str, Path]) -> None:
    for name in ("heatmap.pdf", "tokens.pdf"):
        fonts = _pdf_fonts(camera_ready[name])
        assert fonts, name
        assert [f for f in fonts if "Type 3" in f["type"] or f["emb"] != "yes"] == [], fonts


@pytest.mark.browser
def test_pdf_text_has_each_label_once(camera_ready: dict[str, Path]) -> None:
    words = Counter(_pdf_text(camera_ready["heatmap.pdf"]).split())
    assert words["layer"] == 1 and words["head"] == 1, words
    assert words["10"] == 2  # layer 10 and head 10, nothing more
    tokens = Counter(_pdf_text(camera_ready["tokens.pdf"]).split())
    assert tokens["Mary"] == 2 and tokens["John"] == 2, tokens  # each appears twice in TOKENS


@pytest.mark.browser
def test_svg_has_single_text_and_vector_colour_bars(camera_ready: dict[str, Path]) -> None:
    for name in ("heatmap.svg", "tokens.svg"):
        root = _svg_tree(camera_ready[name])
        texts = [node for node in root.iter(f"{SVG}text") if node.get("fill") != "none"]
        assert len(texts) == len(list(root.iter(f"{SVG}text"))), name  # no invisible copies
        assert list(root.iter(f"{SVG}image")) == [], name  # no raster
        (bar,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "hw-colorbar"]
        colors = {rect.get("fill") for rect in bar.iter(f"{SVG}rect")}
        assert len(colors) >= 50, (name, len(colors))  # a smooth ramp, not a few bands
    heads = Counter(_texts(_svg_tree(camera_ready["heatmap.svg"])))
    assert heads["layer"] == heads["head"] == 1


def _luminance(color: str) -> float:
    if color.startswith("rgb"):
        r, g, b = (int(v) / 255 for v in re.findall(r"\d+", color)[:3])
    else:
        r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.browser
def test_dark_svg_has_no_dark_text(effect: xr.DataArray, tmp_path: Path, browser: None) -> None:
    grid = figures.panel(
        [figures.head_heatmap(effect, highlight=[(1, 1)], style=figures.DARK),
         figures.layer_profile(effect, style=figures.DARK)],
        style=figures.DARK,
    )  # fmt: skip
    root = _svg_tree(hw.export(grid, tmp_path / "dark.svg"))
    fills = [node.get("fill", "") for node in root.iter(f"{SVG}text")]
    assert fills and [f for f in fills if _luminance(f) < 0.5] == []
    assert list(root.iter(f"{SVG}image")) == []  # legend swatches and color bar: vectors


@pytest.mark.browser
def test_the_readme_paper_figure_passes_the_camera_ready_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser: None
) -> None:
    from tests.test_readme import readme_blocks

    (block,) = [b for b in readme_blocks() if "hw.figures.panel(" in b.code]
    assert len([line for line in block.code.splitlines() if line.strip()]) <= 5
    monkeypatch.chdir(tmp_path)
    exec(compile(block.code, "README.md", "exec"), {})
    pdf = tmp_path / "induction.pdf"
    assert [f for f in _pdf_fonts(pdf) if "Type 3" in f["type"] or f["emb"] != "yes"] == []
    words = Counter(_pdf_text(pdf).split())
    assert words["head"] == 1 and words["(a)"] == words["(b)"] == 1, words
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf.read_bytes())
    assert box is not None and float(box[1]) / 72 == pytest.approx(3.25, abs=0.1)  # one column
    assert hw.cubes.cube_names(tmp_path / "induction.nc") == ["a_induction", "b_induction"]


@pytest.mark.browser
def test_a_figure_can_be_shown_again_after_an_export(
    score: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    fig = figures.head_heatmap(score)
    hw.export(fig, tmp_path / "heads.svg")
    assert fig.document is None  # show(fig) in a notebook would fail on a figure in a document


@pytest.mark.browser
def test_html_opens_offline_in_chromium_without_network_requests(
    effect: xr.DataArray, tmp_path: Path, browser: None
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    path = hw.export(figures.head_heatmap(effect), tmp_path / "heads.html")
    browser_path, _ = find_browser()
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = chromium.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.route(
                re.compile(r"^(?!file:|data:|blob:|about:|https?://(localhost|127\.0\.0\.1)).*"),
                lambda route: route.abort(),
            )
            page.goto(path.as_uri())
            page.wait_for_function(
                "typeof Bokeh !== 'undefined' && Bokeh.documents.length > 0 "
                "&& Bokeh.documents[0].is_idle",
                timeout=10_000,
            )
            assert page.locator("canvas").count() >= 1  # drawn (CSS locators pierce shadow DOM)
        finally:
            chromium.close()
    local = re.compile(r"^(file:|data:|blob:|about:|https?://(localhost|127\.0\.0\.1)[:/])")
    assert requests and all(local.match(url) for url in requests), requests


def test_html_export_needs_no_browser(
    score: xr.DataArray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWIDGETS_CHROMIUM", str(tmp_path / "no-such-browser"))
    page = hw.export(figures.head_heatmap(score), tmp_path / "heads.html").read_text()
    assert "<script src=" not in page.replace('<script src="data:', "")  # BokehJS is inline
    assert 'name="headwidgets"' in page


def test_missing_browser_error_says_what_to_install(
    score: xr.DataArray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWIDGETS_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(BrowserNotFoundError, match="apt-get install chromium chromium-driver"):
        find_browser()


def test_exported_data_reloads_identical_to_the_cube(effect: xr.DataArray, tmp_path: Path) -> None:
    fig = figures.head_heatmap(effect)
    hw.export(fig, tmp_path / "given.html", data=effect)
    xr.testing.assert_identical(hw.load_cube(tmp_path / "given.nc"), effect)
    hw.export(fig, tmp_path / "own.html", data=True)  # the cube the figure was built from
    xr.testing.assert_identical(hw.load_cube(tmp_path / "own.nc"), effect)


def test_unknown_export_format_lists_the_formats(score: xr.DataArray, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'\.jpg'.*'\.svg', '\.png', '\.pdf', '\.html'"):
        hw.export(figures.head_heatmap(score), tmp_path / "heads.jpg")


def test_figure_command_draws_a_saved_cube_and_writes_its_data(
    effect: xr.DataArray, tmp_path: Path
) -> None:
    hw.save_cube(effect, tmp_path / "effect.nc")
    out = figures.figure_command(
        tmp_path / "effect.nc",
        "heatmap",
        tmp_path / "out" / "fig.html",
        highlight="9.6,0.1",
        data=True,
        title=None,
    )
    assert out.exists()
    meta = re.search(r'name="headwidgets" content="([^"]*)"', out.read_text())
    assert meta is not None and "[9, 6]" in meta.group(1).replace("&quot;", '"')
    xr.testing.assert_identical(hw.load_cube(tmp_path / "out" / "fig.nc"), effect)
    with pytest.raises(ValueError, match=r"unknown figure kind 'bars'.*'heatmap'"):
        figures.figure_command(tmp_path / "effect.nc", "bars", tmp_path / "x.svg")


def test_figure_command_draws_the_cube_var_names_from_a_file_of_several(
    effect: xr.DataArray, tmp_path: Path
) -> None:
    doubled = (effect * 2).rename("doubled").assign_attrs(effect.attrs)
    both = hw.save_cube(xr.Dataset({"effect": effect, "doubled": doubled}), tmp_path / "b.nc")
    out = figures.figure_command(both, "heatmap", tmp_path / "f.html", var="doubled", data=True)
    xr.testing.assert_identical(hw.load_cube(out.with_suffix(".nc")), doubled)
    with pytest.raises(ValueError, match=r"holds the cubes \['doubled', 'effect'\]"):
        figures.figure_command(both, "heatmap", tmp_path / "g.html")
    diff = figures.figure_command(
        both, "difference", tmp_path / "d.html", other=both, var="effect", data=True
    )
    assert float(abs(hw.load_cube(diff.with_suffix(".nc"))).max()) == 0.0


_TEXT_BOXES = """
const svg = document.querySelector("svg");
const boxes = [];
for (const node of svg.querySelectorAll("text")) {
  const box = node.getBBox(), m = node.getCTM();
  const xs = [], ys = [];
  for (const [x, y] of [[box.x, box.y], [box.x + box.width, box.y],
                        [box.x, box.y + box.height], [box.x + box.width, box.y + box.height]]) {
    xs.push(m.a * x + m.c * y + m.e); ys.push(m.b * x + m.d * y + m.f);
  }
  boxes.push({text: node.textContent, left: Math.min(...xs), right: Math.max(...xs),
              top: Math.min(...ys), bottom: Math.max(...ys)});
}
return {width: svg.width.baseVal.value, height: svg.height.baseVal.value, boxes};
"""


def _text_boxes(path: Path) -> dict[str, Any]:
    """Every text's bounding box on the SVG's canvas, measured by the export browser."""
    from headwidgets import _export

    with _export._driver(1.0) as driver:
        _export._BROWSER.host_uses = 0  # the next export loads its host page again
        driver.get(path.as_uri())
        return dict(driver.execute_script(_TEXT_BOXES))


@pytest.mark.browser
def test_svg_labels_keep_their_extent_when_a_viewer_substitutes_the_font(
    camera_ready: dict[str, Path], tmp_path: Path
) -> None:
    original = camera_ready["heatmap.svg"]
    text = original.read_text(encoding="utf-8")
    assert 'font-family="DejaVu Sans' in text
    substituted = tmp_path / "substituted.svg"
    substituted.write_text(re.sub(r'font-family="[^"]*"', 'font-family="Liberation Mono"', text))
    before, after = _text_boxes(original)["boxes"], _text_boxes(substituted)["boxes"]
    rotated = [
        abs(float((re.findall(r"[-\d.e]+", node.get("transform", "")) or ["1", "0"])[1])) > 0.5
        for node in _svg_tree(original).iter(f"{SVG}text")
    ]
    assert len(before) == len(after) == len(rotated) > 20
    for a, b, turned in zip(before, after, rotated, strict=True):
        ends = ("top", "bottom") if turned else ("left", "right")  # along the text
        assert [b[end] for end in ends] == pytest.approx([a[end] for end in ends], abs=0.6), a


_FONTS = """
const done = arguments[arguments.length - 1];
const faces = [...document.fonts];
Promise.all(faces.map((face) => face.load().catch(() => null))).then(() => done(
  faces.map((face) => ({family: face.family, status: face.status}))));
"""


@pytest.mark.browser
def test_svg_embeds_the_glyphs_of_its_fonts_and_a_browser_loads_them(
    camera_ready: dict[str, Path], tmp_path: Path
) -> None:
    from headwidgets import _export

    text = camera_ready["tokens.svg"].read_text(encoding="utf-8")
    assert text.count("@font-face") == 2  # the labels' sans and the tokens' mono font
    # renamed, the families can only come from the SVG itself, not from the machine
    alone = tmp_path / "alone.svg"
    alone.write_text(text.replace("DejaVu Sans", "Embedded Only"), encoding="utf-8")
    with _export._driver(1.0) as driver:
        _export._BROWSER.host_uses = 0
        driver.get(alone.as_uri())
        faces = driver.execute_async_script(_FONTS)
    assert sorted(f["family"].strip('"') for f in faces) == ["Embedded Only", "Embedded Only Mono"]
    assert {f["status"] for f in faces} == {"loaded"}, faces  # valid fonts


KINDS = ["heatmap", "effect", "pattern", "scale", "profile", "difference", "tokens", "panel",
         "models"]  # fmt: skip


@pytest.mark.browser
@pytest.mark.parametrize("width", [240, 312, 648])
def test_no_text_leaves_the_canvas_at_any_width(
    width: int,
    score: xr.DataArray,
    effect: xr.DataArray,
    pattern: xr.DataArray,
    curves: xr.DataArray,
    per_token: xr.DataArray,
    tmp_path: Path,
    browser: None,
) -> None:
    cubes = {"score": score, "effect": effect, "pattern": pattern, "curves": curves}
    outside = []
    for kind in KINDS:
        fig = _build(kind, {**cubes, "per_token": per_token}, width=width)
        measured = _text_boxes(hw.export(fig, tmp_path / f"{kind}.svg"))
        for box in measured["boxes"]:
            if (
                box["left"] < -0.5
                or box["top"] < -0.5
                or box["right"] > measured["width"] + 0.5
                or box["bottom"] > measured["height"] + 0.5
            ):
                outside.append((kind, box["text"], {k: round(box[k]) for k in box if k != "text"},
                                (measured["width"], measured["height"])))  # fmt: skip
    assert outside == [], outside


# ---------------------------------------------------------------------------------------------
# reference images


def _build(kind: str, cubes: dict[str, xr.DataArray], **size: Any) -> Any:
    if kind == "heatmap":
        return figures.head_heatmap(cubes["score"], highlight=[(1, 2), (10, 7)], **size)
    if kind == "effect":
        return figures.head_heatmap(cubes["effect"], **size)
    if kind == "pattern":
        return figures.attention_pattern(cubes["pattern"], layer=1, head=2, **size)
    if kind == "scale":
        return figures.scale_response(cubes["curves"], **size)
    if kind == "profile":
        if not size:
            return figures.layer_profile(cubes["score"])
        long = "change in logit_diff(' Mary' - ' John') when the head is edited"  # too long
        return figures.layer_profile(cubes["effect"].assign_attrs(long_name=long), **size)
    if kind == "difference":
        later = cubes["score"].copy(data=cubes["score"].values.T)
        return figures.cube_difference(cubes["score"], later, labels=["early", "late"], **size)
    if kind == "panel":
        parts = [figures.head_heatmap(cubes["effect"]), figures.layer_profile(cubes["effect"])]
        return figures.panel(parts, shared_colorbar=True, **size)
    if kind == "models":
        other = cubes["score"].assign_attrs(model="toy-24l") * 2
        return figures.head_heatmap(hw.compare(cubes["score"], other), **size)
    return figures.token_strip(cubes["per_token"], **size)


@pytest.mark.browser
@pytest.mark.parametrize(
    "kind", ["heatmap", "effect", "pattern", "scale", "profile", "difference", "tokens"]
)
def test_figure_matches_its_reference_image(
    kind: str,
    score: xr.DataArray,
    effect: xr.DataArray,
    pattern: xr.DataArray,
    curves: xr.DataArray,
    per_token: xr.DataArray,
    tmp_path: Path,
    browser: None,
) -> None:
    from PIL import Image

    cubes = {"score": score, "effect": effect, "pattern": pattern, "curves": curves}
    fig = _build(kind, {**cubes, "per_token": per_token})
    reference = REFERENCES / f"{kind}.png"
    if UPDATE:
        hw.export(fig, reference, scale=1)
        pytest.skip(f"updated {reference}")
    if not reference.exists():
        pytest.fail(
            f"no reference image {reference}; create it with "
            "HEADWIDGETS_UPDATE_REFERENCES=1 pytest tests/test_figures.py -k reference"
        )
    got = hw.export(fig, tmp_path / f"{kind}.png", scale=1)
    with Image.open(got) as new, Image.open(reference) as old:
        same_size = new.size == old.size
        difference = (
            np.abs(
                np.asarray(new.convert("RGB"), dtype=float)
                - np.asarray(old.convert("RGB"), dtype=float)
            ).mean()
            if same_size
            else np.inf
        )
        if difference > TOLERANCE:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            new.save(ARTIFACTS / f"{kind}.png")
    assert same_size, f"{kind}: size changed from {old.size} to {new.size}"
    assert difference <= TOLERANCE, (
        f"{kind} differs from {reference} by {difference:.2f} (tolerance {TOLERANCE}); the image "
        f"is in {ARTIFACTS}; if the change is intended, regenerate with "
        "HEADWIDGETS_UPDATE_REFERENCES=1"
    )
