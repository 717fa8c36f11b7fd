"""Figures for papers: bokeh builders from cubes, and export to SVG, PNG, PDF and HTML.

Each builder takes a cube (see :mod:`headwidgets.cubes`) and returns a bokeh figure in one
house style made for print: sizes as ``width="column"`` (3.25 in, the default: one column of
a two-column paper), ``"text"`` (6.75 in), a length (``"2.5in"``, ``"8cm"``) or CSS pixels
at 96 per inch, font sizes in points so they read at that width,
colorblind-safe palettes (Viridis for scores, a blue–white–red RdBu centred on 0 for effects,
Okabe–Ito for lines) and no toolbar. Override any of it with ``style={...}`` (keys of
:data:`HOUSE_STYLE`) or the builders' keyword arguments.

:func:`export` writes a figure to ``.svg`` (vector: one shape per heatmap cell, each label
once as text, vector colour bars), ``.png`` (300 dpi by default, or ``pixel_ratio=``),
``.pdf`` (fonts embedded, no Type 3) or self-contained ``.html``, and with ``data=cube`` the
cube beside it as netCDF.

:func:`panel` puts several figures into one paper figure: equal frames, an optional shared
color bar, panel letters, and one ``.nc`` (a Dataset) with every panel's data.

This module is the public face; the code lives in its modules:

- ``heatmap`` (head heatmap, cube difference), ``tokens`` (attention pattern, token strip),
  ``lines`` (scale response, layer profile), ``circuits`` (self-repair, head-set search,
  overlap), ``panel`` (multi-panel figures), ``command`` (``headwidgets figure``);
- ``style`` (house style, palettes, sizes), ``parts`` (legends, color bars, cells),
  ``labels`` (labels and titles from a cube's attrs), ``provenance`` (what a figure records);
- ``export`` (the formats), ``browser`` (the headless Chromium), ``svgclean`` and
  ``fontsubset`` (print-ready SVG).

Code that draws its own figures in the house style (the widgets do) uses
:func:`~headwidgets.figures.style.house_style`,
:func:`~headwidgets.figures.style.styled_figure`, :func:`~headwidgets.figures.style.font_size_px`
and :func:`~headwidgets.figures.provenance.remember`.

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

from headwidgets.figures.browser import BrowserNotFoundError, close_browser, find_browser
from headwidgets.figures.circuits import (
    head_set_search_figure,
    overlap_figure,
    self_repair_figure,
)
from headwidgets.figures.command import FIGURE_KINDS, figure_command
from headwidgets.figures.export import export
from headwidgets.figures.heatmap import cube_difference, difference_cube, head_heatmap
from headwidgets.figures.lines import Reduction as Reduction
from headwidgets.figures.lines import layer_profile, scale_response
from headwidgets.figures.panel import panel
from headwidgets.figures.provenance import figure_metadata
from headwidgets.figures.style import COLUMN_INCHES, HOUSE_STYLE, TEXT_INCHES, css_pixels
from headwidgets.figures.style import DARK as DARK
from headwidgets.figures.style import DIVERGING as DIVERGING
from headwidgets.figures.style import OKABE_ITO as OKABE_ITO
from headwidgets.figures.tokens import attention_pattern, token_strip

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
