"""Exporting a HeadGrid's current view: the heatmap, its caption, its data (private).

The figure is :func:`headwidgets.figures.head_heatmap` of the grid's cube with the selected
heads outlined; when an intervention is given (the Explorer's controls), it is named in a
caption under the heatmap, in the figure's embedded metadata and in the ``intervention``
attr of the cube written beside it (the cube's own ``intervention`` attr, e.g. a sweep's
per-head edit, moves to ``cube_intervention``). A second caption line and the
``intervention_applied`` attr say whether the values shown were computed under those edits
(the cube records the spec its runs were under) or not.

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

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

from headwidgets.cubes import as_cube, check_cube
from headwidgets.figures import figure_metadata, head_heatmap
from headwidgets.figures.provenance import remember
from headwidgets.figures.style import font_size_px, house_style
from headwidgets.vocab import NO_INTERVENTION
from headwidgets.widgets.live import summarize

if TYPE_CHECKING:
    from headwidgets.interventions import Intervention

#: keyword arguments of ``hw.export``; every other one goes to ``head_heatmap`` (``scale`` is
#: ``pixel_ratio``'s old name: export accepts it with a FutureWarning)
EXPORT_OPTIONS = ("pixel_ratio", "timeout", "scale")


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

    named = "intervention" in cube.attrs
    cube = as_cube(cube)
    attrs: dict[str, Any] = dict(cube.attrs)
    if not named:
        attrs["intervention"] = NO_INTERVENTION
    if intervention is not None:
        own = attrs.get("intervention")
        spec = intervention.to_json()
        if own and own not in (spec, NO_INTERVENTION, "null"):
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


#: the second caption line: whether the heatmap's values include the edits named above it
APPLIED_NOTE = "(values computed under these edits)"
NOT_APPLIED_NOTE = "(edits not applied to the values shown)"


def edits_applied(cube: xr.DataArray, intervention: Intervention) -> bool:
    """Whether ``cube``'s values were computed under ``intervention``: its ``intervention``
    attr is that spec, or names it as the spec its runs were ``under`` (a score computed
    inside ``with hm.intervene(spec):``).

    Example
    -------
    >>> from headwidgets.interventions import Intervention
    >>> spec = Intervention.zero([(0, 1)])
    >>> swept = xr.DataArray([[0.0]], dims=("layer", "head"), name="s",
    ...                      attrs={"intervention": '{"per_head": {"mode": "zero"}}'})
    >>> edits_applied(swept, spec)
    False
    >>> edits_applied(swept.assign_attrs(intervention=json.dumps(
    ...     {"under": json.loads(spec.to_json()), "per_head": {"mode": "zero"}})), spec)
    True
    """
    try:
        recorded = json.loads(str(cube.attrs.get("intervention", "null")))
    except ValueError:
        return False
    spec = json.loads(intervention.to_json())
    return recorded == spec or (isinstance(recorded, dict) and recorded.get("under") == spec)


def add_caption(
    fig: Any,
    intervention: Intervention,
    style: Mapping[str, Any] | None = None,
    applied: bool | None = None,
) -> str:
    """Name ``intervention`` in a one-line caption under ``fig``; return the caption's text.

    The figure grows by the caption's height, so the heatmap keeps its size; heads that do
    not fit the width are counted ("+3 more"; the metadata holds the full spec). When the
    intervention has edits, a second line (``caption_note``) says whether the values shown
    were computed under them (``applied``).
    """
    from bokeh.models.annotations import Title

    s = house_style(style)
    font_px = font_size_px(s["tick_font_size"])
    max_chars = int((fig.width - 12) / (0.55 * font_px))
    text = caption_text(intervention, max_chars=max_chars)
    lines = [(text, "caption")]
    if len(intervention) and applied is not None:
        lines.append((APPLIED_NOTE if applied else NOT_APPLIED_NOTE, "caption_note"))
    for line, name in lines:  # "below" puts each new line under the last
        caption = Title(
            text=line,
            align="left",
            text_font=s["font"],
            text_font_size=s["tick_font_size"],
            text_font_style="normal",
            text_color=s["text_color"],
            name=name,
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

    applied = edits_applied(cube, intervention) if intervention is not None else None
    data = view_cube(cube, intervention)
    if intervention is not None and len(intervention):
        # the "intervention" attr names the controls' edits; say whether the values have them
        data.attrs["intervention_applied"] = bool(applied)
    highlight = [(int(layer), int(head)) for layer, head in selected]
    fig = head_heatmap(data, highlight=highlight, **options)
    if intervention is not None:
        caption = add_caption(fig, intervention, options.get("style"), applied)
        meta = {**figure_metadata(fig), "caption": caption}
        note = fig.select_one({"name": "caption_note"})
        if note is not None:
            meta["caption_note"] = note.text
        remember(fig, data, meta)
    return fig


def written(path: Path, data: Any) -> str:
    """What the export button reports: ``"wrote a.svg and a.nc in /dir"``."""
    names = [path.name]
    if data is not None and data is not False:
        names.append(path.with_suffix(".nc").name)
    return f"wrote {' and '.join(names)} in {path.resolve().parent}"
