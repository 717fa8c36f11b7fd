"""Figures for papers: bokeh builders from cubes, and export to SVG, PNG, PDF and HTML.

Each builder takes a cube (see :mod:`headwidgets.cubes`) and returns a bokeh figure in one
house style made for print: sizes as ``width="column"`` (3.25 in, the default: one column of
a two-column paper), ``"text"`` (6.75 in), a length (``"2.5in"``, ``"8cm"``) or CSS pixels
at 96 per inch, font sizes in points so they read at that width,
colorblind-safe palettes (Viridis for scores, a blue–white–red RdBu centred on 0 for effects,
Okabe–Ito for lines) and no toolbar. Override any of it with ``style={...}`` (keys of
:data:`HOUSE_STYLE`) or the builders' keyword arguments.

:func:`export` writes a figure to ``.svg`` (vector: one shape per heatmap cell, each label
once as text, vector colour bars), ``.png`` (300 dpi by default), ``.pdf`` (fonts embedded,
no Type 3) or self-contained ``.html``, and with ``data=cube`` the cube beside it as netCDF.

:func:`panel` puts several figures into one paper figure: equal frames, an optional shared
color bar, panel letters, and one ``.nc`` (a Dataset) with every panel's data.

This module is the public face; the code lives in private modules: ``_figstyle`` (house
style, palettes, shared helpers), ``_figgrid`` (head heatmap, cube difference),
``_figtokens`` (attention pattern, token strip), ``_figlines`` (scale response, layer
profile), ``_figpanel`` (panels) and ``_export`` (the export machinery).

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

from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from headwidgets._export import (
    COLUMN_INCHES,
    TEXT_INCHES,
    BrowserNotFoundError,
    close_browser,
    css_pixels,
    export,
    figure_metadata,
    find_browser,
)
from headwidgets._figcircuits import head_set_search_figure, overlap_figure, self_repair_figure
from headwidgets._figgrid import cube_difference, difference_cube, head_heatmap
from headwidgets._figlines import Reduction as Reduction
from headwidgets._figlines import layer_profile, scale_response
from headwidgets._figpanel import panel
from headwidgets._figstyle import DARK as DARK
from headwidgets._figstyle import DIVERGING as DIVERGING
from headwidgets._figstyle import HOUSE_STYLE
from headwidgets._figstyle import OKABE_ITO as OKABE_ITO
from headwidgets._figtokens import attention_pattern, token_strip
from headwidgets.cubes import cube_names, load_cube
from headwidgets.vocab import parse_heads

__all__ = [
    "COLUMN_INCHES",
    "DARK",
    "FIGURE_KINDS",
    "HOUSE_STYLE",
    "TEXT_INCHES",
    "BrowserNotFoundError",
    "attention_pattern",
    "close_browser",
    "css_pixels",
    "cube_difference",
    "difference_cube",
    "export",
    "figure_command",
    "figure_metadata",
    "find_browser",
    "head_heatmap",
    "head_set_search_figure",
    "layer_profile",
    "overlap_figure",
    "panel",
    "scale_response",
    "self_repair_figure",
    "token_strip",
]

# the builders are documented (help(), repr, docs) where users find them
for _builder in (
    head_heatmap,
    difference_cube,
    cube_difference,
    attention_pattern,
    token_strip,
    scale_response,
    layer_profile,
    panel,
    self_repair_figure,
    head_set_search_figure,
    overlap_figure,
):
    _builder.__module__ = __name__
del _builder


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


def figure_command(
    cube_path: str | Path,
    kind: str,
    out: str | Path,
    *,
    other: str | Path | None = None,
    reduce: str | None = None,
    scale: float | None = None,
    data: bool = False,
    var: str | None = None,
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
        PNG pixels per CSS pixel (default: 300 dpi, ``300 / 96``).
    data
        Also write the drawn cube beside the figure (``out`` with suffix ``.nc``).
    var
        The cube to draw from a file that holds several (a Dataset, such as
        ``headwidgets scores ... -o scores.nc`` with several scores writes); also picked from
        ``other`` when that file holds several. Without it such a file raises a ValueError
        listing its cubes.
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
        opts["highlight"] = parse_heads(opts["highlight"])
    if isinstance(opts.get("heads"), str):
        opts["heads"] = parse_heads(opts["heads"])

    def prepare(path: str | Path, name: str | None) -> xr.DataArray:
        cube = load_cube(path, name)
        extra = [d for d in cube.dims if d not in _KEEP[kind]]
        if extra and reduce is not None:
            if reduce not in ("mean", "median", "max", "min", "sum"):
                raise ValueError(f"unknown reduce {reduce!r}; expected mean, median, max, min, sum")
            cube = getattr(cube, reduce)(extra, keep_attrs=True)
        return cube

    cube = prepare(cube_path, var)
    if kind == "difference":
        if other is None:
            raise ValueError("a difference figure needs a second cube: other=PATH (cube − other)")
        several = var is not None and len(cube_names(other)) > 1
        second = prepare(other, var if several else None)
        fig = cube_difference(cube, second, **opts)
        drawn: xr.DataArray = difference_cube(cube, second, opts.get("labels"))
    else:
        fig = FIGURE_KINDS[kind](cube, **opts)
        drawn = cube
    return export(fig, out, data=drawn if data else None, scale=scale)
