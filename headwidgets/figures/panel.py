"""Multi-panel figures for papers: :func:`panel`.

Panels get equal frames (the plotting areas, not the outer boxes, have one size), an
optional shared color bar, panel letters, and one data file: ``hw.export(fig, "f.pdf",
data=True)`` writes every panel's cube into one ``f.nc`` (a Dataset, one variable per
panel, named ``a_<cube name>``, ``b_...``).
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Sequence
from typing import Any

import xarray as xr
from bokeh.layouts import column, row
from bokeh.models import LinearColorMapper, Plot
from bokeh.models.annotations import ColorBar, Legend, Title

from headwidgets.figures.labels import _fitting, _short_labels
from headwidgets.figures.parts import _item_label, _wrap_legend
from headwidgets.figures.provenance import _CUBES, figure_metadata, remember
from headwidgets.figures.style import Size, css_pixels, font_size_px, house_style

# room the frames leave, in CSS px: the y axis (ticks, labels, name) on the left, a little
# on the right, and a color bar (with its labels and title) where there is one
_LEFT, _RIGHT, _BAR = 44, 8, 50
_MIN_FRAME = 100  # narrowest frame panel() puts in a row by default


def _mapper_of(fig: Plot) -> LinearColorMapper | None:
    cells: Any = fig.select_one({"name": "cells"})
    if cells is None:
        return None
    mapper = getattr(cells.glyph.fill_color, "transform", None)
    return mapper if isinstance(mapper, LinearColorMapper) else None


def _side_width(annotation: Any, s: dict[str, Any]) -> int:
    """CSS px an annotation right of a frame takes: a color bar, or a vertical legend."""
    if isinstance(annotation, ColorBar):
        return _BAR
    if isinstance(annotation, Legend):
        texts = [_item_label(item) for item in annotation.items]
        texts.append(str(annotation.title or ""))
        return round(30 + 0.6 * font_size_px(s["tick_font_size"]) * max(map(len, texts)))
    return 0


def _above_height(fig: Plot, s: dict[str, Any]) -> int:
    """CSS px the title and legends above a frame take (an estimate on the safe side)."""
    height = 6.0
    for item in fig.above:
        if isinstance(item, Title):
            height += 1.6 * font_size_px(s["title_font_size"]) + 6
        elif isinstance(item, Legend):
            n = len(item.items)
            ncols = item.ncols if isinstance(item.ncols, int) else n
            rows = -(-n // max(1, ncols)) if item.orientation == "horizontal" else n
            height += (
                rows * 22 + (1.6 * font_size_px(s["tick_font_size"]) if item.title else 0) + 12
            )
    return round(height)


def _below_height(fig: Plot, s: dict[str, Any]) -> int:
    """CSS px below a frame: the x axis (ticks, labels, name), legends and captions."""
    height = (
        24 + 1.6 * font_size_px(s["tick_font_size"]) + 1.6 * font_size_px(s["label_font_size"]) + 8
    )
    for item in fig.below:
        if isinstance(item, (Legend, Title)):
            height += 1.6 * font_size_px(s["tick_font_size"]) + 10
    return round(height)


def _shared_mapper(mappers: Sequence[LinearColorMapper]) -> LinearColorMapper:
    """One mapper spanning every panel's range (symmetric when the first one is)."""
    lows = [float(m.low) for m in mappers]  # type: ignore[arg-type]
    highs = [float(m.high) for m in mappers]  # type: ignore[arg-type]
    first = mappers[0]
    low, high = min(lows), max(highs)
    if float(first.low) == -float(first.high):  # type: ignore[arg-type]
        bound = max(abs(low), abs(high))
        low, high = -bound, bound
    return LinearColorMapper(palette=first.palette, low=low, high=high, nan_color=first.nan_color)


def _data(figs: Sequence[Plot], letters: Sequence[str]) -> xr.Dataset | None:
    """Every panel's cube in one Dataset (``a_<name>``, ...), aligned on shared dims (a
    smaller panel's cells beyond its own size are NaN). A non-dimension coord whose values
    differ between panels (each prompt's tokens) cannot be shared: each panel keeps its own
    values in an attr of that name instead."""
    cubes = [(letter, _CUBES.get(fig)) for letter, fig in zip(letters, figs, strict=True)]
    found: list[tuple[str, xr.DataArray]] = [
        (f"{letter}_{cube.name}", cube) for letter, cube in cubes if isinstance(cube, xr.DataArray)
    ]
    if not found:
        return None
    # the coords that differ somewhere become per-panel attrs everywhere
    private: set[str] = set()
    for (_, first), (_, other) in itertools.combinations(found, 2):
        for coord in set(map(str, first.coords)) & set(map(str, other.coords)):
            if coord not in first.dims and not first[coord].equals(other[coord]):
                private.add(coord)
    merged = xr.Dataset()
    for name, cube in found:
        cube = cube.rename(name)
        own = [c for c in map(str, cube.coords) if c in private]
        attrs = {**cube.attrs, **{c: _plain(cube[c].values.tolist()) for c in own}}
        cube = cube.drop_vars(own)
        merged = xr.merge([merged, cube], join="outer", compat="no_conflicts")
        merged[name].attrs = attrs
    return merged


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, list) else value


def panel(
    figs: Sequence[Any],
    ncols: int | None = None,
    *,
    width: Size | None = None,
    shared_colorbar: bool = False,
    letters: bool = True,
    aspect: float | None = None,
    style: dict[str, Any] | None = None,
) -> Any:
    """Several figures side by side (and in rows) with equal frames, for one paper figure.

    Parameters
    ----------
    figs
        Figures from the builders of :mod:`headwidgets.figures` (or any bokeh figures).
    ncols
        Panels per row (default: as many as leave each frame at least 100 px wide: one at
        column width, so two panels stack; up to four at text width).
    width
        Width of the whole figure: ``"column"`` (3.25 in, the default), ``"text"``
        (6.75 in), a length such as ``"7in"`` or CSS pixels. The frames share it equally
        after room for the axes (and the color bars).
    shared_colorbar
        One color scale for every heatmap (their combined range, symmetric for effects),
        shown once at the end of each row; the other panels lose their color bars.
    letters
        Prefix each panel's title with ``(a)``, ``(b)``, ...
    aspect
        Frame height / frame width (default: the first panel's).
    style
        Overrides of the house style (its ``width`` is the default width).

    Returns
    -------
    bokeh.models.Column
        Export it with :func:`headwidgets.export`; ``data=True`` writes every panel's cube
        into one ``.nc`` (a Dataset: ``a_<cube name>``, ``b_...``).

    Example
    -------
    >>> import numpy as np
    >>> from headwidgets.cubes import make_cube
    >>> from headwidgets.figures import head_heatmap, layer_profile
    >>> cube = make_cube(np.random.rand(4, 4), ("layer", "head"), name="induction")
    >>> fig = panel([head_heatmap(cube), layer_profile(cube)], width="text")
    >>> [p.frame_width for line in fig.children for p in line.children]
    [247, 247]
    """
    figs = list(figs)
    if not figs:
        raise ValueError("panel needs at least one figure")
    plots = [fig for fig in figs if isinstance(fig, Plot)]
    if len(plots) != len(figs):
        raise TypeError("panel takes bokeh figures (from headwidgets.figures builders)")
    s = house_style(style)
    total = css_pixels(width or s["width"])
    if ncols is None:  # as many per row as leave each frame at least _MIN_FRAME px
        per_panel = _LEFT + _RIGHT + _BAR + _MIN_FRAME
        ncols = max(1, min(len(figs), total // per_panel))
    ncols = int(ncols)
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    names = list(string.ascii_lowercase)
    if len(figs) > len(names):
        raise ValueError(f"panel takes at most {len(names)} figures, got {len(figs)}")

    mappers = [_mapper_of(fig) for fig in plots]
    rows = [list(range(i, min(i + ncols, len(plots)))) for i in range(0, len(plots), ncols)]
    if shared_colorbar and any(m is not None for m in mappers):
        shared = _shared_mapper([m for m in mappers if m is not None])
        # the color bar stays on the last panel with colors in each row
        keep = {max(i for i in indices if mappers[i] is not None)
                for indices in rows if any(mappers[i] is not None for i in indices)}  # fmt: skip
        for i, (fig, mapper) in enumerate(zip(plots, mappers, strict=True)):
            if mapper is None:
                continue
            cells: Any = fig.select_one({"name": "cells"})
            glyph = cells.glyph
            glyph.fill_color = glyph.line_color = {"field": "value", "transform": shared}
            for bar in [r for r in fig.right if isinstance(r, ColorBar)]:
                if i in keep:
                    bar.color_mapper = shared
                else:
                    fig.right.remove(bar)

    def frame_width() -> int:
        """What the widest row leaves each frame after its axes, color bars and legends."""
        beside = [_LEFT + _RIGHT + sum(_side_width(r, s) for r in fig.right) for fig in plots]
        return max(40, min(total - sum(beside[i] for i in row) for row in rows) // ncols)

    frame_w = frame_width()
    for fig in plots:
        for legend in [r for r in fig.above if isinstance(r, Legend)]:
            if legend.orientation == "horizontal":
                _wrap_legend(legend, s, frame_w + _LEFT)
                if legend.ncols != len(legend.items):
                    # rows of legend above one panel would push its frame down: beside it
                    fig.above.remove(legend)
                    legend.orientation, legend.location, legend.ncols = "vertical", "top", 1
                    legend.spacing = 0
                    fig.add_layout(legend, "right")
    frame_w = frame_width()
    if aspect is None:
        first = plots[0]
        aspect = max(0.3, (int(first.height or 240) - 70) / max(int(first.width or 312) - 60, 1))
    frame_h = max(40, round(frame_w * aspect))
    for i, fig in enumerate(plots):
        # the frame fixes the size; the outer box follows from the axes and annotations
        fig.frame_width, fig.frame_height = frame_w, frame_h
        fig.width = fig.height = None  # type: ignore[assignment]
        fig.min_border_left, fig.min_border_right = _LEFT, _RIGHT
        for axis, room in ((fig.xaxis, frame_w), (fig.yaxis, frame_h)):
            for ticker in [a.ticker for a in axis if hasattr(a.ticker, "desired_num_ticks")]:
                ticker.desired_num_ticks = max(2, min(6, room // 30))  # no crowded labels
        for legend in [r for r in fig.below if isinstance(r, Legend)]:
            if legend.orientation == "horizontal":
                _wrap_legend(legend, s, frame_w + _LEFT)
        meta = figure_metadata(fig)
        # axis and color-bar titles run along the frame: the longest form that fits
        for bar in [r for r in fig.right if isinstance(r, ColorBar)]:
            options = [str(bar.title or ""), *_short_labels(None, meta)]
            bar.title = _fitting(options, frame_h, s["tick_font_size"])
        for y_axis in fig.yaxis:
            if y_axis.axis_label:
                options = [str(y_axis.axis_label), *_short_labels(None, meta)]
                y_axis.axis_label = _fitting(options, frame_h, s["label_font_size"])
        if letters:
            text = fig.title.text if isinstance(fig.title, Title) and fig.title.text else ""
            fig.title = Title(text=f"({names[i]}) {text}".rstrip())
            fig.title.text_font, fig.title.text_font_size = s["font"], s["title_font_size"]
            fig.title.text_font_style = "normal"
            fig.title.text_color = s["text_color"]
    # the frames of a row start at one height: each panel keeps room above its frame for the
    # tallest title and legends of its row (else BokehJS clips the shorter ones at the bottom)
    for indices in rows:
        top = max(_above_height(plots[i], s) for i in indices)
        bottom = max(_below_height(plots[i], s) for i in indices)
        for i in indices:
            plots[i].min_border_top, plots[i].min_border_bottom = top, bottom
    grid = column([row([plots[i] for i in indices]) for indices in rows])
    used = names[: len(plots)]
    remember(
        grid,
        _data(plots, used),
        {
            "figure": "panel",
            "panels": [figure_metadata(fig) for fig in plots],
            "letters": used if letters else None,
        },
    )
    return grid
