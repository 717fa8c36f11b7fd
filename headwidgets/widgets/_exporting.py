"""Exporting a HeadGrid's current view: the heatmap, its caption, its data (private).

The figure is :func:`headwidgets.figures.head_heatmap` of the grid's cube with the selected
heads outlined; when an intervention is given (the Explorer's controls), it is named in a
caption under the heatmap, in the figure's embedded metadata and in the ``intervention``
attr of the cube written beside it (the cube's own ``intervention`` attr, e.g. a sweep's
per-head edit, moves to ``cube_intervention``).

Example
-------
>>> import numpy as np, xarray as xr
>>> from headwidgets.interventions import Intervention
>>> cube = xr.DataArray(np.zeros((2, 3)), dims=("layer", "head"), name="score")
>>> view_cube(cube, Intervention.zero([(1, 2)])).attrs["intervention"]
'{"edits":[{"head":2,"layer":1,"mode":"zero"}]}'
>>> caption_text(Intervention.scale({(0, 1): 0.5, (1, 2): 2.0}))
'interventions: L0 H1 ×0.5, L1 H2 ×2'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

from headwidgets.widgets._live import summarize

if TYPE_CHECKING:
    from headwidgets.interventions import Intervention

#: keyword arguments of ``hw.export``; every other one goes to ``head_heatmap``
EXPORT_OPTIONS = ("scale", "timeout")
_NO_EDITS = '{"edits":[]}'


def default_export_path(cube: xr.DataArray | None) -> str:
    """``headwidgets-<cube name>.svg``, the name made safe for a file name.

    Example
    -------
    >>> default_export_path(xr.DataArray([[0.0]], dims=("layer", "head"), name="Δ logit/diff"))
    'headwidgets-logit-diff.svg'
    """
    name = str(cube.name) if cube is not None and cube.name is not None else "score"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "score"
    return f"headwidgets-{safe}.svg"


def view_cube(cube: xr.DataArray, intervention: Intervention | None = None) -> xr.DataArray:
    """The grid's cube as a complete cube (missing attrs filled in, see ``as_cube``) for a figure.

    With ``intervention``, its JSON becomes the ``intervention`` attr; the cube's own value,
    when it named edits, is kept as ``cube_intervention``. A cube that names no intervention
    gets the empty spec: the grid shows it unedited.
    """
    from headwidgets.cubes import as_cube, check_cube

    named = "intervention" in cube.attrs
    cube = as_cube(cube)
    attrs: dict[str, Any] = dict(cube.attrs)
    if not named:
        attrs["intervention"] = _NO_EDITS
    if intervention is not None:
        own = attrs.get("intervention")
        spec = intervention.to_json()
        if own and own not in (spec, _NO_EDITS, "null"):
            attrs["cube_intervention"] = own
        attrs["intervention"] = spec
    return check_cube(cube.copy().assign_attrs(attrs))


def caption_text(intervention: Intervention | None, max_chars: int = 0) -> str:
    """``"interventions: L0 H1 ×0.5, L1 H2 mean"`` (``""`` without an intervention).

    With ``max_chars``, heads that do not fit are counted instead: ``"…, +3 more"``.

    Example
    -------
    >>> from headwidgets.interventions import Intervention
    >>> caption_text(Intervention())
    'interventions: none'
    >>> caption_text(Intervention.zero([(0, 0), (0, 1), (0, 2)]), max_chars=36)
    'interventions: L0 H0 zero, +2 more'
    """
    if intervention is None:
        return ""
    parts = [p for p in summarize(intervention).split(", ") if p]
    if not parts:
        return "interventions: none"
    text = "interventions: " + ", ".join(parts)
    if not max_chars or len(text) <= max_chars:
        return text
    for keep in range(len(parts) - 1, 0, -1):
        short = "interventions: " + ", ".join(parts[:keep]) + f", +{len(parts) - keep} more"
        if len(short) <= max_chars:
            return short
    return f"interventions: {len(parts)} heads edited"


def add_caption(
    fig: Any, intervention: Intervention, style: Mapping[str, Any] | None = None
) -> str:
    """Name ``intervention`` in a one-line caption under ``fig``; return the caption's text.

    The figure grows by the caption's height, so the heatmap keeps its size; heads that do
    not fit the width are counted ("+3 more"; the metadata holds the full spec).
    """
    from bokeh.models.annotations import Title

    from headwidgets._figstyle import _px, _style

    s = _style(style)
    font_px = _px(s["tick_font_size"])
    text = caption_text(intervention, max_chars=int((fig.width - 12) / (0.55 * font_px)))
    caption = Title(
        text=text,
        align="left",
        text_font=s["font"],
        text_font_size=s["tick_font_size"],
        text_font_style="normal",
        text_color="#444444",
        name="caption",
    )
    fig.add_layout(caption, "below")
    fig.height = int(fig.height + round(font_px * 1.6 + 6))
    return text


def view_figure(
    cube: xr.DataArray,
    selected: Sequence[Sequence[int]],
    intervention: Intervention | None = None,
    **options: Any,
) -> Any:
    """The heatmap of a grid's view: ``head_heatmap`` with the selection, plus the caption."""
    from headwidgets._export import figure_metadata, remember
    from headwidgets.figures import head_heatmap

    data = view_cube(cube, intervention)
    highlight = [(int(layer), int(head)) for layer, head in selected]
    fig = head_heatmap(data, highlight=highlight, **options)
    if intervention is not None:
        caption = add_caption(fig, intervention, options.get("style"))
        remember(fig, data, {**figure_metadata(fig), "caption": caption})
    return fig


def written(path: Path, data: Any) -> str:
    """What the export button reports: ``"wrote a.svg and a.nc in /dir"``."""
    names = [path.name]
    if data is not None and data is not False:
        names.append(path.with_suffix(".nc").name)
    return f"wrote {' and '.join(names)} in {path.resolve().parent}"
