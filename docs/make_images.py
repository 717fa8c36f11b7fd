"""Make the README's figures: ``docs/images/head_heatmap.svg``/``.png`` and the two-panel,
column-width paper figure ``docs/images/induction_panel.pdf``/``.svg``/``.png`` (+ ``.nc``).

Run from the repository root (needs chromium and chromium-driver for SVG/PNG)::

    .venv/bin/python docs/make_images.py

It draws the induction scores of the shipped ``induction-2l`` model when the model has been
trained (``make models``), with its top heads outlined. Without the model it falls back to a
synthetic cube and says so in the figure's title, so the README never shows made-up numbers
as if a model had produced them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

import headwidgets as hw
from headwidgets.cubes import make_cube, top_heads
from headwidgets.figures import head_heatmap

IMAGES = Path(__file__).resolve().parent / "images"


def real_cube() -> xr.DataArray | None:
    """Mean induction score of every head of ``induction-2l`` (None if it is not shipped)."""
    if "induction-2l" not in hw.models():  # lists only models whose weights are present
        print("induction-2l is not trained yet (make models)")
        return None
    from headwidgets.scores.patterns import induction

    model = hw.load("induction-2l")
    return induction(model, reduce="mean")


def synthetic_cube() -> xr.DataArray:
    """A 12 x 12 induction-score-like cube: low everywhere, a few strong heads in layers 5-7."""
    rng = np.random.default_rng(7)
    values = rng.beta(1.2, 12.0, size=(12, 12))
    for layer, head, score in [(5, 1, 0.83), (5, 5, 0.61), (6, 9, 0.92), (7, 10, 0.47)]:
        values[layer, head] = score
    return make_cube(
        values,
        ("layer", "head"),
        name="induction",
        attrs={
            "model": "synthetic example",
            "method": "induction",
            "long_name": "induction score",
            "units": "attention",
        },
    )


def main() -> None:
    cube = real_cube()
    synthetic = cube is None
    if cube is None:
        cube = synthetic_cube()
    strong = int((cube >= 0.5).sum())  # outline every clear induction head (at least one)
    top = top_heads(cube, max(1, strong))
    title = "synthetic example — induction score" if synthetic else None
    fig = head_heatmap(cube, highlight=top, title=title)
    IMAGES.mkdir(parents=True, exist_ok=True)
    for suffix, pixel_ratio in ((".svg", 1.0), (".png", 2.0)):
        path = hw.export(fig, IMAGES / f"head_heatmap{suffix}", pixel_ratio=pixel_ratio)
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    print("source:", "synthetic cube" if synthetic else "induction-2l induction scores")
    if not synthetic:
        paper_figure(cube)


def paper_figure(scores: xr.DataArray) -> None:
    """The README's two-panel figure, made as its code block makes it (one column wide)."""
    fig = hw.figures.panel([head_heatmap(scores), hw.figures.layer_profile(scores)])
    for suffix in (".pdf", ".svg", ".png"):
        path = hw.export(fig, IMAGES / f"induction_panel{suffix}", data=suffix == ".pdf")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
