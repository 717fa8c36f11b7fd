"""``headwidgets figure``: draw a saved cube with one of the builders and export it.

:func:`figure_command` is what the command line calls (``headwidgets figure CUBE.nc --kind
heatmap --out fig.svg``); :data:`FIGURE_KINDS` names its ``--kind`` choices.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from headwidgets.cubes import cube_names, load_cube
from headwidgets.figures.export import _renamed_scale, export
from headwidgets.figures.heatmap import cube_difference, difference_cube, head_heatmap
from headwidgets.figures.lines import layer_profile, scale_response
from headwidgets.figures.tokens import attention_pattern, token_strip
from headwidgets.vocab import parse_heads

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
    pixel_ratio: float | None = None,
    data: bool = False,
    var: str | None = None,
    scale: float | None = None,
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
    pixel_ratio
        PNG pixels per CSS pixel (default: 300 dpi, ``300 / 96``).
    data
        Also write the drawn cube beside the figure (``out`` with suffix ``.nc``).
    var
        The cube to draw from a file that holds several (a Dataset, such as
        ``headwidgets scores ... -o scores.nc`` with several scores writes); also picked from
        ``other`` when that file holds several. Without it such a file raises a ValueError
        listing its cubes.
    scale
        The old name of ``pixel_ratio``: still accepted, with a FutureWarning.
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
    pixel_ratio = _renamed_scale(pixel_ratio, scale)
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
    return export(fig, out, data=drawn if data else None, pixel_ratio=pixel_ratio)
