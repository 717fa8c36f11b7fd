"""Circuit figures: self-repair bars, head-set search curves and the overlap of head sets.

Example
-------
>>> import numpy as np
>>> from headwidgets.cubes import make_cube
>>> cube = make_cube(np.array([[0.0, 0.5], [-2.0, 0.1]]), ("layer", "head"), name="self_repair",
...                  attrs={"total_effect": -1.2, "direct_effect": -2.0, "self_repair": 0.8,
...                         "ablated": [[1, 0]], "units": "logit"})
>>> self_repair_figure(cube).x_range.factors[:4]
['total', 'direct', 'self-repair', '0.1']
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from bokeh.models import ColumnDataSource, FactorRange, FixedTicker, HoverTool, LinearColorMapper
from bokeh.models.annotations import ColorBar, LegendItem, Span

from headwidgets.cubes import as_cube
from headwidgets.figures.labels import _only, _title
from headwidgets.figures.parts import _legend
from headwidgets.figures.provenance import _meta, remember
from headwidgets.figures.style import DIVERGING, Size, css_pixels, house_style, styled_figure

__all__ = ["head_set_search_figure", "overlap_figure", "self_repair_figure"]


def _ablated(cube: xr.DataArray) -> set[tuple[int, int]]:
    value = cube.attrs.get("ablated", [])
    if isinstance(value, str):
        value = json.loads(value)
    return {(int(layer), int(head)) for layer, head in value}


def self_repair_figure(
    cube: xr.DataArray,
    top: int = 6,
    title: str | None = None,
    *,
    width: Size | None = None,
    height: Size | None = None,
    style: Mapping[str, Any] | None = None,
) -> Any:
    """Bars of a :func:`~headwidgets.scores.self_repair` cube: total effect, direct effect
    and self-repair, then the ``top`` other heads with the largest |ΔDLA| (who compensates).

    Head bars are coloured by sign: those with the sign of −direct (they make up for the loss)
    in red, the others in blue. A rule marks 0.

    Parameters
    ----------
    cube
        The (layer, head) cube ``hw.scores.self_repair`` returns (its attrs hold the totals).
    top
        How many heads to show besides the ablated ones (0: only the three totals).
    title, width, height, style
        As in :func:`~headwidgets.figures.head_heatmap`.
    """
    cube = _only(as_cube(cube), ("layer", "head"), "self_repair_figure")
    needed = ("total_effect", "direct_effect", "self_repair")
    missing = [k for k in needed if k not in cube.attrs]
    if missing:
        raise ValueError(
            f"self_repair_figure needs a hw.scores.self_repair cube; attrs {missing} are missing"
        )
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ValueError(f"top must be an int >= 0, got {top!r}")
    s = house_style(style)
    totals = [float(cube.attrs[k]) for k in needed]
    ablated = _ablated(cube)
    values = np.asarray(cube.values, dtype=float)
    heads = [
        (abs(values[i, j]), int(layer), int(head), float(values[i, j]))
        for i, layer in enumerate(cube["layer"].values)
        for j, head in enumerate(cube["head"].values)
        if (int(layer), int(head)) not in ablated and np.isfinite(values[i, j])
    ]
    chosen = sorted(heads, reverse=True)[:top]
    compensating = -np.sign(totals[1]) if totals[1] else 1.0
    red, blue, grey = DIVERGING[-1], DIVERGING[0], "#7f7f7f"
    labels = ["total", "direct", "self-repair"] + [f"{la}.{he}" for _, la, he, _ in chosen]
    heights = totals + [v for *_, v in chosen]
    colors = [grey, "#000000", s["lines"][0]] + [
        red if np.sign(v) == compensating else blue for *_, v in chosen
    ]
    kinds = ["total", "direct (−DLA)", "self-repair"] + ["ΔDLA" for _ in chosen]
    source = ColumnDataSource({"label": labels, "value": heights, "color": colors, "kind": kinds})
    fig = styled_figure(
        s,
        css_pixels(width or s["width"]),
        css_pixels(height or 240, "height"),
        _title(cube, title),
        x_range=FactorRange(factors=labels),
    )
    fig.vbar(x="label", top="value", width=0.7, color="color", source=source, name="bars")
    fig.add_layout(Span(location=0, dimension="width", line_color="#666666", line_width=1))
    fig.xaxis.axis_label = "effect · heads (layer.head), ablated: " + ", ".join(
        f"{layer}.{head}" for layer, head in sorted(ablated)
    )
    fig.yaxis.axis_label = f"Δ metric ({cube.attrs.get('units', 'logit')})"
    fig.grid.grid_line_color = "#eeeeee"
    fig.add_tools(
        HoverTool(tooltips=[("", "@label"), ("kind", "@kind"), ("value", "@value{0.000}")])
    )
    remember(fig, cube, _meta("self_repair", cube, title=title, top=top))
    return fig


def head_set_search_figure(
    cube: xr.DataArray,
    title: str | None = None,
    *,
    width: Size | None = None,
    height: Size | None = None,
    style: Mapping[str, Any] | None = None,
) -> Any:
    """The fraction of the metric kept at every step of a
    :func:`~headwidgets.scores.head_set_search`, against its size-matched random sets.

    The chosen set is a line (x ticks name the head added or removed at each step); the
    random sets are a band of mean ± one standard deviation with their min–max as whiskers;
    a dashed rule marks the target.

    Example
    -------
    >>> import numpy as np
    >>> from headwidgets.cubes import make_cube
    >>> cube = make_cube(np.array([0.0, 0.6, 0.95]), ("step",), name="head_set_search",
    ...     coords={"step": [0, 1, 2], "changed": ("step", ["", "1.2", "0.3"]),
    ...             "size": ("step", [0, 1, 2]),
    ...             **{f"random_{k}": ("step", [0.0, 0.1, 0.2]) for k in
    ...                ("mean", "std", "min", "max")}}, attrs={"target": 0.9})
    >>> head_set_search_figure(cube).xaxis[0].major_label_overrides[2]
    '+0.3'
    """
    cube = as_cube(cube, require=())
    needed = ("changed", "size", "random_mean", "random_std", "random_min", "random_max")
    missing = [c for c in needed if c not in cube.coords]
    if cube.dims != ("step",) or missing:
        raise ValueError(
            "head_set_search_figure needs a hw.scores.head_set_search cube (dims ('step',)); "
            f"dims {cube.dims}, missing coords {missing}"
        )
    s = house_style(style)
    steps = np.asarray(cube["step"].values, dtype=int)
    mean = np.asarray(cube["random_mean"].values, dtype=float)
    std = np.asarray(cube["random_std"].values, dtype=float)
    backward = cube.attrs.get("direction") == "backward"
    sign = "−" if backward else "+"
    labels = {
        int(step): (f"{sign}{name}" if name else "none" if not backward else "all")
        for step, name in zip(steps, cube["changed"].values, strict=True)
    }
    fig = styled_figure(
        s, css_pixels(width or s["width"]), css_pixels(height or 240, "height"), _title(cube, title)
    )
    band = fig.varea(
        x=steps, y1=mean - std, y2=mean + std, fill_color="#bbbbbb", fill_alpha=0.5, name="random"
    )
    whiskers = fig.segment(
        x0=steps,
        y0=cube["random_min"].values,
        x1=steps,
        y1=cube["random_max"].values,
        line_color="#888888",
        line_width=1,
    )
    source = ColumnDataSource(
        {
            "step": steps,
            "value": np.asarray(cube.values, dtype=float),
            "changed": [labels[int(x)] for x in steps],
            "size": cube["size"].values,
            "random": mean,
        }
    )
    color = s["lines"][0]
    line = fig.line("step", "value", source=source, line_color=color, line_width=s["line_width"])
    dots = fig.scatter("step", "value", source=source, color=color, size=6, name="chosen")
    target = cube.attrs.get("target")
    if isinstance(target, (int, float)):
        fig.add_layout(
            Span(
                location=float(target), dimension="width", line_dash="dashed", line_color="#666666"
            )
        )
    fig.xaxis.ticker = FixedTicker(ticks=[int(x) for x in steps])
    fig.xaxis.major_label_overrides = labels  # type: ignore[assignment]
    fig.xaxis.major_label_orientation = 0.8
    fig.xaxis.axis_label = "step (head " + ("removed)" if backward else "added)")
    fig.yaxis.axis_label = "fraction of the metric kept"
    fig.grid.grid_line_color = "#eeeeee"
    items = [
        LegendItem(label="chosen set", renderers=[line, dots]),
        LegendItem(label="random sets (mean ± sd, min–max)", renderers=[band, whiskers]),
    ]
    fig.add_layout(_legend(items, s, "top_left"))
    tips = [("step", "@step @changed"), ("size", "@size"), ("kept", "@value{0.000}")]
    fig.add_tools(HoverTool(renderers=[dots], tooltips=[*tips, ("random mean", "@random{0.000}")]))
    remember(fig, cube, _meta("head_set_search", cube, title=title))
    return fig


def overlap_figure(
    table: pd.DataFrame,
    value: str = "overlap",
    title: str | None = None,
    *,
    width: Size | None = None,
    height: Size | None = None,
    style: Mapping[str, Any] | None = None,
) -> Any:
    """A set × set matrix of :func:`~headwidgets.cubes.overlap_table` (``value``:
    ``"overlap"`` or ``"jaccard"``); each cell reads ``observed (random expectation)``.

    Example
    -------
    >>> from headwidgets.cubes import overlap_table
    >>> table = overlap_table({"a": [(0, 1)], "b": [(0, 1), (1, 1)], "c": [(1, 0)]}, total=8)
    >>> overlap_figure(table).select_one({"name": "cells"}).data_source.data["text"][0]
    '1.00 (0.25)'
    """
    if value not in ("overlap", "jaccard"):
        raise ValueError(f"value must be 'overlap' or 'jaccard', got {value!r}")
    needed = {"a", "b", value, f"expected_{value}"}
    if not isinstance(table, pd.DataFrame) or not needed <= set(table.columns):
        raise ValueError(f"overlap_figure needs an overlap_table DataFrame with columns {needed}")
    s = house_style(style)
    names = list(dict.fromkeys([*table["a"].astype(str), *table["b"].astype(str)]))
    data: dict[str, list[Any]] = {"x": [], "y": [], "value": [], "text": []}
    for row in table.itertuples(index=False):
        observed, expected = float(getattr(row, value)), float(getattr(row, f"expected_{value}"))
        for x, y in ((row.a, row.b), (row.b, row.a)):
            data["x"].append(str(x))
            data["y"].append(str(y))
            data["value"].append(observed)
            data["text"].append(f"{observed:.2f} ({expected:.2f})")
    source = ColumnDataSource(data)
    side = css_pixels(width or s["width"])
    fig = styled_figure(
        s,
        side,
        css_pixels(height or side, "height"),
        title or f"head-set {value} (random expectation)",
        x_range=FactorRange(factors=names),
        y_range=FactorRange(factors=names[::-1]),
    )
    mapper = LinearColorMapper(palette=s["sequential"], low=0.0, high=1.0)
    fig.rect(
        "x",
        "y",
        1,
        1,
        source=source,
        fill_color={"field": "value", "transform": mapper},
        line_color="#ffffff",
        name="cells",
    )
    fig.text(
        "x",
        "y",
        text="text",
        source=source,
        text_align="center",
        text_baseline="middle",
        text_font_size=s["tick_font_size"],
        text_color="#ffffff",
    )
    fig.add_layout(ColorBar(color_mapper=mapper, width=8), "right")
    fig.grid.grid_line_color = None
    fig.add_tools(HoverTool(tooltips=[("sets", "@x · @y"), (value, "@text")]))
    remember(fig, None, {"figure": "overlap", "value": value, "total": table.attrs.get("total")})
    return fig
