"""HeadGrid: a layer × head heatmap of any (layer, head) cube, with head selection and export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import traitlets
import xarray as xr

from headwidgets.cubes import as_cube
from headwidgets.figures import export
from headwidgets.interventions import Intervention
from headwidgets.vocab import check_heads
from headwidgets.widgets._base import LiveWidget
from headwidgets.widgets._common import css, esm, float32_buffer
from headwidgets.widgets._exporting import (
    EXPORT_OPTIONS,
    default_export_path,
    view_figure,
    written,
)

ColorScale = str  # "auto" | "sequential" | "diverging"
COLOR_SCALES = ("auto", "sequential", "diverging")


class HeadGrid(LiveWidget):
    """Heatmap of a (layer, head) cube; click, shift-click or drag to select heads.

    Parameters
    ----------
    cube
        An ``xr.DataArray`` with dims ``("layer", "head")`` (a score, an ablation effect, ...).
        Reduce other dims first (``cube.mean("prompt")``, ``cube.sel(query=-1)``). A plain
        2-D array is read as (layer, head).
    color_scale
        ``"auto"`` (diverging around 0 when the values have both signs, else sequential),
        ``"sequential"`` or ``"diverging"``.
    vmin, vmax
        Ends of the color scale (default from the data; symmetric for diverging).
    selected
        Initially selected heads, ``[(layer, head), ...]``.
    title
        Shown above the grid (default: the cube's ``long_name`` or name).
    export_path
        The file the widget's "Export SVG" button writes (default
        ``headwidgets-<cube name>.svg`` in the working directory; the suffix picks the
        format), with the cube beside it as ``.nc``. See :meth:`export`.

    Example
    -------
    >>> import numpy as np, xarray as xr
    >>> cube = xr.DataArray(np.random.rand(2, 4), dims=("layer", "head"), name="score")
    >>> grid = HeadGrid(cube, selected=[(1, 2)])
    >>> grid.selected
    [[1, 2]]
    >>> grid.export_path
    'headwidgets-score.svg'
    >>> grid  # renders in Jupyter                             # doctest: +SKIP
    >>> grid.export("heads.svg")  # L1 H2 outlined, + heads.nc  # doctest: +SKIP
    PosixPath('heads.svg')
    """

    _esm = esm("headgrid.js")
    _css = css()

    cube = traitlets.Instance(
        xr.DataArray, help="The (layer, head) cube shown (xr.DataArray). Not synced; see _values."
    )
    selected = traitlets.List(
        traitlets.List(traitlets.Int(), minlen=2, maxlen=2),
        help="Selected heads as [[layer, head], ...] (cube coordinates). Default [].",
    ).tag(sync=True)
    color_scale = traitlets.Enum(
        COLOR_SCALES, default_value="auto", help="'auto', 'sequential' or 'diverging'."
    ).tag(sync=True)
    vmin = traitlets.Float(
        None, allow_none=True, help="Low end of the color scale; None = from the data."
    ).tag(sync=True)
    vmax = traitlets.Float(
        None, allow_none=True, help="High end of the color scale; None = from the data."
    ).tag(sync=True)
    title = traitlets.Unicode("", help="Title above the grid (str).").tag(sync=True)
    units = traitlets.Unicode("", help="Units of the values, shown in the hover (str).").tag(
        sync=True
    )
    intervention = traitlets.Instance(
        Intervention,
        allow_none=True,
        help="Intervention named in exports (caption, metadata, the .nc's 'intervention' attr); "
        "None: none named. The Explorer keeps it equal to its controls'. Not synced.",
    )
    export_path = traitlets.Unicode(
        "",
        help="File the Export button writes (str; default headwidgets-<cube name>.svg, "
        "relative to the working directory); the cube goes beside it as .nc.",
    ).tag(sync=True)
    export_status = traitlets.Unicode(
        "", help="What the last export wrote, e.g. 'wrote a.svg and a.nc in /dir' (str)."
    ).tag(sync=True)
    export_error = traitlets.Unicode(
        "", help="The last export's error ('' = none), shown in the widget (str)."
    ).tag(sync=True)
    _values = traitlets.Bytes(help="float32 (layer, head) values, C order.").tag(sync=True)
    _shape = traitlets.List(traitlets.Int(), help="[n_layers, n_heads].").tag(sync=True)
    _layers = traitlets.List(traitlets.Int(), help="Layer coordinate of each row.").tag(sync=True)
    _heads = traitlets.List(traitlets.Int(), help="Head coordinate of each column.").tag(sync=True)

    def __init__(
        self,
        cube: Any,
        *,
        color_scale: ColorScale = "auto",
        vmin: float | None = None,
        vmax: float | None = None,
        selected: Any = (),
        title: str | None = None,
        export_path: str | None = None,
    ) -> None:
        super().__init__(color_scale=color_scale, vmin=vmin, vmax=vmax)
        self.cube = as_head_cube(cube)
        if title is not None:
            self.title = title
        if export_path is not None:
            self.export_path = export_path
        self.selected = list(selected)
        self._serve("export", "exported", self._export_button, self._export_done, stamp=False)

    @traitlets.validate("cube")
    def _check_cube(self, proposal: Any) -> xr.DataArray:
        return as_head_cube(proposal["value"])

    @traitlets.observe("cube")
    def _send_cube(self, change: Any) -> None:
        cube: xr.DataArray = change["new"]
        if self.export_path in ("", default_export_path(change["old"])):
            self.export_path = default_export_path(cube)
        data, shape = float32_buffer(cube.values)
        layers = [int(v) for v in cube["layer"].values]
        heads = [int(v) for v in cube["head"].values]
        with self.hold_sync():
            self._layers = layers
            self._heads = heads
            self._shape = shape
            self._values = data
            self.title = str(cube.attrs.get("long_name") or cube.name or "score")
            self.units = str(cube.attrs.get("units") or "")
            valid = {(layer, head) for layer in layers for head in heads}
            self.selected = [s for s in self.selected if (s[0], s[1]) in valid]

    @traitlets.validate("selected")
    def _check_selected(self, proposal: Any) -> list[list[int]]:
        if self.cube is None:
            return [list(map(int, s)) for s in proposal["value"]]
        layers = [int(v) for v in self.cube["layer"].values]
        heads = [int(v) for v in self.cube["head"].values]
        return [list(h) for h in check_heads(proposal["value"], layers, heads)]

    @property
    def selected_values(self) -> xr.DataArray:
        """The cube's values at the selected heads (dim ``"selected"``)."""
        layers = xr.DataArray([s[0] for s in self.selected], dims="selected")
        heads = xr.DataArray([s[1] for s in self.selected], dims="selected")
        return self.cube.sel(layer=layers, head=heads)

    def figure(self, **kwargs: Any) -> Any:
        """The current view as a bokeh figure: the heatmap, the selected heads outlined.

        Keyword arguments go to :func:`headwidgets.figures.head_heatmap` (``palette``,
        ``title``, ``width``, ``style``, ...). By default the figure follows the grid's
        ``color_scale`` and ``vmin``/``vmax`` (``"auto"``: the house style's choice, which
        also centres effects on 0). With :attr:`intervention` set, a caption names it.

        Example
        -------
        >>> import numpy as np, xarray as xr
        >>> grid = HeadGrid(xr.DataArray(np.ones((2, 3)), dims=("layer", "head"), name="s"),
        ...                 selected=[(1, 2)])
        >>> grid.figure().select_one({"name": "highlight"}).data_source.data["x"]
        [2]
        """
        if self.color_scale != "auto":
            kwargs.setdefault("diverging", self.color_scale == "diverging")
        if self.vmin is not None:
            kwargs.setdefault("low", self.vmin)
        if self.vmax is not None:
            kwargs.setdefault("high", self.vmax)
        return view_figure(self.cube, self.selected, self.intervention, **kwargs)

    def export(self, path: str | Path | None = None, data: Any = True, **kwargs: Any) -> Path:
        """Write the current view (:meth:`figure`) and, by default, its data beside it.

        Parameters
        ----------
        path
            ``.svg``, ``.png``, ``.pdf`` or ``.html`` (default :attr:`export_path`).
        data
            ``True`` (default): write the cube beside the figure as ``.nc``; ``False``: no
            data; or a cube to write instead.
        **kwargs
            ``pixel_ratio`` and ``timeout`` go to :func:`headwidgets.export`, the rest to
            :meth:`figure`.

        Returns
        -------
        pathlib.Path
            The figure's path.

        Notes
        -----
        With :attr:`intervention` set (the Explorer sets it to its controls'), the figure gets
        a caption naming the edits, and the intervention's JSON is in the figure's metadata
        and in the ``intervention`` attr of the ``.nc`` (the cube's own value of that attr
        moves to ``cube_intervention``).

        Example
        -------
        >>> grid = HeadGrid(hm.sweep(prompt, "loss"), selected=[(1, 2)])   # doctest: +SKIP
        >>> grid.export("loss.svg")                                         # doctest: +SKIP
        PosixPath('loss.svg')
        """

        exporting = {key: kwargs.pop(key) for key in EXPORT_OPTIONS if key in kwargs}
        target = Path(path if path is not None else self.export_path or "headwidgets.svg")
        return export(self.figure(**kwargs), target, data=data, **exporting)

    def _export_button(self, content: dict[str, Any]) -> dict[str, Any]:
        """The Export button: write :attr:`export_path`; the answer names the files."""
        start = time.perf_counter()
        path = self.export()
        return {"status": f"{written(path, True)} ({time.perf_counter() - start:.1f} s)"}

    def _export_done(self, fields: dict[str, Any], error: str) -> dict[str, Any]:
        status = fields.get("status", "")
        error = f"export failed: {error}" if error else ""
        with self.hold_sync():
            self.export_status = status
            self.export_error = error
        return {"status": status or None, "error": error or None}


def as_head_cube(cube: Any) -> xr.DataArray:
    """Validate a cube for the grid: exactly the dims ``("layer", "head")``, numeric values.

    Raises ValueError naming the dims expected and found.

    Example
    -------
    >>> as_head_cube(xr.DataArray(np.zeros((2, 3, 5)), dims=("layer", "head", "query")))
    Traceback (most recent call last):
    ...
    ValueError: HeadGrid shows a (layer, head) cube: expected dims ('layer', 'head'), found ('layer', 'head', 'query'); reduce the other dims first, e.g. cube.mean('query') or cube.isel(query=-1)
    """  # noqa: E501
    if not isinstance(cube, xr.DataArray):
        if hasattr(cube, "detach"):
            cube = cube.detach().float().cpu().numpy()
        array = np.asarray(cube)
        if array.ndim != 2:
            raise ValueError(
                f"HeadGrid shows a (layer, head) cube: expected a 2-D array or an xr.DataArray "
                f"with dims ('layer', 'head'), found an array of shape {array.shape}"
            )
        cube = xr.DataArray(array, dims=("layer", "head"), name="score")
    dims = tuple(str(d) for d in cube.dims)
    if set(dims) != {"layer", "head"} or len(dims) != 2:
        extra = [d for d in dims if d not in ("layer", "head")]
        hint = ""
        if extra:
            hint = (
                f"; reduce the other dims first, e.g. cube.mean({extra[0]!r}) "
                f"or cube.isel({extra[0]}=-1)"
            )
        raise ValueError(
            f"HeadGrid shows a (layer, head) cube: expected dims ('layer', 'head'), "
            f"found {dims}{hint}"
        )
    cube = cube.transpose("layer", "head")
    if not np.issubdtype(cube.dtype, np.number) or np.issubdtype(cube.dtype, np.complexfloating):
        raise ValueError(f"HeadGrid needs real numbers, got dtype {cube.dtype}")
    # integer layer/head coords (0..n-1 where missing; 0.0, 1.0 from a CSV read as 0, 1);
    # the attrs stay as they are: figures and exports fill what is missing (as_cube)
    complete = as_cube(cube)
    return cube.assign_coords(layer=complete["layer"].values, head=complete["head"].values)
