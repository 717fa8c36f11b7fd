"""Every figure kind: drawn from a plain DataArray, inside its canvas at any width, and as its
reference image.

Reference images: ``tests/figures/reference_figures/<kind>.png`` hold each figure kind rendered
at pixel ratio 1. After an intended change of the house style, regenerate them with::

    HEADWIDGETS_UPDATE_REFERENCES=1 .venv/bin/python -m pytest tests/figures -k reference

and look at the new PNGs before committing them. A failing comparison writes the image it got
to ``tests/artifacts/figures/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

import headwidgets as hw
from headwidgets import figures
from tests.figures._helpers import TOKENS, _text_boxes

REFERENCES = Path(__file__).parent / "reference_figures"


ARTIFACTS = Path(__file__).parent.parent / "artifacts" / "figures"


UPDATE = os.environ.get("HEADWIDGETS_UPDATE_REFERENCES") == "1"


TOLERANCE = 1.0  # mean absolute difference per pixel and channel, on 0..255


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
        hw.export(fig, reference, pixel_ratio=1)
        pytest.skip(f"updated {reference}")
    if not reference.exists():
        pytest.fail(
            f"no reference image {reference}; create it with "
            "HEADWIDGETS_UPDATE_REFERENCES=1 pytest tests/figures -k reference"
        )
    got = hw.export(fig, tmp_path / f"{kind}.png", pixel_ratio=1)
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
