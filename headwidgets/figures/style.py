"""The figures' house style: palettes, sizes, fonts, and the styled empty figure.

:data:`HOUSE_STYLE` (and the :data:`DARK` theme), the palettes (:data:`DIVERGING`,
:data:`OKABE_ITO`), figure sizes (:func:`css_pixels`: ``"column"``, ``"text"``, lengths) and
the three functions code outside the builders uses to draw in the house style (the widgets
do): :func:`house_style` resolves a ``style={...}`` override, :func:`styled_figure` makes an
empty bokeh figure in it, :func:`font_size_px` reads a font size in CSS pixels.

Example
-------
>>> from headwidgets.figures.style import HOUSE_STYLE, house_style, styled_figure
>>> house_style({"width": 500})["width"], HOUSE_STYLE["width"]
(500, 'column')
>>> styled_figure(house_style(None), 300, 200, "a title").title.text_font_size
'10pt'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from bokeh.models.annotations import Title
from bokeh.plotting import figure


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
_DASHES = ("solid", "dashed", "dotted", "dotdash")


#: widths of a two-column paper in inches: one column, and the whole text width
COLUMN_INCHES, TEXT_INCHES = 3.25, 6.75
#: a figure size: CSS pixels (96 per inch), ``"column"``, ``"text"``, or a length with its
#: unit (``"3.25in"``, ``"8cm"``, ``"85mm"``, ``"240pt"``, ``"300px"``)
Size = int | float | str
_UNITS_PX = (("in", 96.0), ("cm", 96 / 2.54), ("mm", 96 / 25.4), ("pt", 96 / 72), ("px", 1.0))


def css_pixels(size: Size, what: str = "width") -> int:
    """A figure size in CSS pixels (96 per inch, what bokeh and the exports use).

    Example
    -------
    >>> css_pixels("column"), css_pixels("text"), css_pixels("2in"), css_pixels(300)
    (312, 648, 192, 300)
    """
    if isinstance(size, str):
        text = size.strip().lower()
        if text in ("column", "text"):
            return round(96 * (COLUMN_INCHES if text == "column" else TEXT_INCHES))
        for unit, px in _UNITS_PX:
            number = text.removesuffix(unit).strip()
            if text.endswith(unit) and number.replace(".", "", 1).isdigit() and float(number):
                return round(float(number) * px)
    elif not isinstance(size, bool) and isinstance(size, (int, float)) and size > 0:
        return round(float(size))
    raise ValueError(
        f"unknown {what} {size!r}; use 'column' ({COLUMN_INCHES} in), 'text' ({TEXT_INCHES} in), "
        "a length such as '3.25in', '8cm', '85mm', '240pt', or CSS pixels (96 per inch)"
    )


# ---------------------------------------------------------------------------------------------
# style helpers


def _luminance(color: str) -> float:
    if not color.startswith("#") or len(color) < 7:
        return 1.0
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def house_style(style: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The house style with ``style``'s overrides: font sizes as CSS strings, the colors of
    text, axes and grid chosen for the background where not given.

    Every builder's ``style=`` goes through it; keys not in :data:`HOUSE_STYLE` raise a
    TypeError listing the valid ones.

    Example
    -------
    >>> s = house_style({"tick_font_size": 7, "background": "#000000"})
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


def font_size_px(size: str) -> float:
    """CSS pixels of a font size such as ``"9pt"`` or ``"12px"`` (a resolved style's sizes).

    Example
    -------
    >>> font_size_px("9pt"), font_size_px(house_style()["tick_font_size"])
    (12.0, 10.666666666666666)
    """
    return float(size[:-2]) * (4 / 3 if size.endswith("pt") else 1.0)


def styled_figure(
    s: Mapping[str, Any], width: int, height: int, title: str | None, **kw: Any
) -> Any:
    """An empty bokeh figure in the resolved style ``s`` (from :func:`house_style`).

    ``width`` and ``height`` in CSS pixels; fonts, colors, background and grid as the style
    says, no toolbar unless ``s["toolbar"]``; ``**kw`` go to :func:`bokeh.plotting.figure`
    (``x_range``, ``y_axis_type``, ...).
    """
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
