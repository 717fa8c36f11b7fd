"""Figures over token positions: :func:`attention_pattern` and :func:`token_strip`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, FixedTicker, HoverTool, Range1d
from bokeh.plotting import figure

from headwidgets.cubes import as_cube
from headwidgets.figures.labels import _is_effect, _label, _only, _pick, _show_token, _title
from headwidgets.figures.parts import _cells, _colorbar, _colors, _ink, _mapper
from headwidgets.figures.provenance import _meta, remember
from headwidgets.figures.style import (
    Size,
    _title_style,
    css_pixels,
    font_size_px,
    house_style,
    styled_figure,
)

_MIN_LABEL_PX = 6 * 4 / 3  # 6 pt: the smallest token label an attention pattern prints


def _as_pattern(
    pattern: Any, layer: int | None, head: int | None, prompt: int | None
) -> tuple[xr.DataArray, xr.DataArray | None]:
    """A (query, key) DataArray from a cube or an array, and the cube it came from."""
    if isinstance(pattern, xr.DataArray):
        pattern = as_cube(pattern, require=())
        picked = _pick(pattern, "attention_pattern", layer=layer, head=head, prompt=prompt)
        return _only(picked, ("query", "key"), "attention_pattern"), pattern
    if hasattr(pattern, "detach"):
        pattern = pattern.detach().float().cpu().numpy()
    array = np.asarray(pattern, dtype=float)
    names = {
        2: ("query", "key"),
        4: ("layer", "head", "query", "key"),
        5: ("prompt", "layer", "head", "query", "key"),
    }
    if array.ndim not in names:
        raise ValueError(
            f"an attention pattern is (query, key), (layer, head, query, key) or "
            f"(prompt, layer, head, query, key); got shape {array.shape}"
        )
    picked = _pick(
        xr.DataArray(array, dims=names[array.ndim]),
        "attention_pattern",
        layer=layer,
        head=head,
        prompt=prompt,
    )
    return picked.transpose("query", "key"), None


def _tokens_of(cube: xr.DataArray, dim: str) -> list[str] | None:
    for name in ("token", "key_token") if dim == "key" else ("token",):
        if name in cube.coords and cube[name].dims == (dim,):
            return [str(t) for t in cube[name].values]
    return None


def attention_pattern(
    pattern: xr.DataArray | Any,
    tokens: Sequence[str] | None = None,
    *,
    layer: int | None = None,
    head: int | None = None,
    prompt: int | None = None,
    key_tokens: Sequence[str] | None = None,
    positions: slice | Sequence[int] | None = None,
    palette: str | Sequence[str] | None = None,
    high: float | None = None,
    title: str | None = None,
    width: Size | None = None,
    height: Size | None = None,
    style: Mapping[str, Any] | None = None,
) -> Any:
    """Query × key attention of one head with the tokens on both axes.

    Parameters
    ----------
    pattern
        A (query, key) cube, a (layer, head, query, key) cube with ``layer``/``head`` chosen
        here, or an array/tensor of those shapes (or ``out.patterns``, (prompt, layer, head,
        query, key)).
    tokens
        Text of each position (default: the cube's ``token`` coord; ``key_token`` for keys).
    layer, head, prompt
        Which head (and prompt) to show when the cube has those dims.
    key_tokens
        Key-axis text when it differs from the query tokens.
    positions
        Crop to these positions (a slice or a list of indices, on both axes of a square
        pattern, else on the query axis), e.g. ``positions=slice(-12, None)`` for the last 12
        tokens. Every shown position is labelled: labels shrink down to 6 pt, and past that
        the figure grows (beyond ``width``/``height`` if need be) rather than drop one.
    palette, high
        Sequential palette and color maximum (default 1: attention weights are
        probabilities, shown on [0, 1] so figures compare; the minimum is 0).
    title
        Default: ``model · layer L, head H``.
    width, height, style
        As in :func:`head_heatmap`.

    Returns
    -------
    bokeh.plotting.figure
        Queries top to bottom, keys left to right; for a causal pattern the masked cells
        (key > query) are left blank.

    Example
    -------
    >>> import numpy as np
    >>> weights = np.tril(np.ones((4, 4))); weights /= weights.sum(1, keepdims=True)
    >>> fig = attention_pattern(weights, tokens=["<s>", "a", "b", "a"])
    >>> fig.xaxis[0].major_label_overrides[3]
    'a'
    """
    s = house_style(style)
    asked_w = css_pixels(width) if width is not None else None
    asked_h = css_pixels(height, "height") if height is not None else None
    grid, cube = _as_pattern(pattern, layer, head, prompt)
    values = np.asarray(grid.values, dtype=float)
    n_query, n_key = values.shape
    query_text = list(tokens) if tokens is not None else _tokens_of(grid, "query")
    if key_tokens is not None:
        key_text: list[str] | None = list(key_tokens)
    elif tokens is None and _tokens_of(grid, "key") is not None:
        key_text = _tokens_of(grid, "key")
    else:
        key_text = query_text if n_key == n_query else None
    query_text = query_text or [str(i) for i in range(n_query)]
    key_text = key_text or [str(i) for i in range(n_key)]
    for axis, text, size in (("query", query_text, n_query), ("key", key_text, n_key)):
        if len(text) != size:
            raise ValueError(f"{len(text)} {axis} tokens for {size} {axis} positions")
    query_text = [_show_token(t) for t in query_text]
    key_text = [_show_token(t) for t in key_text]
    if positions is not None:
        rows = np.arange(n_query)[positions]
        cols = rows if n_key == n_query else np.arange(n_key)
        if rows.size == 0:
            raise ValueError(f"positions={positions!r} selects none of the {n_query} positions")
        values = values[np.ix_(rows, cols)]
        query_text = [query_text[i] for i in rows]
        key_text = [key_text[i] for i in cols]
        n_query, n_key = values.shape

    mapper = _mapper(values, palette, False, 0.0, 1.0 if high is None else high, s)
    where = [
        f"layer {int(grid[d])}" if d == "layer" else f"head {int(grid[d])}"
        for d in ("layer", "head")
        if d in grid.coords
    ]
    title = _title(cube, title, ", ".join(where))
    longest = max(len(t) for t in query_text + key_text)

    def label_room(font_px: float) -> float:
        return 0.62 * font_px * longest + 10

    # besides the cells: the axis (labels, ticks, name), the color bar and the title
    other_w, other_h = 35 + 62, 45 + (26 if title else 8)
    tick_px = font_size_px(s["tick_font_size"])
    cell = float(np.clip(300 / max(n_query, n_key), 4, 22))
    if asked_w is not None:
        cell = (asked_w - label_room(tick_px) - other_w) / n_key
    if asked_h is not None:
        cell = min(cell, (asked_h - label_room(tick_px) - other_h) / n_query)
    # every position keeps its label: a smaller font down to 6 pt, then bigger cells
    font_px = min(tick_px, cell / 1.25)
    if font_px < _MIN_LABEL_PX:
        font_px, cell = _MIN_LABEL_PX, 1.25 * _MIN_LABEL_PX
    needed_w = round(cell * n_key + label_room(font_px) + other_w)
    needed_h = round(cell * n_query + label_room(font_px) + other_h)
    fig_w, fig_h = max(asked_w or 0, needed_w), max(asked_h or 0, needed_h)
    fig = styled_figure(
        s,
        fig_w,
        fig_h,
        title,
        x_range=Range1d(start=-0.5, end=n_key - 0.5),
        y_range=Range1d(start=n_query - 0.5, end=-0.5),
    )
    fig.grid.visible = False
    fig.xaxis.axis_label, fig.yaxis.axis_label = "key", "query"
    fig.xaxis.major_label_orientation = math.pi / 2
    for axis, text in ((fig.xaxis[0], key_text), (fig.yaxis[0], query_text)):
        axis.ticker = FixedTicker(ticks=list(range(len(text))))
        axis.major_label_overrides = dict(enumerate(text))
        axis.major_label_text_font_size = f"{font_px * 0.75:.3g}pt"

    query, key = np.meshgrid(np.arange(n_query), np.arange(n_key), indexing="ij")
    keep = np.ones(values.shape, dtype=bool)
    if n_query == n_key and np.all(values[np.triu_indices(n_query, 1)] == 0):
        keep = key <= query  # causal mask: leave the masked cells blank
    source = ColumnDataSource(
        {
            "x": key[keep],
            "y": query[keep],
            "value": values[keep],
            "query_token": np.array(query_text, dtype=object)[query[keep]],
            "key_token": np.array(key_text, dtype=object)[key[keep]],
        }
    )
    _cells(
        fig,
        source,
        mapper,
        [("query", "@y @query_token"), ("key", "@x @key_token"), ("weight", "@value{0.000}")],
    )
    label = (
        _label(cube, "attention")
        if cube is not None and "long_name" in cube.attrs
        else ("attention")
    )
    fig.add_layout(_colorbar(mapper, label, s, width=10, padding=6), "right")
    remember(
        fig,
        cube,
        _meta(
            "attention_pattern",
            cube,
            title=title,
            long_name=label,
            layer=layer,
            head=head,
            prompt=prompt,
        ),
    )
    return fig


def token_strip(
    values: xr.DataArray | Sequence[float] | Any,
    tokens: Sequence[str] | None = None,
    *,
    palette: str | Sequence[str] | None = None,
    diverging: bool | None = None,
    low: float | None = None,
    high: float | None = None,
    title: str | None = None,
    width: Size | None = None,
    style: Mapping[str, Any] | None = None,
    **select: Any,
) -> Any:
    """Text with each token's box colored by a per-token value (wrapped to the width).

    Parameters
    ----------
    values
        One value per position: a 1-D cube (e.g. a per-query score of one head after
        ``layer=``/``head=`` selection), or any 1-D array.
    tokens
        Text of each position (default: the cube's ``token`` coord).
    palette, diverging, low, high
        As in :func:`head_heatmap` (diverging by default when values have both signs).
    title
        Figure title (default: the cube's ``model`` attr).
    width
        Width of the text area in CSS pixels (default: the style's width).
    style
        Overrides of :data:`HOUSE_STYLE` (the text uses ``mono_font``).
    **select
        ``layer=``, ``head=``, ``prompt=`` picks for a cube with those dims.

    Example
    -------
    >>> fig = token_strip([0.1, 0.9, -0.4], ["The", " cat", " sat"])
    >>> [t for t in fig.select_one({"name": "tokens"}).data_source.data["text"]]
    ['The', ' cat', ' sat']
    """
    s = house_style(style)
    unknown = set(select) - {"layer", "head", "prompt"}
    if unknown:
        raise TypeError(f"unknown arguments {sorted(unknown)}; select with layer=, head=, prompt=")
    cube: xr.DataArray | None = None
    if isinstance(values, xr.DataArray):
        values = cube = as_cube(values, require=())
        picked = _pick(
            values, "token_strip", **{k: select.get(k) for k in ("layer", "head", "prompt")}
        )
        if picked.ndim != 1:
            raise ValueError(f"token_strip needs one value per position; dims left: {picked.dims}")
        text = list(tokens) if tokens is not None else _tokens_of(picked, str(picked.dims[0]))
        data = np.asarray(picked.values, dtype=float)
    else:
        if hasattr(values, "detach"):
            values = values.detach().float().cpu().numpy()
        data = np.asarray(values, dtype=float).ravel()
        text = list(tokens) if tokens is not None else None
    if text is None:
        raise ValueError(
            "token_strip needs tokens: pass tokens=[...] or a cube with a 'token' coord"
        )
    if len(text) != data.size:
        raise ValueError(f"{len(text)} tokens for {data.size} values")

    signed = (
        bool(data[np.isfinite(data)].size) and np.nanmin(data) < 0 < np.nanmax(data)
        if diverging is None
        else diverging
    )
    if cube is not None and diverging is None:
        signed = _is_effect(cube, data)
    mapper = _mapper(data, palette, bool(signed), low, high, s)
    font_px = font_size_px(s["label_font_size"])
    char_px, line_px = 0.602 * font_px, 1.7 * font_px  # DejaVu Sans Mono advance: 0.602 em
    frame_w = css_pixels(width or s["width"]) - 8
    xs, ys, widths, shown = [], [], [], []
    x, line = 0.0, 0
    for token in text:
        visible = token.replace("\t", "⇥").replace("\r", "")
        breaks = visible.endswith("\n")
        visible = visible.replace("\n", "↵") or "∅"
        box = len(visible) * char_px + 4
        if x > 0 and x + box > frame_w:
            x, line = 0.0, line + 1
        xs.append(x)
        ys.append(line)
        widths.append(box)
        shown.append(visible)
        x += box + 1
        if breaks:
            x, line = 0.0, line + 1
    n_lines = max(ys) + 1 if ys else 1
    colors = _colors(data, mapper)
    title = _title(cube, title)
    fig = figure(
        frame_width=frame_w,
        frame_height=int(n_lines * line_px),
        title=title,
        toolbar_location=None,
        tools="",
        x_range=Range1d(start=0, end=frame_w),
        y_range=Range1d(start=n_lines * line_px, end=0),
        min_border_left=4,
        min_border_right=4,
    )
    fig.axis.visible = False
    fig.grid.visible = False
    fig.outline_line_color = None
    fig.background_fill_color = fig.border_fill_color = s["background"]
    _title_style(fig, s)
    centre = [(y + 0.5) * line_px for y in ys]
    source = ColumnDataSource(
        {
            "x": [a + w / 2 for a, w in zip(xs, widths, strict=True)],
            "left": [a + 2 for a in xs],
            "y": centre,
            "w": widths,
            "color": colors,
            "ink": [_ink(c) for c in colors],
            "text": shown,
            "value": data,
            "position": list(range(len(text))),
        }
    )
    boxes = fig.rect(
        "x", "y", "w", line_px - 3, source=source, fill_color="color", line_color=None, name="boxes"
    )
    fig.text(
        "left",
        "y",
        text="text",
        source=source,
        text_color="ink",
        text_font=value(s["mono_font"]),
        text_font_size=s["label_font_size"],
        text_baseline="middle",
        name="tokens",
    )
    label = _label(cube)
    fig.add_tools(
        HoverTool(
            renderers=[boxes],
            tooltips=[("position", "@position"), ("token", "@text"), (label, "@value{0.0000}")],
        )
    )
    fig.add_layout(
        _colorbar(
            mapper,
            label,
            s,
            orientation="horizontal",
            height=8,
            # room for half a tick label beyond each end of the bar
            width=min(frame_w - 40, 220),
            location=(20, 0),
            padding=4,
        ),
        "below",
    )
    remember(fig, cube, _meta("token_strip", cube, title=title, long_name=label))
    return fig
