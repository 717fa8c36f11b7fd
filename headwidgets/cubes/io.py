"""Saving and loading cubes: :func:`save_cube`, :func:`load_cube`, :func:`cube_names`.

netCDF (``.nc``, h5netcdf) and zarr (``.zarr``) both hold a cube exactly: what they cannot
store (bools, None, lists, dicts, NUL in strings) is written as JSON and decoded on load.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from headwidgets.cubes.build import _plain, check_cube

__all__ = ["cube_names", "load_cube", "save_cube"]

# attr names written by save_cube to undo its encodings on load
_JSON_ATTRS = "_headwidgets_json_attrs"
_JSON_VALUES = "_headwidgets_json_values"


def _encode_attrs(attrs: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
    out: dict[Hashable, Any] = {}
    encoded: list[str] = []
    for key, value in attrs.items():
        plain = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)
        )
        if isinstance(value, str) and "\x00" not in value:
            plain = True
        if plain:
            out[key] = value
        else:
            out[key] = json.dumps(_plain(value))
            encoded.append(str(key))
    if encoded:
        out[_JSON_ATTRS] = json.dumps(encoded)
    return out


def _decode_attrs(attrs: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
    attrs = {k: _plain(v) for k, v in attrs.items()}
    encoded = json.loads(attrs.pop(_JSON_ATTRS, "[]"))
    for key in encoded:
        attrs[key] = json.loads(attrs[key])
    return attrs


def _encode(cube: xr.DataArray) -> xr.DataArray:
    """A copy of ``cube`` both netCDF (no bools, no NUL in strings) and zarr v3 can store."""
    out = cube.copy()
    out.attrs = _encode_attrs(cube.attrs)
    for name, coord in cube.coords.items():
        attrs = _encode_attrs(coord.attrs)
        values = coord.values
        if values.dtype.kind in "UOT":
            strings = [str(v) for v in values.ravel()]
            if any("\x00" in s for s in strings):
                strings = [json.dumps(s) for s in strings]
                attrs[_JSON_VALUES] = 1
            values = np.asarray(strings, dtype=object).reshape(values.shape)
        out = out.assign_coords({name: (coord.dims, values, attrs)})
    return out


def _decode(cube: xr.DataArray) -> xr.DataArray:
    cube.attrs = _decode_attrs(cube.attrs)
    for name, coord in list(cube.coords.items()):
        attrs = _decode_attrs(coord.attrs)
        values = coord.values
        if values.dtype.kind in "UOT":
            strings = [str(v) for v in values.ravel()]
            if attrs.pop(_JSON_VALUES, 0):
                strings = [json.loads(s) for s in strings]
            values = np.asarray(strings, dtype=str).reshape(values.shape)
        cube = cube.assign_coords({name: (coord.dims, values, attrs)})
    return cube


def _format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".nc", ".nc4", ".netcdf"):
        return "netcdf"
    if suffix == ".zarr":
        return "zarr"
    raise ValueError(f"unknown cube file suffix {suffix!r} for {path}; expected '.nc' or '.zarr'")


def save_cube(cube: xr.DataArray | xr.Dataset, path: str | Path) -> Path:
    """Write a cube to netCDF (``.nc``, h5netcdf engine) or zarr (``.zarr``); return the path.

    The round trip is exact: ``load_cube(save_cube(cube, p))`` is identical to ``cube``
    (attrs that netCDF cannot hold — bools, None, lists, dicts — are stored as JSON strings
    and decoded on load). An existing file or store at ``path`` is replaced.

    Several cubes go into one file as an :class:`xarray.Dataset` with one cube per data
    variable (``xr.Dataset({"induction": a, "sink": b})``, their coords shared);
    ``load_cube(path, "sink")`` reads one back and :func:`cube_names` lists them.

    Example
    -------
    >>> import tempfile, xarray as xr
    >>> from headwidgets.cubes import make_cube
    >>> cube = make_cube([[1.0, 2.0]], ("layer", "head"), name="demo", attrs={"seeded": True})
    >>> path = save_cube(cube, tempfile.mkdtemp() + "/demo.nc")
    >>> xr.testing.assert_identical(load_cube(path), cube)
    """
    kind = _format(path)
    path = Path(path)
    encoded: xr.DataArray | xr.Dataset
    if isinstance(cube, xr.Dataset):
        if not cube.data_vars:
            raise ValueError("the Dataset holds no cubes; give it one data variable per score")
        for name, variable in cube.data_vars.items():
            check_cube(variable.rename(name), require=())
        encoded = xr.Dataset(
            {name: _encode(variable) for name, variable in cube.data_vars.items()},
            attrs=_encode_attrs(cube.attrs),
        )
    else:
        check_cube(cube, require=())
        encoded = _encode(cube)
    if kind == "netcdf":
        encoded.to_netcdf(path, engine="h5netcdf")
    else:
        encoded.to_zarr(path, mode="w", consolidated=False)
    return path


def _open_options(path: str | Path) -> dict[str, Any]:
    kind = _format(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"no cube at {path}")
    options: dict[str, Any] = {"decode_times": False, "decode_timedelta": False}
    if kind == "netcdf":
        options["engine"] = "h5netcdf"
    else:
        options.update(engine="zarr", consolidated=False)
    return options


def cube_names(path: str | Path) -> list[str]:
    """The names of the cubes in a file written by :func:`save_cube` (one, or a Dataset's), sorted.

    Example
    -------
    >>> import tempfile, xarray as xr
    >>> from headwidgets.cubes import make_cube
    >>> a = make_cube([[1.0]], ("layer", "head"), name="a")
    >>> path = save_cube(xr.Dataset({"a": a, "b": a * 2}), tempfile.mkdtemp() + "/ab.nc")
    >>> cube_names(path)
    ['a', 'b']
    """
    with xr.open_dataset(path, **_open_options(path)) as opened:
        return sorted(str(name) for name in opened.data_vars)  # zarr lists in any order


def load_cube(path: str | Path, name: str | None = None) -> xr.DataArray:
    """Read a cube written by :func:`save_cube` (format chosen by suffix) into memory.

    ``name`` picks one cube of a file that holds several (a Dataset); a file of one cube
    needs none. A name the file does not hold, or none for a file of several, raises a
    ValueError listing the names in the file.

    Example
    -------
    >>> import tempfile
    >>> from headwidgets.cubes import make_cube
    >>> path = save_cube(make_cube([[3.0]], ("layer", "head"), name="demo"),
    ...                  tempfile.mkdtemp() + "/demo.zarr")
    >>> float(load_cube(path).sel(layer=0, head=0))
    3.0
    """
    options = _open_options(path)
    names = cube_names(path)
    if not names:
        raise ValueError(f"{path} holds no cubes (no data variables)")
    if name is None and len(names) == 1:
        with xr.open_dataarray(path, **options) as opened:
            cube = opened.load()
    else:
        if name not in names:
            pick = "no name given; pick one" if name is None else f"no cube named {name!r}"
            raise ValueError(
                f"{path} holds the cubes {names}: {pick} of them, e.g. "
                f"load_cube(path, {names[0]!r})"
            )
        with xr.open_dataset(path, **options) as opened:
            cube = opened[name].load()
    cube.encoding = {}
    return _decode(cube)
