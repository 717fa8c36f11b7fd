"""Score cubes: build, validate, save, load, rank and compare labeled head scores.

A cube is an :class:`xarray.DataArray` whose dims start ``("layer", "head")`` and continue
with any of ``"query"``, ``"key"``, ``"prompt"``, ``"scale"``, ``"model"`` (in that order).
Position, layer, head and prompt coords are integers; the text of each position lives in the
non-dimension coord ``token`` (along ``query``, or along ``key`` when there is no ``query``;
a cube with both also carries ``key_token`` along ``key``) and the prompts in ``prompt_text``.
Attributes are JSON-safe and always include :data:`REQUIRED_ATTRS`.

Example
-------
>>> import numpy as np
>>> from headwidgets.cubes import make_cube, top_heads
>>> cube = make_cube(np.arange(6.0).reshape(2, 3), ("layer", "head"), name="demo")
>>> top_heads(cube, 2).to_dict("records")
[{'layer': 1, 'head': 2, 'value': 5.0}, {'layer': 1, 'head': 1, 'value': 4.0}]
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from headwidgets.vocab import NO_INTERVENTION, head_set

__all__ = [
    "DIM_ORDER",
    "REQUIRED_ATTRS",
    "UNKNOWN",
    "as_cube",
    "check_cube",
    "compare",
    "cube_names",
    "load_cube",
    "make_cube",
    "model_attrs",
    "overlap",
    "overlap_table",
    "save_cube",
    "top_heads",
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
# attr names written by save_cube to undo its encodings on load
_JSON_ATTRS = "_headwidgets_json_attrs"
_JSON_VALUES = "_headwidgets_json_values"


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


# ---------------------------------------------------------------------------------------------
# saving and loading


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


# ---------------------------------------------------------------------------------------------
# ranking and comparing


def top_heads(
    cube: xr.DataArray, k: int = 10, largest: bool = True, abs: bool = False
) -> pd.DataFrame:
    """The ``k`` heads with the largest (or smallest) values, as a DataFrame.

    Parameters
    ----------
    cube
        A (layer, head) cube; reduce other dims first (``cube.mean("prompt")``).
    k
        How many heads (fewer if the cube has fewer non-NaN cells).
    largest
        Largest values first (``False``: smallest first).
    abs
        Rank by absolute value (the ``value`` column keeps the sign).

    Returns
    -------
    pandas.DataFrame
        Columns ``layer``, ``head``, ``value``, one row per head, best first.

    Example
    -------
    >>> cube = make_cube([[0.1, -0.9], [0.5, 0.2]], ("layer", "head"), name="demo")
    >>> top_heads(cube, 1, abs=True).to_dict("records")
    [{'layer': 0, 'head': 1, 'value': -0.9}]
    """
    check_cube(cube)
    extra = [d for d in cube.dims if d not in ("layer", "head")]
    if extra:
        raise ValueError(
            f"top_heads needs a (layer, head) cube; reduce dims {extra} first, "
            f"e.g. cube.mean({extra[0]!r})"
        )
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    frame = cube.to_series().rename("value").reset_index()[["layer", "head", "value"]]
    frame = frame.dropna(subset=["value"])
    key = frame["value"].abs() if abs else frame["value"]
    order = np.argsort(-key.to_numpy() if largest else key.to_numpy(), kind="stable")
    out = frame.iloc[order[:k]].reset_index(drop=True)
    return out.astype({"layer": int, "head": int, "value": float})


def compare(
    cube_a: xr.DataArray, cube_b: xr.DataArray, labels: Sequence[str] | None = None
) -> xr.DataArray:
    """Stack two cubes of the same score along a new ``model`` dim, aligned on (layer, head).

    Heads missing from one model (different sizes) are NaN there. ``labels`` name the two
    entries of the ``model`` coord (default: the cubes' ``model`` attrs, with ``@revision``
    added when they are equal, and ``a`` / ``b`` as a last resort). The ``model`` and
    ``revision`` attrs list the two cubes' own values (JSON), whatever the labels.

    Example
    -------
    >>> a = make_cube([[1.0, 2.0]], ("layer", "head"), name="s", attrs={"model": "small"})
    >>> b = make_cube([[1.5, 2.5, 3.5]], ("layer", "head"), name="s", attrs={"model": "wide"})
    >>> both = compare(a, b)
    >>> both.dims, both.model.values.tolist(), both.sel(model="small", head=2).item()
    (('layer', 'head', 'model'), ['small', 'wide'], nan)
    """
    cube_a, cube_b = as_cube(cube_a), as_cube(cube_b)
    if "model" in cube_a.dims or "model" in cube_b.dims:
        raise ValueError("compare takes cubes without a 'model' dim; use xr.concat to add more")
    if set(cube_a.dims) != set(cube_b.dims):
        raise ValueError(f"cubes have different dims: {cube_a.dims} vs {cube_b.dims}")
    if labels is None:
        names = [str(c.attrs.get("model", "")) for c in (cube_a, cube_b)]
        if names[0] == names[1]:
            revisions = [str(c.attrs.get("revision", "")) for c in (cube_a, cube_b)]
            names = [f"{n}@{r}" for n, r in zip(names, revisions, strict=True)]
        if names[0] == names[1] or not all(names):
            names = ["a", "b"]
    else:
        names = [str(x) for x in labels]
        if len(names) != 2 or names[0] == names[1]:
            raise ValueError(f"labels must be two different names, got {labels!r}")
    # text coords of the two prompts may differ; keep them only when equal
    text = [c for c in _TEXT_COORDS if c in cube_a.coords or c in cube_b.coords]
    a, b = xr.align(
        cube_a.drop_vars(text, errors="ignore"),
        cube_b.drop_vars(text, errors="ignore"),
        join="outer",
    )
    both = xr.concat([a, b], dim=pd.Index(names, name="model"), combine_attrs="drop")
    for coord in text:
        in_both = coord in cube_a.coords and coord in cube_b.coords
        if in_both and cube_a[coord].equals(cube_b[coord]):
            both = both.assign_coords({coord: cube_a[coord]})
    attrs = {k: v for k, v in cube_a.attrs.items() if cube_b.attrs.get(k) == v}
    for key in REQUIRED_ATTRS:
        attrs.setdefault(key, "")
    # the models' own names (the labels are the coord): a checkpoint or prompt comparison of
    # one model keeps that model's name
    attrs["model"] = json.dumps([str(c.attrs.get("model", "")) for c in (cube_a, cube_b)])
    attrs["revision"] = json.dumps([str(c.attrs.get("revision", "")) for c in (cube_a, cube_b)])
    both.attrs = attrs
    name = cube_a.name if cube_a.name == cube_b.name else f"{cube_a.name}_vs_{cube_b.name}"
    return check_cube(both.rename(name).transpose(*[d for d in DIM_ORDER if d in both.dims]))


def _head_set(heads: Any) -> set[tuple[int, int]]:
    return {(p.layer, p.head) for p in head_set(heads)}


def overlap(heads_a: Iterable[Any] | pd.DataFrame, heads_b: Iterable[Any] | pd.DataFrame) -> float:
    """Jaccard overlap ``|A ∩ B| / |A ∪ B|`` of two head sets (1.0 for two empty sets).

    Each set is an iterable of ``(layer, head)`` pairs, a :func:`top_heads` DataFrame or an
    ``Intervention`` (its edited heads).

    Example
    -------
    >>> overlap([(0, 1), (1, 2)], [(1, 2), (1, 3)])
    0.3333333333333333
    """
    a, b = _head_set(heads_a), _head_set(heads_b)
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _expected_overlap(size_a: int, size_b: int, total: int) -> tuple[float, float]:
    """E[|A ∩ B| / min] and E[Jaccard] of random sets of these sizes out of ``total`` heads
    (the intersection is hypergeometric)."""
    if size_a == 0 or size_b == 0:
        return 0.0, 1.0 if size_a == size_b == 0 else 0.0
    ways = math.comb(total, size_b)
    e_min, e_jaccard = 0.0, 0.0
    for k in range(max(0, size_a + size_b - total), min(size_a, size_b) + 1):
        p = math.comb(size_a, k) * math.comb(total - size_a, size_b - k) / ways
        e_min += p * k / min(size_a, size_b)
        e_jaccard += p * k / (size_a + size_b - k)
    return e_min, e_jaccard


def overlap_table(
    sets: Mapping[str, Any] | Sequence[Any],
    k: int | None = None,
    total: int | None = None,
    largest: bool = True,
) -> pd.DataFrame:
    """Pairwise overlap of N head sets (or cubes), with what random sets would give.

    For every pair: ``overlap`` = |A ∩ B| / min(|A|, |B|), ``jaccard`` = |A ∩ B| / |A ∪ B|
    (what :func:`overlap` returns), and their expectations for random sets of the same sizes
    drawn from ``total`` heads (``expected_overlap`` = max(|A|, |B|)/total; the expected
    Jaccard from the hypergeometric law of |A ∩ B|).

    Parameters
    ----------
    sets
        ``{name: set}`` or a list (named ``"0"``, ``"1"``, ...). A set is an iterable of
        (layer, head) pairs, a :func:`top_heads` DataFrame, an ``Intervention`` or a
        (layer, head) cube, which gives its top ``k`` heads.
    k
        Heads taken from each cube (required when a cube is given).
    total
        Heads in the model (layers × heads); default: the size of a given cube.
    largest
        Take the largest (default) or smallest values of the cubes.

    Example
    -------
    >>> table = overlap_table({"ioi": [(0, 1), (1, 2)], "colors": [(1, 2), (1, 3), (0, 0)]},
    ...                       total=8)
    >>> table[["a", "b", "intersection", "overlap", "expected_overlap"]].to_dict("records")
    [{'a': 'ioi', 'b': 'colors', 'intersection': 1, 'overlap': 0.5, 'expected_overlap': 0.375}]
    """
    named = dict(sets) if isinstance(sets, Mapping) else {str(i): s for i, s in enumerate(sets)}
    if len(named) < 2:
        raise ValueError(f"overlap_table needs at least 2 head sets, got {len(named)}")
    heads: dict[str, set[tuple[int, int]]] = {}
    for name, item in named.items():
        if isinstance(item, xr.DataArray):
            if k is None:
                raise ValueError(f"set {name!r} is a cube: pass k= (how many top heads to take)")
            total = total or int(item.sizes["layer"] * item.sizes["head"])
            heads[str(name)] = _head_set(top_heads(item, k, largest=largest))
        else:
            heads[str(name)] = _head_set(item)
    if total is None:
        raise ValueError("pass total= (the number of heads in the model, layers × heads)")
    biggest = max(len(h) for h in heads.values())
    if biggest > total:
        raise ValueError(f"a set has {biggest} heads but total={total}; total is layers × heads")
    rows = []
    names = list(heads)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            set_a, set_b = heads[a], heads[b]
            both = len(set_a & set_b)
            smaller = min(len(set_a), len(set_b))
            e_min, e_jaccard = _expected_overlap(len(set_a), len(set_b), total)
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "size_a": len(set_a),
                    "size_b": len(set_b),
                    "intersection": both,
                    "overlap": both / smaller if smaller else float("nan"),
                    "jaccard": overlap(set_a, set_b),
                    "expected_overlap": e_min,
                    "expected_jaccard": e_jaccard,
                }
            )
    table = pd.DataFrame(rows)
    table.attrs["total"] = total
    return table
