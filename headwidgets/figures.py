"""Figures for papers: bokeh builders from cubes, and export to SVG, PNG, PDF and HTML.

Each builder takes a cube (see :mod:`headwidgets.cubes`) and returns a bokeh figure in one
house style made for print: sizes in CSS pixels at 96 per inch (the default width, 340 px, is
one column of a two-column paper), font sizes in points so they read at that width,
colorblind-safe palettes (Viridis for scores, a blue–white–red RdBu centred on 0 for effects,
Okabe–Ito for lines) and no toolbar. Override any of it with ``style={...}`` (keys of
:data:`HOUSE_STYLE`) or the builders' keyword arguments.

:func:`export` writes a figure to ``.svg`` (vector: one shape per heatmap cell, text labels),
``.png`` (``scale`` pixels per CSS pixel), ``.pdf`` or self-contained ``.html``, and with
``data=cube`` the cube beside it as netCDF.

Example
-------
>>> import numpy as np, tempfile
>>> import headwidgets as hw
>>> from headwidgets.cubes import make_cube
>>> from headwidgets.figures import head_heatmap
>>> cube = make_cube(np.random.rand(2, 4), ("layer", "head"), name="induction",
...                  attrs={"long_name": "induction score", "units": "attention"})
>>> fig = head_heatmap(cube, highlight=[(1, 2)])
>>> path = hw.export(fig, tempfile.mkdtemp() + "/heads.html", data=cube)
>>> sorted(p.suffix for p in path.parent.iterdir())
['.html', '.nc']
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from bokeh.core.properties import value
from bokeh.models import (
    BasicTicker,
    ColumnDataSource,
    FixedTicker,
    HoverTool,
    LinearColorMapper,
    Range1d,
)
from bokeh.models.annotations import ColorBar, Label, Legend, LegendItem, Span, Title
from bokeh.plotting import figure

from headwidgets._export import (
    BrowserNotFoundError,
    close_browser,
    export,
    figure_metadata,
    find_browser,
    remember,
)
from headwidgets.cubes import check_cube, load_cube

__all__ = [
    "FIGURE_KINDS",
    "HOUSE_STYLE",
    "BrowserNotFoundError",
    "attention_pattern",
    "close_browser",
    "cube_difference",
    "difference_cube",
    "export",
    "figure_command",
    "figure_metadata",
    "find_browser",
    "head_heatmap",
    "layer_profile",
    "scale_response",
    "token_strip",
]

Reduction = Literal["mean", "max", "min", "median", "sum", "absmax"]


def _interpolate(stops: Sequence[str], n: int) -> tuple[str, ...]:
    rgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in stops], dtype=float)
    where = np.linspace(0, len(stops) - 1, n)
    channels = [np.interp(where, np.arange(len(stops)), rgb[:, i]) for i in range(3)]
    return tuple("#{:02x}{:02x}{:02x}".format(*(round(c[j]) for c in channels)) for j in range(n))


#: ColorBrewer RdBu, blue (negative) – near-white (0) – red (positive), 256 steps
DIVERGING: tuple[str, ...] = _interpolate(
    (
        "#053061",
        "#2166ac",
        "#4393c3",
        "#92c5de",
        "#d1e5f0",
        "#f7f7f7",
        "#fddbc7",
        "#f4a582",
        "#d6604d",
        "#b2182b",
        "#67001f",
    ),
    256,
)
#: Okabe & Ito's colorblind-safe qualitative colors (yellow last: weak on white)
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#F0E442",
)

#: the house style; sizes in CSS px (96 = 1 inch), fonts in pt so they read at column width
HOUSE_STYLE: dict[str, Any] = {
    "width": 340,
    "font": "DejaVu Sans, Helvetica, Arial, sans-serif",
    "mono_font": "DejaVu Sans Mono, Menlo, Consolas, monospace",
    "title_font_size": "10pt",
    "label_font_size": "9pt",
    "tick_font_size": "8pt",
    "sequential": "Viridis256",
    "diverging": DIVERGING,
    "lines": OKABE_ITO,
    "line_width": 2.0,
    "nan_color": "#d9d9d9",
    "highlight_color": "#000000",
    "highlight_width": 2.0,
    "background": "#ffffff",
    "toolbar": False,
}
_EFFECT_WORDS = ("effect", "ablation", "patching", "attribution", "logit_diff", "difference")
_DASHES = ("solid", "dashed", "dotted", "dotdash")


# ---------------------------------------------------------------------------------------------
# style helpers


def _style(style: Mapping[str, Any] | None) -> dict[str, Any]:
    unknown = set(style or {}) - set(HOUSE_STYLE)
    if unknown:
        raise TypeError(
            f"unknown style keys {sorted(unknown)}; expected some of {list(HOUSE_STYLE)}"
        )
    return {**HOUSE_STYLE, **(style or {})}


def _palette(palette: str | Sequence[str]) -> tuple[str, ...]:
    if not isinstance(palette, str):
        return tuple(palette)
    from bokeh import palettes

    found = getattr(palettes, palette, None)
    if isinstance(found, tuple):
        return found
    if palette in palettes.all_palettes:
        sizes = palettes.all_palettes[palette]
        return tuple(sizes[max(sizes)])
    raise ValueError(
        f"unknown palette {palette!r}; use a bokeh.palettes name such as "
        "'Viridis256', 'Cividis256', 'RdBu11', or a list of colors"
    )


def _px(size: str) -> float:
    """CSS pixels of a font size such as '9pt' or '12px'."""
    return float(size[:-2]) * (4 / 3 if size.endswith("pt") else 1.0)


def _figure(s: Mapping[str, Any], width: int, height: int, title: str | None, **kw: Any) -> Any:
    fig = figure(
        width=int(width),
        height=int(height),
        title=title or None,
        toolbar_location="right" if s["toolbar"] else None,
        tools="",
        **kw,
    )
    fig.background_fill_color = fig.border_fill_color = s["background"]
    fig.outline_line_color = None
    _title_style(fig, s)
    for axis in fig.axis:
        axis.axis_label_text_font = axis.major_label_text_font = s["font"]
        axis.axis_label_text_font_size = s["label_font_size"]
        axis.axis_label_text_font_style = "normal"
        axis.major_label_text_font_size = s["tick_font_size"]
        axis.minor_tick_line_color = None
    return fig


def _title_style(fig: Any, s: Mapping[str, Any]) -> None:
    if isinstance(fig.title, Title):
        fig.title.text_font, fig.title.text_font_size = s["font"], s["title_font_size"]
        fig.title.text_font_style = "normal"


def _legend(
    items: list[LegendItem], s: Mapping[str, Any], location: Any, horizontal: bool = False
) -> Legend:
    legend = Legend(
        orientation="horizontal" if horizontal else "vertical",
        items=items,
        location=location,
        label_text_font=s["font"],
        label_text_font_size=s["tick_font_size"],
        spacing=0,
        border_line_color=None,
        background_fill_alpha=0.8,
    )
    legend.padding = 4  # type: ignore[assignment]
    return legend


def _colorbar(mapper: LinearColorMapper, label: str, s: Mapping[str, Any], **kw: Any) -> ColorBar:
    return ColorBar(
        color_mapper=mapper,
        title=label,
        ticker=BasicTicker(desired_num_ticks=5),
        title_text_font=s["font"],
        title_text_font_size=s["tick_font_size"],
        title_text_font_style="normal",
        major_label_text_font=s["font"],
        major_label_text_font_size=s["tick_font_size"],
        background_fill_color=s["background"],
        **kw,
    )


def _label(cube: xr.DataArray | None, default: str = "value") -> str:
    """``long_name [units]`` from the cube's attrs (the axis or color bar title)."""
    if cube is None:
        return default
    name = str(cube.attrs.get("long_name") or cube.name or default)
    units = str(cube.attrs.get("units") or "")
    return f"{name} [{units}]" if units else name


def _title(cube: xr.DataArray | None, title: str | None, extra: str = "") -> str | None:
    if title is not None:
        return title or None
    model = str(cube.attrs.get("model", "")) if cube is not None else ""
    parts = [p for p in (model, extra) if p]
    return " · ".join(parts) or None


def _is_effect(cube: xr.DataArray, values: np.ndarray) -> bool:
    """Effects (signed changes) get a diverging palette; scores a sequential one."""
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() < 0 < finite.max():
        return True
    words = " ".join(str(cube.attrs.get(k, "")) for k in ("method", "metric", "long_name"))
    return any(word in f"{words} {cube.name}".lower() for word in _EFFECT_WORDS)


def _mapper(
    values: np.ndarray,
    palette: str | Sequence[str] | None,
    diverging: bool,
    low: float | None,
    high: float | None,
    s: Mapping[str, Any],
) -> LinearColorMapper:
    finite = values[np.isfinite(values)]
    if diverging:
        bound = float(np.abs(finite).max()) if finite.size else 1.0
        bound = bound or 1.0
        lo, hi = -bound, bound
    else:
        # scores that cannot be negative (attention, probabilities) start at 0, so colors
        # compare across figures
        lo = min(float(finite.min()), 0.0) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 1.0
    lo, hi = lo if low is None else float(low), hi if high is None else float(high)
    if hi <= lo:
        lo, hi = lo - 0.5, lo + 0.5
    chosen = palette if palette is not None else s["diverging" if diverging else "sequential"]
    return LinearColorMapper(palette=_palette(chosen), low=lo, high=hi, nan_color=s["nan_color"])


def _colors(values: np.ndarray, mapper: LinearColorMapper) -> list[str]:
    """The colors BokehJS's mapper gives ``values`` (for text contrast decisions)."""
    palette = list(mapper.palette)  # type: ignore[arg-type]
    low, high = float(mapper.low), float(mapper.high)  # type: ignore[arg-type]
    out = []
    for number in values:
        if not np.isfinite(number):
            out.append(str(mapper.nan_color))
            continue
        index = int((number - low) / (high - low) * len(palette))
        out.append(str(palette[min(max(index, 0), len(palette) - 1)]))
    return out


def _ink(color: str) -> str:
    """Black or white text, whichever reads on ``color`` (relative luminance)."""
    if not color.startswith("#") or len(color) < 7:
        return "#000000"
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return "#000000" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "#ffffff"


def _ticks(axis: Any, labels: Sequence[str], room_px: float, label_px: float) -> None:
    """Integer ticks at positions 0..n-1 labelled ``labels``, thinned to fit ``room_px``."""
    step = max(1, math.ceil(len(labels) * label_px / max(room_px, 1.0)))
    ticks = list(range(0, len(labels), step))
    axis.ticker = FixedTicker(ticks=ticks)
    axis.major_label_overrides = {tick: labels[tick] for tick in ticks}


def _show_token(token: str) -> str:
    return token.replace("\n", "↵").replace("\t", "⇥").replace("\r", "") or "∅"


def _meta(kind: str, cube: xr.DataArray | None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"figure": kind}
    if cube is not None:
        meta["name"] = str(cube.name)
        meta.update({str(k): v for k, v in cube.attrs.items() if not str(k).startswith("_")})
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


def _only(cube: xr.DataArray, dims: tuple[str, ...], who: str) -> xr.DataArray:
    extra = [str(d) for d in cube.dims if d not in dims]
    if extra:
        raise ValueError(
            f"{who} needs a {dims} cube; reduce or select dims {extra} first, "
            f"e.g. cube.mean({extra[0]!r}) or cube.sel({extra[0]}=...)"
        )
    return cube.transpose(*dims)


def _pick(cube: xr.DataArray, who: str, **choice: Any) -> xr.DataArray:
    """Select one ``layer``/``head``/``prompt`` (size-1 dims are taken as they are)."""
    for dim, chosen in choice.items():
        if dim not in cube.dims:
            if chosen is not None:
                raise ValueError(f"{dim}={chosen!r} given but the cube has no {dim!r} dim")
            continue
        if chosen is None:
            if cube.sizes[dim] != 1:
                found = cube[dim].values.tolist()
                raise ValueError(f"{who} shows one {dim}: pass {dim}=... (the cube has {found})")
            chosen = cube[dim].values[0]
        cube = cube.sel({dim: chosen}) if dim in cube.indexes else cube.isel({dim: int(chosen)})
    return cube


def _head_pairs(heads: Any) -> list[tuple[int, int]]:
    if heads is None:
        return []
    if hasattr(heads, "heads") and not isinstance(heads, (set, frozenset, list, tuple)):
        heads = heads.heads  # an Intervention
    if hasattr(heads, "columns"):  # a top_heads DataFrame
        heads = zip(heads["layer"], heads["head"], strict=True)
    pairs = []
    for item in heads:
        pair = tuple(item)
        if len(pair) != 2:
            raise ValueError(f"highlight takes (layer, head) pairs, got {item!r}")
        pairs.append((int(pair[0]), int(pair[1])))
    return sorted(set(pairs))


# ---------------------------------------------------------------------------------------------
# head heatmap and difference


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
    width: int | None = None,
    height: int | None = None,
    style: Mapping[str, Any] | None = None,
) -> Any:
    """Layer × head heatmap of a (layer, head) cube, one rect glyph per head.

    Parameters
    ----------
    cube
        A cube with dims exactly ``("layer", "head")`` (reduce others first). NaN cells are
        drawn in the style's ``nan_color``.
    highlight
        Heads to outline: ``(layer, head)`` pairs, a ``top_heads`` DataFrame or an
        ``Intervention`` (its edited heads).
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
        when diverging).
    colorbar
        Draw a color bar titled ``long_name [units]``.
    width, height
        Size in CSS pixels (default: the style's width, height from the cube's aspect).
    style
        Overrides of :data:`HOUSE_STYLE`.

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
    check_cube(cube)
    cube = _only(cube, ("layer", "head"), "head_heatmap")
    s = _style(style)
    values = np.asarray(cube.values, dtype=float)
    n_layers, n_heads = values.shape
    layers, heads = cube["layer"].values, cube["head"].values
    signed = _is_effect(cube, values) if diverging is None else diverging
    mapper = _mapper(values, palette, signed, low, high, s)
    label = _label(cube)
    title = _title(cube, title)

    width = int(width or s["width"])
    frame_w = width - 40 - (75 if colorbar else 12)  # minus the y axis and the color bar
    frame_h = np.clip(frame_w / n_heads * n_layers, 60, 900)  # square cells
    height = int(height or round(frame_h + 44 + (26 if title else 8)))
    fig = _figure(
        s,
        width,
        height,
        title,
        x_range=Range1d(start=-0.5, end=n_heads - 0.5),
        y_range=Range1d(start=n_layers - 0.5, end=-0.5),
    )
    fig.grid.visible = False
    fig.xaxis.axis_label, fig.yaxis.axis_label = "head", "layer"
    tick_px = _px(s["tick_font_size"])
    head_text, layer_text = [str(h) for h in heads], [str(layer) for layer in layers]
    _ticks(fig.xaxis[0], head_text, frame_w, 0.62 * tick_px * max(map(len, head_text)) + 5)
    _ticks(fig.yaxis[0], layer_text, height - 70, tick_px * 1.4)

    row, col = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    source = ColumnDataSource(
        {
            "x": col.ravel(),
            "y": row.ravel(),
            "layer": layers[row.ravel()],
            "head": heads[col.ravel()],
            "value": values.ravel(),
        }
    )
    fill = {"field": "value", "transform": mapper}
    # a hairline of the same color closes the seams some PDF viewers draw between cells
    cells = fig.rect(
        "x",
        "y",
        1,
        1,
        source=source,
        fill_color=fill,
        line_color=fill,
        line_width=0.5,
        name="cells",
    )
    fig.add_tools(
        HoverTool(
            renderers=[cells],
            tooltips=[("layer", "@layer"), ("head", "@head"), (label, "@value{0.0000}")],
        )
    )

    pairs = _head_pairs(highlight)
    layer_at = {int(v): i for i, v in enumerate(layers)}
    head_at = {int(v): i for i, v in enumerate(heads)}
    missing = [p for p in pairs if p[0] not in layer_at or p[1] not in head_at]
    if missing:
        raise ValueError(
            f"highlighted heads {missing} are not in the cube (layers "
            f"{layers.tolist()}, heads {heads.tolist()})"
        )
    if pairs:
        fig.rect(
            [head_at[h] for _, h in pairs],
            [layer_at[la] for la, _ in pairs],
            0.92,
            0.92,
            fill_color=None,
            line_color=s["highlight_color"],
            line_width=s["highlight_width"],
            name="highlight",
        )
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


def difference_cube(
    cube_a: xr.DataArray, cube_b: xr.DataArray, labels: Sequence[str] | None = None
) -> xr.DataArray:
    """``cube_a − cube_b`` aligned on (layer, head); heads present in only one are NaN.

    ``labels`` name the two cubes (default: their ``model`` attrs, as in
    :func:`headwidgets.cubes.compare`); the result's ``long_name`` is ``Δ long_name`` and
    its ``difference`` attr says ``a − b``.

    Example
    -------
    >>> from headwidgets.cubes import make_cube
    >>> a = make_cube([[1.0, 2.0]], ("layer", "head"), name="s", attrs={"model": "early"})
    >>> b = make_cube([[0.5, 2.5]], ("layer", "head"), name="s", attrs={"model": "late"})
    >>> d = difference_cube(a, b)
    >>> d.values.tolist(), d.attrs["long_name"], d.attrs["difference"]
    ([[0.5, -0.5]], 'Δ s', 'early − late')
    """
    from headwidgets.cubes import compare

    both = compare(cube_a, cube_b, labels=labels)
    names = [str(n) for n in both["model"].values]
    diff = both.isel(model=0, drop=True) - both.isel(model=1, drop=True)
    attrs = dict(both.attrs)
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
    names = [str(n) for n in json.loads(diff.attrs["model"])] if labels is None else list(labels)
    if title is None:
        title = f"{names[0]} − {names[1]}"
    kwargs.setdefault("diverging", True)
    return head_heatmap(diff, highlight=highlight, title=title, **kwargs)


# ---------------------------------------------------------------------------------------------
# attention pattern and token strip


def _as_pattern(
    pattern: Any, layer: int | None, head: int | None, prompt: int | None
) -> tuple[xr.DataArray, xr.DataArray | None]:
    """A (query, key) DataArray from a cube or an array, and the cube it came from."""
    if isinstance(pattern, xr.DataArray):
        check_cube(pattern, require=())
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
    palette: str | Sequence[str] | None = None,
    high: float | None = None,
    title: str | None = None,
    width: int | None = None,
    height: int | None = None,
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
    palette, high
        Sequential palette and color maximum (default: the largest weight; the minimum is 0).
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
    s = _style(style)
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

    mapper = _mapper(values, palette, False, 0.0, high, s)
    where = [
        f"layer {int(grid[d])}" if d == "layer" else f"head {int(grid[d])}"
        for d in ("layer", "head")
        if d in grid.coords
    ]
    title = _title(cube, title, ", ".join(where))
    tick_px = _px(s["tick_font_size"])
    label_room = 0.62 * tick_px * max(len(t) for t in query_text + key_text) + 10
    cell = float(np.clip(300 / max(n_query, n_key), 4, 22))
    # plot area plus the axis (labels, ticks, name), the color bar and the title
    width = int(width or round(cell * n_key + label_room + 35 + 62))
    height = int(height or round(cell * n_query + label_room + 45 + (26 if title else 8)))
    fig = _figure(
        s,
        width,
        height,
        title,
        x_range=Range1d(start=-0.5, end=n_key - 0.5),
        y_range=Range1d(start=n_query - 0.5, end=-0.5),
    )
    fig.grid.visible = False
    fig.xaxis.axis_label, fig.yaxis.axis_label = "key", "query"
    fig.xaxis.major_label_orientation = math.pi / 2
    _ticks(fig.xaxis[0], key_text, width - label_room - 97, tick_px * 1.3)
    _ticks(fig.yaxis[0], query_text, height - label_room - 71, tick_px * 1.3)

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
    fill = {"field": "value", "transform": mapper}
    cells = fig.rect(
        "x",
        "y",
        1,
        1,
        source=source,
        fill_color=fill,
        line_color=fill,
        line_width=0.5,
        name="cells",
    )
    fig.add_tools(
        HoverTool(
            renderers=[cells],
            tooltips=[
                ("query", "@y @query_token"),
                ("key", "@x @key_token"),
                ("weight", "@value{0.000}"),
            ],
        )
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
    width: int | None = None,
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
    s = _style(style)
    unknown = set(select) - {"layer", "head", "prompt"}
    if unknown:
        raise TypeError(f"unknown arguments {sorted(unknown)}; select with layer=, head=, prompt=")
    cube: xr.DataArray | None = None
    if isinstance(values, xr.DataArray):
        check_cube(values, require=())
        cube = values
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
    font_px = _px(s["label_font_size"])
    char_px, line_px = 0.602 * font_px, 1.7 * font_px  # DejaVu Sans Mono advance: 0.602 em
    frame_w = int(width or s["width"]) - 8
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
            mapper, label, s, orientation="horizontal", height=8, width=min(frame_w, 220), padding=4
        ),
        "below",
    )
    remember(fig, cube, _meta("token_strip", cube, title=title, long_name=label))
    return fig


# ---------------------------------------------------------------------------------------------
# curves: metric vs scale, per-layer profile


def _curves(
    cube: xr.DataArray | Mapping[str, xr.DataArray], heads: Iterable[tuple[int, int]] | None
) -> list[tuple[str, xr.DataArray]]:
    """(label, 1-D scale curve) pairs: one per entry of a mapping, head, or other coord."""
    if isinstance(cube, Mapping):
        return [(str(name), c) for name, c in cube.items()]
    if "scale" not in cube.dims:
        raise ValueError(f"scale_response needs a 'scale' dim; the cube has {cube.dims}")
    if "layer" in cube.dims and "head" in cube.dims and heads is not None:
        pairs = _head_pairs(heads)
        cube = cube.stack(pair=("layer", "head")).sel(pair=pairs).unstack("pair")
    others = [str(d) for d in cube.dims if d != "scale"]
    if not others:
        label = cube.attrs.get("heads") or cube.attrs.get("long_name") or cube.name
        return [(str(label), cube)]
    stacked = cube.stack(line=others).transpose("line", "scale")
    curves = []
    for i in range(stacked.sizes["line"]):
        curve = stacked.isel(line=i)
        if not np.isfinite(curve.values).any():
            continue  # e.g. heads outside the swept set
        keys = dict(zip(others, np.atleast_1d(stacked["line"].values[i]), strict=True))
        if set(keys) >= {"layer", "head"}:
            name = f"L{keys.pop('layer')}.H{keys.pop('head')}"
            label = " ".join([name, *(str(v) for v in keys.values())])
        else:
            label = " ".join(str(v) for v in keys.values())
        curves.append((label, curve))
    return curves


def scale_response(
    cube: xr.DataArray | Mapping[str, xr.DataArray],
    heads: Iterable[tuple[int, int]] | None = None,
    baseline: float = 1.0,
    title: str | None = None,
    *,
    palette: Sequence[str] | None = None,
    width: int | None = None,
    height: int | None = None,
    style: Mapping[str, Any] | None = None,
) -> Any:
    """Metric against the scale α, one line per head set, the baseline α = 1 marked.

    Parameters
    ----------
    cube
        A cube with a ``scale`` dim: a head set's curve (dims ``("scale",)``), one curve per
        head (``("layer", "head", "scale")``) or per any other coord (``model``, ...); or a
        mapping ``{"label": curve, ...}`` of head sets.
    heads
        For a per-head cube: the ``(layer, head)`` lines to draw (default: every head with
        values).
    baseline
        α of the unedited model (a dashed rule, and a marker where each curve crosses it).
    title
        Default: the cube's ``model`` attr.
    palette
        Line colors (default: Okabe–Ito; dashes vary after the colors run out).
    width, height, style
        As in :func:`head_heatmap`.

    Example
    -------
    >>> import numpy as np
    >>> from headwidgets.cubes import make_cube
    >>> alphas = np.array([0.0, 0.5, 1.0, 2.0])
    >>> curve = make_cube(3 - (alphas - 1) ** 2, ("scale",), coords={"scale": alphas},
    ...                   name="logit_diff", attrs={"heads": "L1.H2"})
    >>> scale_response(curve).xaxis[0].axis_label
    'scale α'
    """
    s = _style(style)
    curves = _curves(cube, heads)
    if not curves:
        raise ValueError("scale_response found no curve with values to draw")
    first = curves[0][1]
    for _, curve in curves:
        check_cube(curve, require=())
        if curve.dims != ("scale",):
            raise ValueError(f"each scale curve must have dims ('scale',), got {curve.dims}")
    title = _title(first, title)
    fig = _figure(s, int(width or s["width"]), int(height or 250), title)
    fig.xaxis.axis_label, fig.yaxis.axis_label = "scale α", _label(first)
    fig.grid.grid_line_color = "#eeeeee"
    colors = tuple(palette or s["lines"])
    items = []
    for i, (label, curve) in enumerate(curves):
        color, dash = colors[i % len(colors)], _DASHES[(i // len(colors)) % len(_DASHES)]
        alpha = np.asarray(curve["scale"].values, dtype=float)
        order = np.argsort(alpha)
        source = ColumnDataSource(
            {"scale": alpha[order], "value": np.asarray(curve.values, dtype=float)[order]}
        )
        line = fig.line(
            "scale",
            "value",
            source=source,
            line_color=color,
            line_dash=dash,
            line_width=s["line_width"],
        )
        dots = fig.scatter("scale", "value", source=source, color=color, size=4)
        renderers = [line, dots]
        at = np.isclose(alpha, baseline)
        if at.any():
            marker = fig.scatter(
                [baseline],
                [float(np.asarray(curve.values)[at][0])],
                size=9,
                marker="circle",
                fill_color="white",
                line_color=color,
                line_width=2,
            )
            renderers.append(marker)
        items.append(LegendItem(label=label, renderers=renderers))
        fig.add_tools(
            HoverTool(
                renderers=[dots],
                tooltips=[("head set", label), ("α", "@scale"), ("value", "@value{0.0000}")],
            )
        )
    fig.add_layout(
        Span(
            location=baseline,
            dimension="height",
            line_color="#666666",
            line_dash="dashed",
            line_width=1,
        )
    )
    fig.add_layout(
        Label(
            x=baseline,
            y=4,
            y_units="screen",
            x_offset=3,
            text=f"baseline (α = {baseline:g})",
            text_color="#444444",
            text_font=s["font"],
            text_font_size=s["tick_font_size"],
        )
    )
    if len(items) > 1 or items[0].label != fig.yaxis[0].axis_label:
        # a few lines fit inside the frame; more go beside it
        outside = len(items) > 4
        fig.add_layout(
            _legend(items, s, "top" if outside else "top_left", horizontal=not outside),
            "right" if outside else "above",
        )
    source_cube = cube if isinstance(cube, xr.DataArray) else None
    remember(
        fig,
        source_cube,
        _meta(
            "scale_response",
            first,
            title=title,
            baseline=baseline,
            lines=[label for label, _ in curves],
        ),
    )
    return fig


_REDUCERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda v: np.nanmean(v, axis=1),
    "median": lambda v: np.nanmedian(v, axis=1),
    "max": lambda v: np.nanmax(v, axis=1),
    "min": lambda v: np.nanmin(v, axis=1),
    "sum": lambda v: np.nansum(v, axis=1),
    "absmax": lambda v: np.nanmax(np.abs(v), axis=1),
}


def layer_profile(
    cube: xr.DataArray,
    reduce: Sequence[Reduction] = ("mean", "max"),
    show_heads: bool = True,
    title: str | None = None,
    *,
    width: int | None = None,
    height: int | None = None,
    style: Mapping[str, Any] | None = None,
) -> Any:
    """Per-layer summary of a (layer, head) cube: one line per reduction over heads.

    Parameters
    ----------
    cube
        A (layer, head) cube.
    reduce
        Reductions over heads, each a line: ``"mean"``, ``"median"``, ``"max"``, ``"min"``,
        ``"sum"``, ``"absmax"`` (NaN heads are skipped).
    show_heads
        Also draw every head as a small grey dot.
    title, width, height, style
        As in :func:`head_heatmap`.

    Example
    -------
    >>> import numpy as np
    >>> from headwidgets.cubes import make_cube
    >>> cube = make_cube(np.arange(12.0).reshape(3, 4), ("layer", "head"), name="score")
    >>> fig = layer_profile(cube, reduce=("mean",))
    >>> fig.select_one({"name": "mean"}).data_source.data["value"].tolist()
    [1.5, 5.5, 9.5]
    """
    check_cube(cube)
    cube = _only(cube, ("layer", "head"), "layer_profile")
    bad = [r for r in reduce if r not in _REDUCERS]
    if bad or not reduce:
        raise ValueError(f"unknown reductions {bad}; expected some of {list(_REDUCERS)}")
    s = _style(style)
    values = np.asarray(cube.values, dtype=float)
    layers = np.asarray(cube["layer"].values)
    title = _title(cube, title)
    fig = _figure(s, int(width or s["width"]), int(height or 240), title)
    fig.xaxis.axis_label, fig.yaxis.axis_label = "layer", _label(cube)
    fig.grid.grid_line_color = "#eeeeee"
    fig.xaxis.ticker = FixedTicker(ticks=[int(v) for v in layers[:: max(1, len(layers) // 16)]])
    if show_heads:
        row, col = np.nonzero(np.isfinite(values))
        heads = ColumnDataSource(
            {"layer": layers[row], "head": cube["head"].values[col], "value": values[row, col]}
        )
        dots = fig.scatter(
            "layer", "value", source=heads, size=4, color="#9a9a9a", alpha=0.7, name="heads"
        )
        fig.add_tools(
            HoverTool(
                renderers=[dots],
                tooltips=[("layer", "@layer"), ("head", "@head"), ("value", "@value{0.0000}")],
            )
        )
    items = []
    with np.errstate(all="ignore"):
        for i, name in enumerate(reduce):
            summary = ColumnDataSource({"layer": layers, "value": _REDUCERS[name](values)})
            color = s["lines"][i % len(s["lines"])]
            line = fig.line(
                "layer",
                "value",
                source=summary,
                line_color=color,
                line_width=s["line_width"],
                name=name,
            )
            dots = fig.scatter("layer", "value", source=summary, color=color, size=6)
            items.append(LegendItem(label=f"{name} over heads", renderers=[line, dots]))
    fig.add_layout(_legend(items, s, "top_left", horizontal=True), "above")
    remember(fig, cube, _meta("layer_profile", cube, title=title, reduce=list(reduce)))
    return fig


# ---------------------------------------------------------------------------------------------
# command line


#: ``headwidgets figure --kind`` choices and the builders they call
FIGURE_KINDS: dict[str, Callable[..., Any]] = {
    "heatmap": head_heatmap,
    "pattern": attention_pattern,
    "scale": scale_response,
    "profile": layer_profile,
    "difference": cube_difference,
    "tokens": token_strip,
}
_KEEP = {
    "heatmap": ("layer", "head"),
    "profile": ("layer", "head"),
    "difference": ("layer", "head"),
    "pattern": ("layer", "head", "query", "key"),
    "scale": ("layer", "head", "scale", "model"),
    "tokens": ("layer", "head", "query", "key"),
}


def _parse_heads(text: str) -> list[tuple[int, int]]:
    """``"1.2,0.3"`` or ``"L1H2 L0H3"`` -> [(1, 2), (0, 3)]."""
    pairs = []
    for item in text.replace(",", " ").split():
        digits = item.upper().replace("L", "").replace("H", ".").lstrip(".")
        layer, _, head = digits.partition(".")
        if not layer.isdigit() or not head.isdigit():
            raise ValueError(f"cannot read head {item!r}; write layer.head, e.g. 1.2")
        pairs.append((int(layer), int(head)))
    return pairs


def figure_command(
    cube_path: str | Path,
    kind: str,
    out: str | Path,
    *,
    other: str | Path | None = None,
    reduce: str | None = None,
    scale: float = 2.0,
    data: bool = False,
    **opts: Any,
) -> Path:
    """``headwidgets figure CUBE.nc --kind heatmap --out fig.svg``: draw a saved cube, export it.

    Parameters
    ----------
    cube_path
        A cube written by :func:`headwidgets.save_cube` (``.nc`` or ``.zarr``).
    kind
        One of :data:`FIGURE_KINDS`: ``heatmap``, ``pattern``, ``scale``, ``profile``,
        ``difference`` (needs ``other``), ``tokens``.
    out
        Output file; its suffix picks the format (``.svg``, ``.png``, ``.pdf``, ``.html``).
    other
        The second cube of a ``difference`` figure (the figure shows cube − other).
    reduce
        Reduce dims the figure does not draw (e.g. ``prompt``) with ``mean``, ``median``,
        ``max``, ``min`` or ``sum`` before drawing.
    scale
        PNG pixels per CSS pixel.
    data
        Also write the drawn cube beside the figure (``out`` with suffix ``.nc``).
    **opts
        Keyword arguments of the builder; ``highlight`` may be a string such as ``"1.2,0.3"``.
        ``None`` values are dropped (unset command-line options).

    Returns
    -------
    pathlib.Path
        The figure file.

    Example
    -------
    >>> import numpy as np, tempfile
    >>> from headwidgets.cubes import make_cube, save_cube
    >>> folder = tempfile.mkdtemp()
    >>> cube = save_cube(make_cube(np.random.rand(2, 3), ("layer", "head"), name="s"),
    ...                  folder + "/s.nc")
    >>> figure_command(cube, "heatmap", folder + "/s.html", highlight="1.2").name
    's.html'
    """
    if kind not in FIGURE_KINDS:
        raise ValueError(f"unknown figure kind {kind!r}; expected one of {list(FIGURE_KINDS)}")
    opts = {k: v for k, v in opts.items() if v is not None}
    if isinstance(opts.get("highlight"), str):
        opts["highlight"] = _parse_heads(opts["highlight"])
    if isinstance(opts.get("heads"), str):
        opts["heads"] = _parse_heads(opts["heads"])

    def prepare(path: str | Path) -> xr.DataArray:
        cube = load_cube(path)
        extra = [d for d in cube.dims if d not in _KEEP[kind]]
        if extra and reduce is not None:
            if reduce not in ("mean", "median", "max", "min", "sum"):
                raise ValueError(f"unknown reduce {reduce!r}; expected mean, median, max, min, sum")
            cube = getattr(cube, reduce)(extra, keep_attrs=True)
        return cube

    cube = prepare(cube_path)
    if kind == "difference":
        if other is None:
            raise ValueError("a difference figure needs a second cube: other=PATH (cube − other)")
        fig = cube_difference(cube, prepare(other), **opts)
        drawn: xr.DataArray = difference_cube(cube, prepare(other), opts.get("labels"))
    else:
        fig = FIGURE_KINDS[kind](cube, **opts)
        drawn = cube
    return export(fig, out, data=drawn if data else None, scale=scale)
