"""The figures' house style and the helpers every builder shares (private).

Palettes (:data:`DIVERGING`, :data:`OKABE_ITO`), :data:`HOUSE_STYLE`, and small functions
that style a bokeh figure, build color mappers, legends and color bars, and read labels and
titles from a cube's attrs. The public names are re-exported by :mod:`headwidgets.figures`.

Example
-------
>>> from headwidgets._figstyle import HOUSE_STYLE, _style
>>> _style({"width": 500})["width"], HOUSE_STYLE["width"]
(500, 'column')
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from bokeh.models import BasicTicker, FixedTicker, HoverTool, LinearColorMapper
from bokeh.models.annotations import ColorBar, Legend, LegendItem, Title
from bokeh.plotting import figure

from headwidgets.cubes import UNKNOWN


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

#: the house style; sizes in CSS px (96 = 1 inch) or as ``"column"`` (3.25 in), ``"text"``
#: (6.75 in) or a length (``"3in"``); font sizes in pt (a number, or a string such as
#: ``"8pt"``) so they read at column width; palettes are bokeh or matplotlib color-map names
#: (``"viridis"``, ``"RdBu_r"``) or lists of colors; ``text_color``, ``axis_color`` and
#: ``grid_color`` left at None follow the background (light on a dark one, see :data:`DARK`)
HOUSE_STYLE: dict[str, Any] = {
    "width": "column",
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
    "text_color": None,
    "axis_color": None,
    "grid_color": None,
    "toolbar": False,
}
#: a dark theme: ``style=hw.figures.DARK`` (or ``{**DARK, "tick_font_size": 7}``)
DARK: dict[str, Any] = {
    "background": "#1e1e1e",
    "nan_color": "#4d4d4d",
    "highlight_color": "#ffffff",
}
#: bare ColorBrewer names that are sequential (matplotlib orders them light to dark)
_BREWER = (
    "YlGn YlGnBu GnBu BuGn PuBuGn PuBu BuPu RdPu PuRd OrRd YlOrRd YlOrBr Purples Blues Greens "
    "Oranges Reds Greys PuOr BrBG PRGn PiYG RdBu RdGy RdYlBu Spectral RdYlGn"
).split()
_MATPLOTLIB = {
    "viridis": "Viridis256",
    "magma": "Magma256",
    "inferno": "Inferno256",
    "plasma": "Plasma256",
    "cividis": "Cividis256",
    "turbo": "Turbo256",
    "gray": "Greys256",
    "grey": "Greys256",
}
_EFFECT_WORDS = ("effect", "ablation", "patching", "attribution", "logit_diff", "difference")
_DASHES = ("solid", "dashed", "dotted", "dotdash")


# ---------------------------------------------------------------------------------------------
# style helpers


def _luminance(color: str) -> float:
    if not color.startswith("#") or len(color) < 7:
        return 1.0
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _style(style: Mapping[str, Any] | None) -> dict[str, Any]:
    """The house style with ``style``'s overrides: font sizes as CSS strings, the colors of
    text, axes and grid chosen for the background where not given.

    Example
    -------
    >>> s = _style({"tick_font_size": 7, "background": "#000000"})
    >>> s["tick_font_size"], s["text_color"], s["highlight_color"]
    ('7pt', '#e6e6e6', '#ffffff')
    """
    unknown = set(style or {}) - set(HOUSE_STYLE)
    if unknown:
        raise TypeError(
            f"unknown style keys {sorted(unknown)}; expected some of {list(HOUSE_STYLE)}"
        )
    s = {**HOUSE_STYLE, **(style or {})}
    for key in ("title_font_size", "label_font_size", "tick_font_size"):
        size = s[key]
        if isinstance(size, (int, float)) and not isinstance(size, bool):
            s[key] = f"{size:g}pt"  # a number is points
        elif not (isinstance(size, str) and re.fullmatch(r"\d+(\.\d+)?(pt|px)", size)):
            raise ValueError(f"{key} must be points (8, 7.5) or a string such as '8pt', '11px'")
    dark = _luminance(str(s["background"])) < 0.4
    s["text_color"] = s["text_color"] or ("#e6e6e6" if dark else "#444444")
    s["axis_color"] = s["axis_color"] or ("#bdbdbd" if dark else "#000000")
    s["grid_color"] = s["grid_color"] or ("#3a3a3a" if dark else "#eeeeee")
    if dark and "highlight_color" not in (style or {}):
        s["highlight_color"] = "#ffffff"  # black outlines vanish on a dark background
    return s


def _palette(palette: str | Sequence[str]) -> tuple[str, ...]:
    """Colors of a bokeh palette name (``"Viridis256"``, ``"RdBu11"``), a matplotlib
    color-map name (``"viridis"``, ``"Blues"``, ``"RdBu_r"``: ordered as matplotlib does, low
    values first) or a list of colors."""
    if not isinstance(palette, str):
        return tuple(palette)
    from bokeh import palettes

    found = getattr(palettes, palette, None)
    if isinstance(found, tuple) and palette not in _BREWER:
        return found
    name, reverse = (palette[:-2], True) if palette.endswith("_r") else (palette, False)
    colors: tuple[str, ...] | None = None
    if name.lower() in _MATPLOTLIB:
        colors = tuple(getattr(palettes, _MATPLOTLIB[name.lower()]))  # same order
    else:
        brewer = {b.lower(): b for b in _BREWER}.get(name.lower())
        if brewer is not None:  # bokeh stores ColorBrewer maps dark/high end first
            sizes = palettes.all_palettes[brewer]
            colors = tuple(reversed(sizes[max(sizes)]))
        elif name in palettes.all_palettes:
            sizes = palettes.all_palettes[name]
            colors = tuple(sizes[max(sizes)])
    if colors is None:
        raise ValueError(
            f"unknown palette {palette!r}; use a bokeh.palettes name ('Viridis256', "
            "'Cividis256', 'RdBu11'), a matplotlib color-map name ('viridis', 'magma', "
            "'cividis', 'Blues', 'RdBu_r', ...) or a list of colors"
        )
    return tuple(reversed(colors)) if reverse else colors


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
    fig.grid.grid_line_color = s["grid_color"]
    _title_style(fig, s)
    for axis in fig.axis:
        axis.axis_label_text_font = axis.major_label_text_font = s["font"]
        axis.axis_label_text_font_size = s["label_font_size"]
        axis.axis_label_text_font_style = "normal"
        axis.major_label_text_font_size = s["tick_font_size"]
        axis.minor_tick_line_color = None
        axis.axis_label_text_color = axis.major_label_text_color = s["text_color"]
        axis.axis_line_color = axis.major_tick_line_color = s["axis_color"]
    return fig


def _title_style(fig: Any, s: Mapping[str, Any]) -> None:
    if isinstance(fig.title, Title):
        fig.title.text_font, fig.title.text_font_size = s["font"], s["title_font_size"]
        fig.title.text_font_style = "normal"
        fig.title.text_color = s["text_color"]


def _legend(
    items: list[LegendItem],
    s: Mapping[str, Any],
    location: Any,
    horizontal: bool = False,
    room: float | None = None,
) -> Legend:
    """A legend in the house style; a horizontal one wraps into rows to fit ``room`` px."""
    legend = Legend(
        orientation="horizontal" if horizontal else "vertical",
        items=items,
        location=location,
        label_text_font=s["font"],
        label_text_font_size=s["tick_font_size"],
        label_text_color=s["text_color"],
        title_text_color=s["text_color"],
        background_fill_color=s["background"],
        spacing=12 if horizontal else 0,  # entries side by side must not touch
        border_line_color=None,
        background_fill_alpha=0.8,
    )
    legend.padding = 4  # type: ignore[assignment]
    if horizontal and room is not None:
        _wrap_legend(legend, s, room)
    return legend


def _wrap_legend(legend: Legend, s: Mapping[str, Any], room: float) -> None:
    """Let a horizontal legend use as many columns as fit in ``room`` px."""
    items = list(legend.items)
    if not items:
        return
    char_px = 0.6 * _px(s["tick_font_size"])  # DejaVu Sans is at most ~0.6 em per char
    widths = [20 + 5 + char_px * len(_item_label(item)) + 12 for item in items]

    def widest(ncols: int) -> float:
        return max(sum(widths[i : i + ncols]) for i in range(0, len(widths), ncols))

    ncols = len(items)
    while ncols > 1 and widest(ncols) > room - 2 * 4:
        ncols -= 1
    legend.ncols = ncols


def _item_label(item: Any) -> str:
    label = item.label
    return str(getattr(label, "value", label) or "")


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
        title_text_color=s["text_color"],
        major_label_text_color=s["text_color"],
        background_fill_color=s["background"],
        **kw,
    )


def _cells(fig: Any, source: Any, mapper: LinearColorMapper, tooltips: list[Any]) -> Any:
    """Unit rect glyphs at ``x``/``y`` of ``source`` colored by its ``value`` through ``mapper``,
    with a hover tool; returns the renderer (named ``cells``)."""
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
    fig.add_tools(HoverTool(renderers=[cells], tooltips=tooltips))
    return cells


#: metric names in words, for labels (``logit_diff(' Mary' - ' John')`` reads
#: ``logit difference ' Mary' − ' John'``)
_METRIC_WORDS = {
    "logit_diff": "logit difference",
    "logprob": "log-probability of",
    "prob": "probability of",
    "loss": "loss",
    "kl": "KL divergence",
    "accuracy": "accuracy",
    "rank": "rank of",
}
_METRIC_CALL = re.compile(r"\b(" + "|".join(_METRIC_WORDS) + r")\(([^()]*)\)")


def _words(text: str) -> str:
    """Labels in words: metric calls spelled out, ``snake_case`` names with spaces.

    Example
    -------
    >>> _words("change in logit_diff(' Mary' - ' John') when the head is edited")
    "change in logit difference ' Mary' − ' John' when the head is edited"
    >>> _words("ablation_effect")
    'ablation effect'
    """

    def spelled(match: re.Match[str]) -> str:
        return f"{_METRIC_WORDS[match[1]]} {match[2].replace(' - ', ' − ')}".strip()

    text = _METRIC_CALL.sub(spelled, text)
    return re.sub(r"(?<=[A-Za-z])_(?=[A-Za-z])", " ", text)


def _label(cube: xr.DataArray | None, default: str = "value", short: bool = False) -> str:
    """``long_name [units]`` from the cube's attrs, in words (the axis or color bar title);
    ``short``: the cube's name in words instead of its long name."""
    if cube is None:
        return default
    long_name = None if short else cube.attrs.get("long_name")
    name = _words(str(long_name or cube.name or default))
    units = str(cube.attrs.get("units") or "")
    return f"{name} [{units}]" if units else name


def _fitting(options: Sequence[str], room_px: float, font_size: str) -> str | None:
    """The first of ``options`` whose text fits ``room_px`` at ``font_size`` (None: none)."""
    char_px = 0.58 * _px(font_size)  # DejaVu Sans: ~0.55 em per character on average
    for text in options:
        if text and char_px * len(text) + 6 <= room_px:
            return text
    return None


def _short_labels(cube: xr.DataArray | None, meta: Mapping[str, Any] | None = None) -> list[str]:
    """A value's label, longest first: long name, name, and units alone (all in words)."""
    source = dict(meta or {})
    if cube is not None:
        source = {**{str(k): v for k, v in cube.attrs.items()}, "name": cube.name, **source}
    units = str(source.get("units") or "")
    tail = f" [{units}]" if units else ""
    names = [str(source.get("long_name") or ""), str(source.get("name") or "")]
    return [*(_words(n.removesuffix(tail)) + tail for n in names if n), units]


def _is_probability(cube: xr.DataArray | None, values: np.ndarray) -> bool:
    """Values that are probabilities (units say so, all within [0, 1]): drawn on [0, 1]."""
    if cube is None or str(cube.attrs.get("units", "")) not in ("probability", "prob"):
        return False
    finite = values[np.isfinite(values)]
    return bool(finite.size) and float(finite.min()) >= 0.0 and float(finite.max()) <= 1.0


def _title(cube: xr.DataArray | None, title: str | None, extra: str = "") -> str | None:
    if title is not None:
        return title or None
    model = str(cube.attrs.get("model", "")) if cube is not None else ""
    model = "" if model == UNKNOWN else model
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
    probability: bool = False,
) -> LinearColorMapper:
    finite = values[np.isfinite(values)]
    if probability and not diverging:
        lo, hi = 0.0, 1.0  # probabilities on their whole range: colors compare across figures
    elif diverging:
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
