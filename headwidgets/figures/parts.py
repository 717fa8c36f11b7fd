"""The bokeh parts the builders share: legends, color bars and color mappers, heatmap cells,
tick labels, and the ink that reads on a cell's color.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from bokeh.models import BasicTicker, FixedTicker, HoverTool, LinearColorMapper
from bokeh.models.annotations import ColorBar, Legend, LegendItem

from headwidgets.figures.style import _palette, font_size_px


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
    char_px = 0.6 * font_size_px(s["tick_font_size"])  # DejaVu Sans is at most ~0.6 em per char
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
