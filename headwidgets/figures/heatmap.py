"""Layer × head heatmaps: :func:`head_heatmap`, :func:`difference_cube`, :func:`cube_difference`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, Range1d
from bokeh.models.annotations import LegendItem

from headwidgets.cubes import as_cube, check_cube, compare
from headwidgets.figures.labels import (
    _head_pairs,
    _is_effect,
    _is_probability,
    _label,
    _only,
    _title,
)
from headwidgets.figures.panel import panel
from headwidgets.figures.parts import _cells, _colorbar, _colors, _ink, _legend, _mapper, _ticks
from headwidgets.figures.provenance import _meta, figure_metadata, remember
from headwidgets.figures.style import Size, css_pixels, font_size_px, house_style, styled_figure


def head_heatmap(
    cube: xr.DataArray,
    highlight: Iterable[tuple[int, int]] | Any | None = None,
    palette: str | Sequence[str] | None = None,
    diverging: bool | None = None,
    title: str | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    colorbar: bool = True,
    width: Size | None = None,
    height: Size | None = None,
    style: Mapping[str, Any] | None = None,
    highlight_label: str = "highlighted heads",
    facet: str | None = None,
    ncols: int | None = None,
    values: bool | str = False,
) -> Any:
    """Layer × head heatmap of a (layer, head) cube, one rect glyph per head.

    Parameters
    ----------
    cube
        A cube with dims exactly ``("layer", "head")`` (reduce others first). NaN cells are
        drawn in the style's ``nan_color``.
    highlight
        Heads to outline: ``(layer, head)`` pairs, a ``top_heads`` DataFrame or an
        ``Intervention`` (its edited heads). A legend under the heatmap names the outline
        (``highlight_label``) and, when there are any, the NaN cells.
    palette
        A bokeh palette name or a list of colors (default: the style's sequential palette for
        scores, its diverging palette for effects).
    diverging
        Center the colors on 0 (symmetric limits). Default: when the cube has values of both
        signs or its attrs name an effect (ablation, patching, attribution, logit diff).
    title
        Figure title (default: the cube's ``model`` attr; ``""`` for none).
    low, high
        Color limits (default: 0 (or the minimum, if negative) to the maximum; ``±max|value|``
        when diverging; 0 to 1 for probabilities, units ``"probability"``).
    colorbar
        Draw a color bar titled ``long_name [units]``.
    width, height
        ``"column"`` (3.25 in, the default width), ``"text"`` (6.75 in), a length such as
        ``"2.5in"`` or ``"8cm"``, or CSS pixels (96 per inch); default height from the cube's
        aspect.
    style
        Overrides of :data:`HOUSE_STYLE`.
    highlight_label
        The legend's name for the outlined heads.
    values
        Print each cell's value in it: ``True`` (two decimals) or a format spec such as
        ``".1f"`` or ``".0%"``; black or white, whichever reads on the cell. The font shrinks
        to fit the cells, down to 6 pt; below that a ValueError says to widen the figure.
    facet, ncols
        Draw one heatmap per value of this dim (``"model"``, ``"prompt"`` or ``"scale"``)
        on one color scale, as a :func:`~headwidgets.figures.panel` with ``ncols`` per row.
        Default: ``"model"`` when the cube has that dim (e.g. from
        :func:`headwidgets.compare`).

    Returns
    -------
    bokeh.plotting.figure
        Layer 0 at the top, heads left to right; hover shows layer, head and value.

    Example
    -------
    >>> import numpy as np
    >>> from headwidgets.cubes import make_cube
    >>> cube = make_cube(np.random.randn(4, 6), ("layer", "head"), name="ablation_effect")
    >>> fig = head_heatmap(cube, highlight=[(3, 1)])
    >>> fig.select_one({"name": "cells"}).glyph.fill_color["transform"].low < 0
    True
    """
    cube = as_cube(cube)
    if facet is None and "model" in cube.dims:
        facet = "model"
    if facet is not None:
        return _facets(
            cube,
            facet,
            ncols,
            highlight=highlight,
            palette=palette,
            diverging=diverging,
            title=title,
            low=low,
            high=high,
            colorbar=colorbar,
            width=width,
            height=height,
            style=style,
            highlight_label=highlight_label,
            values=values,
        )
    cube = _only(cube, ("layer", "head"), "head_heatmap")
    s = house_style(style)
    printed: bool | str = values
    grid = np.asarray(cube.values, dtype=float)
    n_layers, n_heads = grid.shape
    layers, heads = cube["layer"].values, cube["head"].values
    signed = _is_effect(cube, grid) if diverging is None else diverging
    mapper = _mapper(grid, palette, signed, low, high, s, _is_probability(cube, grid))
    label = _label(cube)
    title = _title(cube, title)
    pairs = _head_pairs(highlight)
    has_nan = bool(np.isnan(grid).any())
    legend_h = 20 if (pairs or has_nan) else 0

    width = css_pixels(width or s["width"])
    frame_w = width - 40 - (75 if colorbar else 12)  # minus the y axis and the color bar
    frame_h = np.clip(frame_w / n_heads * n_layers, 60, 900)  # square cells
    if colorbar:  # the color bar's title runs along the bar: it must fit beside it
        label_px = 0.56 * font_size_px(s["tick_font_size"])
        if label_px * len(label) + 12 > frame_h and cube.name:
            label = _label(cube, short=True)  # the score's name in words
        frame_h = max(frame_h, label_px * len(label) + 12)
    height = css_pixels(height or round(frame_h + 44 + (26 if title else 8) + legend_h), "height")
    fig = styled_figure(
        s,
        width,
        height,
        title,
        x_range=Range1d(start=-0.5, end=n_heads - 0.5),
        y_range=Range1d(start=n_layers - 0.5, end=-0.5),
    )
    fig.grid.visible = False
    fig.xaxis.axis_label, fig.yaxis.axis_label = "head", "layer"
    tick_px = font_size_px(s["tick_font_size"])
    head_text, layer_text = [str(h) for h in heads], [str(layer) for layer in layers]
    _ticks(fig.xaxis[0], head_text, frame_w, 0.62 * tick_px * max(map(len, head_text)) + 5)
    _ticks(fig.yaxis[0], layer_text, height - 70 - legend_h, tick_px * 1.4)

    row, col = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    source = ColumnDataSource(
        {
            "x": col.ravel(),
            "y": row.ravel(),
            "layer": layers[row.ravel()],
            "head": heads[col.ravel()],
            "value": grid.ravel(),
        }
    )
    _cells(
        fig,
        source,
        mapper,
        [("layer", "@layer"), ("head", "@head"), (label, "@value{0.0000}")],
    )

    if printed is not False:
        _print_values(fig, grid, mapper, printed, frame_w / n_heads, (height - 70) / n_layers, s)

    layer_at = {int(v): i for i, v in enumerate(layers)}
    head_at = {int(v): i for i, v in enumerate(heads)}
    missing = [p for p in pairs if p[0] not in layer_at or p[1] not in head_at]
    if missing:
        raise ValueError(
            f"highlighted heads {missing} are not in the cube (layers "
            f"{layers.tolist()}, heads {heads.tolist()})"
        )
    keys = []  # what the marks that are not colors mean
    if pairs:
        outline = fig.rect(
            [head_at[h] for _, h in pairs],
            [layer_at[la] for la, _ in pairs],
            0.92,
            0.92,
            fill_color=None,
            line_color=s["highlight_color"],
            line_width=s["highlight_width"],
            name="highlight",
        )
        # the legend's swatch: the same outline around the background color (a renderer
        # that is not drawn in the frame, so the figure has exactly one outline per head)
        swatch = fig.rect(
            x=[0],
            y=[0],
            width=0.92,
            height=0.92,
            fill_color=s["background"],
            line_color=outline.glyph.line_color,
            line_width=outline.glyph.line_width,
            name="highlight_key",
            visible=False,
        )
        keys.append(LegendItem(label=highlight_label, renderers=[swatch]))
    if has_nan:
        nan_row, nan_col = np.nonzero(np.isnan(grid))
        # drawn over the NaN cells in their own color, so the legend can name it
        blank = fig.rect(
            nan_col,
            nan_row,
            1,
            1,
            fill_color=s["nan_color"],
            line_color=s["nan_color"],
            line_width=0.5,
            name="nan",
        )
        keys.append(LegendItem(label="no value (NaN)", renderers=[blank]))
    if keys:
        fig.add_layout(_legend(keys, s, "center", horizontal=True, room=width), "below")
    if colorbar:
        fig.add_layout(_colorbar(mapper, label, s, width=10, padding=6), "right")
    remember(
        fig,
        cube,
        _meta(
            "head_heatmap",
            cube,
            title=title,
            long_name=label,
            highlight=[list(p) for p in pairs] or None,
        ),
    )
    return fig


def _print_values(
    fig: Any,
    values: np.ndarray,
    mapper: Any,
    spec: bool | str,
    cell_w: float,
    cell_h: float,
    s: Mapping[str, Any],
) -> None:
    """Each finite value as text in its cell, in the ink that reads on the cell's color."""
    fmt = ".2f" if spec is True else str(spec)
    try:
        format(0.5, fmt)
    except ValueError as error:
        raise ValueError(f"values={spec!r} is not a format spec such as '.2f' or '.0%'") from error
    row, col = np.nonzero(np.isfinite(values))
    shown = [format(float(values[r, c]), fmt) for r, c in zip(row, col, strict=True)]
    longest = max(map(len, shown), default=1)
    font_px = min(font_size_px(s["tick_font_size"]), cell_w / (0.62 * longest + 0.4), cell_h * 0.75)
    if font_px < 6 * 4 / 3:
        raise ValueError(
            f"cell values do not fit in cells of {cell_w:.0f} x {cell_h:.0f} px at 6 pt; make "
            "the figure wider (width='text') or the format shorter (values='.1f')"
        )
    colors = _colors(values[row, col], mapper)
    fig.text(
        col,
        row,
        text=shown,
        text_color=[_ink(c) for c in colors],
        text_font=value(s["font"]),
        text_font_size=f"{font_px * 0.75:.3g}pt",
        text_align="center",
        text_baseline="middle",
        name="values",
    )


_FACETS = ("model", "prompt", "scale")


def _facets(cube: xr.DataArray, dim: str, ncols: int | None, **options: Any) -> Any:
    """One heatmap per value of ``dim``, one color scale, as a panel (data: the whole cube)."""
    if dim not in _FACETS or dim not in cube.dims:
        raise ValueError(
            f"facet={dim!r}: facet along one of the cube's dims "
            f"{[d for d in _FACETS if d in cube.dims]} (any of {list(_FACETS)})"
        )
    values = np.asarray(cube.values, dtype=float)
    s = house_style(options.get("style"))
    signed = _is_effect(cube, values) if options["diverging"] is None else options["diverging"]
    mapper = _mapper(values, options["palette"], signed, options["low"], options["high"], s,
                     _is_probability(cube, values))  # fmt: skip
    width = options.pop("width")
    title = options.pop("title")
    figs = []
    for i, label in enumerate(cube[dim].values):
        part = cube.isel({dim: i}, drop=True)
        part.attrs = dict(cube.attrs)
        part_options = {**options, "diverging": signed, "low": mapper.low, "high": mapper.high}
        figs.append(head_heatmap(part, title=f"{dim} {label}" if dim != "model" else str(label),
                                 **part_options))  # fmt: skip
    grid = panel(figs, ncols, width=width, shared_colorbar=True, letters=False,
                 style=options.get("style"))  # fmt: skip
    meta = _meta("head_heatmap", cube, title=title, facet=dim)
    remember(grid, cube, {**figure_metadata(grid), **meta})
    return grid


def difference_cube(
    cube_a: xr.DataArray, cube_b: xr.DataArray, labels: Sequence[str] | None = None
) -> xr.DataArray:
    """``cube_a − cube_b`` aligned on (layer, head); heads present in only one are NaN.

    ``labels`` name the two cubes (default: their ``model`` attrs, as in
    :func:`headwidgets.cubes.compare`); the result's ``long_name`` is ``Δ long_name``, its
    ``difference`` attr says ``a − b`` and its ``model`` attr is the model's name when both
    cubes come from one model (checkpoints, prompts), else both names (JSON).

    Example
    -------
    >>> from headwidgets.cubes import make_cube
    >>> a = make_cube([[1.0, 2.0]], ("layer", "head"), name="s", attrs={"model": "early"})
    >>> b = make_cube([[0.5, 2.5]], ("layer", "head"), name="s", attrs={"model": "late"})
    >>> d = difference_cube(a, b)
    >>> d.values.tolist(), d.attrs["long_name"], d.attrs["difference"]
    ([[0.5, -0.5]], 'Δ s', 'early − late')
    """
    both = compare(cube_a, cube_b, labels=labels)
    names = [str(n) for n in both["model"].values]
    diff = both.isel(model=0, drop=True) - both.isel(model=1, drop=True)
    attrs = dict(both.attrs)
    models = json.loads(attrs["model"])
    attrs["model"] = models[0] if models[0] == models[1] else attrs["model"]
    base = str(cube_a.attrs.get("long_name") or cube_a.name)
    attrs.update(long_name=f"Δ {base}", method="difference", difference=f"{names[0]} − {names[1]}")
    for key in ("units", "metric"):
        attrs.setdefault(key, str(cube_a.attrs.get(key, "")))
    diff.attrs = attrs
    return check_cube(diff.rename(f"{both.name}_difference"), require=())


def cube_difference(
    cube_a: xr.DataArray,
    cube_b: xr.DataArray,
    labels: Sequence[str] | None = None,
    highlight: Iterable[tuple[int, int]] | Any | None = None,
    title: str | None = None,
    **kwargs: Any,
) -> Any:
    """Diverging heatmap of ``cube_a − cube_b`` (two models, checkpoints or prompts).

    Keyword arguments go to :func:`head_heatmap`; the data is :func:`difference_cube`.

    Example
    -------
    >>> import numpy as np
    >>> from headwidgets.cubes import make_cube
    >>> a = make_cube(np.random.rand(2, 3), ("layer", "head"), name="s", attrs={"model": "a"})
    >>> b = make_cube(np.random.rand(2, 3), ("layer", "head"), name="s", attrs={"model": "b"})
    >>> cube_difference(a, b).title.text
    'a − b'
    """
    diff = difference_cube(cube_a, cube_b, labels)
    if title is None:
        title = str(diff.attrs["difference"])
    kwargs.setdefault("diverging", True)
    return head_heatmap(diff, highlight=highlight, title=title, **kwargs)
