"""Building and checking cubes: :func:`make_cube`, :func:`check_cube`, :func:`as_cube`.

The dims, coords and attrs every cube has (:data:`DIM_ORDER`, :data:`REQUIRED_ATTRS`) are
said here, once; :mod:`headwidgets.cubes` describes what a cube is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from headwidgets.vocab import NO_INTERVENTION

__all__ = [
    "DIM_ORDER",
    "REQUIRED_ATTRS",
    "UNKNOWN",
    "as_cube",
    "check_cube",
    "make_cube",
    "model_attrs",
]

#: every dim a cube may have, in the order they appear
DIM_ORDER: tuple[str, ...] = (
    "layer",
    "head",
    "query",
    "key",
    "dim",
    "frequency",
    "receiver",
    "input",
    "step",
    "prompt",
    "scale",
    "model",
)
#: attrs every cube carries (strings)
REQUIRED_ATTRS: tuple[str, ...] = (
    "model",
    "revision",
    "dtype",
    "method",
    "metric",
    "intervention",
    "headwidgets_version",
    "long_name",
    "units",
)
#: the value :func:`as_cube` gives a provenance attr a cube does not carry
UNKNOWN = "unknown"
_INT_DIMS = ("layer", "head", "query", "key", "dim", "frequency", "prompt")
_TEXT_COORDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "token": (("query",), ("key",), ("query", "prompt"), ("key", "prompt")),
    "key_token": (("key",), ("key", "prompt")),
    "prompt_text": ((), ("prompt",)),
}


def _version() -> str:
    from headwidgets import __version__

    return __version__


def _plain(value: Any) -> Any:
    """Turn numpy scalars, tuples and arrays into plain JSON-able Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def model_attrs(hm: Any) -> dict[str, str]:
    """The ``model``, ``revision`` and ``dtype`` attrs of a bound :class:`HeadModel`.

    Example
    -------
    >>> class Bound:  # anything with name, dtype and model.config
    ...     name, dtype, model = "toy", "torch.float32", None
    >>> model_attrs(Bound())
    {'model': 'toy', 'revision': '', 'dtype': 'float32'}
    """
    config = getattr(getattr(hm, "model", None), "config", None)
    revision = getattr(hm, "revision", None) or getattr(config, "_commit_hash", None) or ""
    return {
        "model": str(getattr(hm, "name", "") or ""),
        "revision": str(revision),
        "dtype": str(getattr(hm, "dtype", "")).removeprefix("torch."),
    }


def make_cube(
    values: Any,
    dims: Sequence[str],
    coords: Mapping[str, Any] | None = None,
    name: str = "score",
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Build a validated cube from an array (numpy or torch) and its dims.

    Missing integer coords default to ``0..n-1``; missing required attrs default to ``""``
    (``long_name`` and ``method`` to ``name``, ``intervention`` to the empty spec's JSON).
    Numpy scalars in attrs become Python numbers, dicts and lists become JSON strings, an
    object with a ``to_json()`` method (an ``Intervention``) is stored as its JSON.
    The dims are put in :data:`DIM_ORDER`.

    Example
    -------
    >>> cube = make_cube([[0.5, 0.1]], ("layer", "head"), name="induction", attrs={"units": "prob"})
    >>> cube.dims, cube.attrs["units"], cube["head"].values.tolist()
    (('layer', 'head'), 'prob', [0, 1])
    """
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    data = np.asarray(values)
    dims = tuple(dims)
    if data.ndim != len(dims):
        raise ValueError(f"values have {data.ndim} dims but dims={dims} names {len(dims)}")
    coords = dict(coords or {})
    for dim, size in zip(dims, data.shape, strict=True):
        if dim not in coords and dim in _INT_DIMS:
            coords[dim] = np.arange(size)
    full = {k: "" for k in REQUIRED_ATTRS}
    full.update({"method": name, "long_name": name, "intervention": NO_INTERVENTION})
    full["headwidgets_version"] = _version()
    for key, value in (attrs or {}).items():
        if hasattr(value, "to_json"):
            value = value.to_json()
        value = _plain(value)
        if isinstance(value, (dict, list)):
            value = json.dumps(value)
        full[key] = value
    cube = xr.DataArray(data, dims=dims, coords=coords, name=name, attrs=full)
    order = [d for d in DIM_ORDER if d in dims]
    if len(order) == len(dims):
        cube = cube.transpose(*order)
    check_cube(cube, require=())
    return cube


def _json_safe(value: Any) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return True  # NaN / inf are numbers netCDF and zarr keep
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def check_cube(cube: Any, require: Sequence[str] = ("layer", "head")) -> xr.DataArray:
    """Validate a cube against the DESIGN.md rules; return it unchanged or raise ValueError.

    Parameters
    ----------
    cube
        The DataArray to check.
    require
        Dims that must be present (default ``("layer", "head")``; ``()`` also accepts a curve
        such as a head set's ``scale_response``).

    Example
    -------
    >>> import xarray as xr
    >>> check_cube(xr.DataArray([[1.0]], dims=("head", "layer"), name="x"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: invalid cube: cube dims ('head', 'layer') are out of order; ...
    """
    if not isinstance(cube, xr.DataArray):
        raise TypeError(f"a cube is an xarray.DataArray, got {type(cube).__name__}")
    problems: list[str] = []
    dims = tuple(str(d) for d in cube.dims)
    unknown = [d for d in dims if d not in DIM_ORDER]
    if unknown:
        problems.append(f"unknown dims {unknown}; expected dims from {DIM_ORDER}")
    else:
        canonical = tuple(d for d in DIM_ORDER if d in dims)
        if dims != canonical:
            problems.append(
                f"cube dims {dims} are out of order; expected {canonical} "
                f"(use cube.transpose{canonical})"
            )
    missing_dims = [d for d in require if d not in dims]
    if missing_dims:
        problems.append(f"missing dims {missing_dims}; a cube's dims start ('layer', 'head')")
    if not isinstance(cube.name, str) or not cube.name:
        problems.append("a cube needs a name (the score's name), got name=None")
    elif cube.name in dims or cube.name in cube.coords:
        problems.append(f"cube name {cube.name!r} clashes with a dim or coord")
    for dim in dims:
        if dim not in cube.coords:
            problems.append(f"dim {dim!r} has no coordinate")
        elif dim in _INT_DIMS and not np.issubdtype(cube[dim].dtype, np.integer):
            problems.append(f"coord {dim!r} must be integers, got dtype {cube[dim].dtype}")
    for coord, allowed in _TEXT_COORDS.items():
        if coord in cube.coords and tuple(cube[coord].dims) not in allowed:
            found = cube[coord].dims
            problems.append(f"coord {coord!r} has dims {found}; expected one of {allowed}")
    missing = [a for a in REQUIRED_ATTRS if a not in cube.attrs]
    if missing:
        problems.append(f"missing attrs {missing}; every cube has {list(REQUIRED_ATTRS)}")
    for key in REQUIRED_ATTRS:
        if key in cube.attrs and not isinstance(cube.attrs[key], str):
            problems.append(f"attr {key!r} must be a str, got {type(cube.attrs[key]).__name__}")
    intervention = cube.attrs.get("intervention")
    if isinstance(intervention, str) and intervention:
        try:
            json.loads(intervention)
        except ValueError:
            problems.append("attr 'intervention' must be JSON (use spec.to_json())")
    bad = [k for k, v in cube.attrs.items() if not _json_safe(v)]
    if bad:
        problems.append(f"attrs {bad} are not JSON-safe (use str, int, float, bool, list, dict)")
    if problems:
        raise ValueError("invalid cube: " + "; ".join(problems))
    return cube


def as_cube(data: Any, require: Sequence[str] = ("layer", "head")) -> xr.DataArray:
    """Any DataArray with cube dims as a complete cube, for drawing and showing it.

    Figures and widgets take scores from anywhere (a CSV, another tool): this fills in what
    such a DataArray lacks instead of refusing it. Missing provenance attrs become
    :data:`UNKNOWN` (``intervention`` becomes JSON ``null``: not known, unlike the empty
    spec, which says no edit was made), ``long_name`` the name, ``units`` ``""``; a missing
    name becomes ``"score"``; missing integer coords ``0..n-1``; integral float coords
    integers; attrs that are not JSON-safe their ``str``; dims are put in
    :data:`DIM_ORDER`. Dims outside :data:`DIM_ORDER`, a missing required dim or non-integral
    positions still raise. The input is not changed. Where headwidgets writes cubes itself
    and in :func:`save_cube`, :func:`check_cube` stays strict.

    Example
    -------
    >>> plain = xr.DataArray([[0.5, 0.1]], dims=("layer", "head"))
    >>> cube = as_cube(plain)
    >>> cube.name, cube.attrs["model"], cube.attrs["intervention"], cube["head"].values.tolist()
    ('score', 'unknown', 'null', [0, 1])
    """
    if not isinstance(data, xr.DataArray):
        raise TypeError(f"a cube is an xarray.DataArray, got {type(data).__name__}")
    cube = data.copy(deep=False)
    dims = [str(d) for d in cube.dims]
    unknown = [d for d in dims if d not in DIM_ORDER]
    if unknown:
        raise ValueError(
            f"unknown dims {unknown}; a cube's dims are {DIM_ORDER} (rename yours, e.g. "
            f"data.rename({{{unknown[0]!r}: 'head'}}))"
        )
    cube = cube.transpose(*[d for d in DIM_ORDER if d in dims])
    for dim in dims:
        if dim not in cube.coords:
            if dim in _INT_DIMS:
                cube = cube.assign_coords({dim: np.arange(cube.sizes[dim])})
            continue
        values = cube[dim].values
        if dim in _INT_DIMS and not np.issubdtype(values.dtype, np.integer):
            as_float = np.asarray(values, dtype=float) if values.dtype.kind in "fiub" else None
            if as_float is None or not np.all(np.isfinite(as_float) & (as_float % 1 == 0)):
                raise ValueError(f"coord {dim!r} must be integers, got {values.tolist()[:6]}")
            cube = cube.assign_coords({dim: as_float.astype(int)})
    name = str(cube.name) if cube.name is not None and str(cube.name) else "score"
    if name in cube.dims or name in cube.coords:
        name = f"{name}_score"
    attrs: dict[str, Any] = {}
    for key, value in cube.attrs.items():
        value = _plain(value)
        if not _json_safe(value):
            value = str(value)
        attrs[str(key)] = value
    defaults = dict.fromkeys(REQUIRED_ATTRS, UNKNOWN)
    defaults.update(long_name=name, units="", intervention="null")
    for key, default in defaults.items():
        value = attrs.get(key)
        if value is None:
            attrs[key] = default
        elif isinstance(value, (dict, list)):
            attrs[key] = json.dumps(value)
        elif not isinstance(value, str):
            attrs[key] = str(value)
    if attrs["intervention"] != "null":
        try:
            json.loads(attrs["intervention"])
        except ValueError:
            attrs["intervention"] = json.dumps(attrs["intervention"])  # keep the text, as JSON
    cube = cube.rename(name)
    cube.attrs = attrs
    return check_cube(cube, require=require)
