"""Ranking and comparing cubes: :func:`top_heads`, :func:`compare`, :func:`overlap`,
:func:`overlap_table`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from headwidgets.cubes.build import _TEXT_COORDS, DIM_ORDER, REQUIRED_ATTRS, as_cube, check_cube
from headwidgets.vocab import head_set

__all__ = ["compare", "overlap", "overlap_table", "top_heads"]


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
    >>> from headwidgets.cubes import make_cube
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
    >>> from headwidgets.cubes import make_cube
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
