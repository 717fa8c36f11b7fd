"""What a figure records about its data: the provenance a builder attaches (model, method,
intervention, ...), written into every exported file, and the cube that ``data=True`` writes
beside it.

Builders call :func:`remember`; :func:`figure_metadata` reads it back. Code that adds to a
figure after a builder (the widgets' caption) updates it the same way.

Example
-------
>>> import numpy as np
>>> from bokeh.plotting import figure
>>> from headwidgets.cubes import make_cube
>>> fig, cube = figure(), make_cube(np.zeros((1, 2)), ("layer", "head"), name="s")
>>> remember(fig, cube, {"figure": "mine", "caption": "two heads"})
>>> figure_metadata(fig)
{'figure': 'mine', 'caption': 'two heads'}
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xarray as xr

from headwidgets.cubes import save_cube


def _meta(kind: str, cube: xr.DataArray | None, **extra: Any) -> dict[str, Any]:
    """A builder's metadata: the figure kind, the cube's name and attrs, ``extra``."""
    meta: dict[str, Any] = {"figure": kind}
    if cube is not None:
        meta["name"] = str(cube.name)
        meta.update({str(k): v for k, v in cube.attrs.items() if not str(k).startswith("_")})
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


_CUBES: weakref.WeakKeyDictionary[Any, xr.DataArray | xr.Dataset] = weakref.WeakKeyDictionary()
_META_TAG = "headwidgets"


def remember(fig: Any, cube: xr.DataArray | xr.Dataset | None, meta: Mapping[str, Any]) -> None:
    """Attach provenance to ``fig`` (replacing what it held) and the cube ``data=True`` writes.

    ``meta`` (a JSON-able mapping: the cube's attrs, the figure kind, a caption, ...) is
    embedded in every file :func:`~headwidgets.figures.export` writes; ``cube`` (a DataArray,
    or a Dataset for a panel), when given, is what ``export(fig, ..., data=True)`` writes
    beside the figure.
    """
    if cube is not None:
        _CUBES[fig] = cube
    fig.tags = [t for t in fig.tags if not (isinstance(t, dict) and _META_TAG in t)]
    fig.tags.append({_META_TAG: dict(meta)})


def figure_metadata(fig: Any) -> dict[str, Any]:
    """The provenance a figure builder stored on ``fig`` (``{}`` for other figures).

    Example
    -------
    >>> from bokeh.plotting import figure
    >>> figure_metadata(figure())
    {}
    """
    for obj in [fig, *getattr(fig, "children", [])]:
        for tag in getattr(obj, "tags", []):
            if isinstance(tag, dict) and _META_TAG in tag:
                return dict(tag[_META_TAG])
    return {}


def _is_dataset(data: Any) -> bool:
    return type(data).__name__ == "Dataset" and hasattr(data, "data_vars")


def _write_data(data: Any, fig: Any, path: Path) -> Path | None:
    if data is None or data is False:
        return None
    if data is True:
        if fig not in _CUBES:
            raise ValueError(
                "data=True writes the cube a headwidgets figure was built from, but this figure "
                "was not built by headwidgets.figures; pass the cube itself: data=cube"
            )
        data = _CUBES[fig]
    return save_cube(data, path.with_suffix(".nc"))
