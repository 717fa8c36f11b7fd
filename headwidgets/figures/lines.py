"""Line figures: :func:`scale_response` (metric vs α) and :func:`layer_profile`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr
from bokeh.models import ColumnDataSource, FixedTicker, HoverTool, Range1d
from bokeh.models.annotations import Label, LegendItem, Span

from headwidgets.cubes import as_cube
from headwidgets.figures.labels import (
    _fitting,
    _head_pairs,
    _is_effect,
    _is_probability,
    _label,
    _only,
    _short_labels,
    _title,
)
from headwidgets.figures.parts import _legend, _wrap_legend
from headwidgets.figures.provenance import _meta, remember
from headwidgets.figures.style import _DASHES, Size, css_pixels, house_style, styled_figure

Reduction = Literal["mean", "max", "min", "median", "sum", "absmax"]


def _curves(
    cube: xr.DataArray | Mapping[str, xr.DataArray], heads: Iterable[tuple[int, int]] | None
) -> list[tuple[str, xr.DataArray]]:
    """(label, 1-D scale curve) pairs: one per entry of a mapping, head, or other coord."""
    if isinstance(cube, Mapping):
        return [(str(name), as_cube(c, require=())) for name, c in cube.items()]
    cube = as_cube(cube, require=())
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
    width: Size | None = None,
    height: Size | None = None,
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
    s = house_style(style)
    curves = _curves(cube, heads)
    if not curves:
        raise ValueError("scale_response found no curve with values to draw")
    first = curves[0][1]
    for _, curve in curves:
        if curve.dims != ("scale",):
            raise ValueError(f"each scale curve must have dims ('scale',), got {curve.dims}")
    title = _title(first, title)
    fig = styled_figure(
        s, css_pixels(width or s["width"]), css_pixels(height or 250, "height"), title
    )
    fig.xaxis.axis_label = "scale α"
    # the y label runs along the frame (height less title, legend and x axis): what fits
    room = int(fig.height or 250) - (26 if title else 8) - 40 - 50
    fig.yaxis.axis_label = _fitting([_label(first), *_short_labels(first)], room,
                                    s["label_font_size"])  # fmt: skip
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
        at = np.isclose(alpha, baseline)
        if at.any():
            fig.scatter(
                [baseline],
                [float(np.asarray(curve.values)[at][0])],
                size=9,
                marker="circle",
                fill_color="white",
                line_color=color,
                line_width=2,
            )
        # the swatch is the line alone (a marker's swatch would be a tiny picture in SVG)
        items.append(LegendItem(label=label, renderers=[line]))
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
            line_color="#888888",
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
            text_color=s["text_color"],
            text_font=s["font"],
            text_font_size=s["tick_font_size"],
        )
    )
    if len(items) > 1 or items[0].label != fig.yaxis[0].axis_label:
        # a few lines fit inside the frame; more go beside it
        outside = len(items) > 4
        fig.add_layout(
            _legend(
                items,
                s,
                "top" if outside else "top_left",
                horizontal=not outside,
                room=fig.width,
            ),
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
    reduce: Sequence[Reduction] | None = None,
    show_heads: bool = True,
    title: str | None = None,
    *,
    width: Size | None = None,
    height: Size | None = None,
    style: Mapping[str, Any] | None = None,
) -> Any:
    """Per-layer summary of a (layer, head) cube: one line per reduction over heads.

    Parameters
    ----------
    cube
        A (layer, head) cube.
    reduce
        Reductions over heads, each a line: ``"mean"``, ``"median"``, ``"max"``, ``"min"``,
        ``"sum"``, ``"absmax"`` (NaN heads are skipped). Default: mean and max, and for
        signed values (effects) mean, min and max, so a strongly negative head is not hidden;
        signed values also get a rule at y = 0.
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
    cube = _only(as_cube(cube), ("layer", "head"), "layer_profile")
    values = np.asarray(cube.values, dtype=float)
    signed = _is_effect(cube, values)
    default: tuple[Reduction, ...] = ("mean", "min", "max") if signed else ("mean", "max")
    reductions = tuple(reduce) if reduce is not None else default
    bad = [r for r in reductions if r not in _REDUCERS]
    if bad or not reductions:
        raise ValueError(f"unknown reductions {bad}; expected some of {list(_REDUCERS)}")
    s = house_style(style)
    layers = np.asarray(cube["layer"].values)
    title = _title(cube, title)
    width = css_pixels(width or s["width"])
    extra: dict[str, Any] = {}
    if _is_probability(cube, values):
        extra["y_range"] = Range1d(start=0, end=1)  # probabilities on their whole range
    fig = styled_figure(s, width, css_pixels(height or 240, "height"), title, **extra)
    if signed:
        fig.add_layout(Span(location=0, dimension="width", line_color="#888888", line_width=1))
    fig.xaxis.axis_label = "layer"
    room = int(fig.height or 240) - (26 if title else 8) - 50 - 50
    fig.yaxis.axis_label = _fitting([_label(cube), *_short_labels(cube)], room,
                                    s["label_font_size"])  # fmt: skip
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
        for i, name in enumerate(reductions):
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
            items.append(LegendItem(label=name, renderers=[line]))  # the line alone
    legend = _legend(items, s, "top_left", horizontal=True)
    legend.title = "over heads:"
    legend.title_text_font, legend.title_text_font_size = s["font"], s["tick_font_size"]
    legend.title_text_font_style = "normal"
    _wrap_legend(legend, s, width)
    fig.add_layout(legend, "above")
    remember(fig, cube, _meta("layer_profile", cube, title=title, reduce=list(reductions)))
    return fig
