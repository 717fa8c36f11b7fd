"""What a figure reads from its cube: axis and color-bar labels in words, titles, whether the
values are effects or probabilities, and the dims, heads and token text it draws.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from headwidgets.cubes import UNKNOWN
from headwidgets.figures.style import font_size_px
from headwidgets.vocab import METRIC_WORDS, head_set

_METRIC_CALL = re.compile(r"\b(" + "|".join(METRIC_WORDS) + r")\(([^()]*)\)")


def _words(text: str) -> str:
    """Labels in words: metric calls spelled out, ``snake_case`` names with spaces.

    Example
    -------
    >>> _words("change in logit_diff(' Mary' - ' John') when the head is edited")
    "change in logit difference ' Mary' − ' John' when the head is edited"
    >>> _words("ablation_effect")
    'ablation effect'
    """

    def spelled(match: re.Match[str]) -> str:
        return f"{METRIC_WORDS[match[1]]} {match[2].replace(' - ', ' − ')}".strip()

    text = _METRIC_CALL.sub(spelled, text)
    return re.sub(r"(?<=[A-Za-z])_(?=[A-Za-z])", " ", text)


def _label(cube: xr.DataArray | None, default: str = "value", short: bool = False) -> str:
    """``long_name [units]`` from the cube's attrs, in words (the axis or color bar title);
    ``short``: the cube's name in words instead of its long name."""
    if cube is None:
        return default
    long_name = None if short else cube.attrs.get("long_name")
    name = _words(str(long_name or cube.name or default))
    units = str(cube.attrs.get("units") or "")
    return f"{name} [{units}]" if units else name


def _fitting(options: Sequence[str], room_px: float, font_size: str) -> str | None:
    """The first of ``options`` whose text fits ``room_px`` at ``font_size`` (None: none)."""
    char_px = 0.58 * font_size_px(font_size)  # DejaVu Sans: ~0.55 em per character on average
    for text in options:
        if text and char_px * len(text) + 6 <= room_px:
            return text
    return None


def _short_labels(cube: xr.DataArray | None, meta: Mapping[str, Any] | None = None) -> list[str]:
    """A value's label, longest first: long name, name, and units alone (all in words)."""
    source = dict(meta or {})
    if cube is not None:
        source = {**{str(k): v for k, v in cube.attrs.items()}, "name": cube.name, **source}
    units = str(source.get("units") or "")
    tail = f" [{units}]" if units else ""
    names = [str(source.get("long_name") or ""), str(source.get("name") or "")]
    return [*(_words(n.removesuffix(tail)) + tail for n in names if n), units]


def _is_probability(cube: xr.DataArray | None, values: np.ndarray) -> bool:
    """Values that are probabilities (units say so, all within [0, 1]): drawn on [0, 1]."""
    if cube is None or str(cube.attrs.get("units", "")) not in ("probability", "prob"):
        return False
    finite = values[np.isfinite(values)]
    return bool(finite.size) and float(finite.min()) >= 0.0 and float(finite.max()) <= 1.0


def _title(cube: xr.DataArray | None, title: str | None, extra: str = "") -> str | None:
    if title is not None:
        return title or None
    model = str(cube.attrs.get("model", "")) if cube is not None else ""
    model = "" if model == UNKNOWN else model
    parts = [p for p in (model, extra) if p]
    return " · ".join(parts) or None


_EFFECT_WORDS = ("effect", "ablation", "patching", "attribution", "logit_diff", "difference")


def _is_effect(cube: xr.DataArray, values: np.ndarray) -> bool:
    """Effects (signed changes) get a diverging palette; scores a sequential one."""
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() < 0 < finite.max():
        return True
    words = " ".join(str(cube.attrs.get(k, "")) for k in ("method", "metric", "long_name"))
    return any(word in f"{words} {cube.name}".lower() for word in _EFFECT_WORDS)


def _show_token(token: str) -> str:
    return token.replace("\n", "↵").replace("\t", "⇥").replace("\r", "") or "∅"


def _only(cube: xr.DataArray, dims: tuple[str, ...], who: str) -> xr.DataArray:
    extra = [str(d) for d in cube.dims if d not in dims]
    if extra:
        raise ValueError(
            f"{who} needs a {dims} cube; reduce or select dims {extra} first, "
            f"e.g. cube.mean({extra[0]!r}) or cube.sel({extra[0]}=...)"
        )
    return cube.transpose(*dims)


def _pick(cube: xr.DataArray, who: str, **choice: Any) -> xr.DataArray:
    """Select one ``layer``/``head``/``prompt`` (size-1 dims are taken as they are)."""
    for dim, chosen in choice.items():
        if dim not in cube.dims:
            if chosen is not None:
                raise ValueError(f"{dim}={chosen!r} given but the cube has no {dim!r} dim")
            continue
        if chosen is None:
            if cube.sizes[dim] != 1:
                found = cube[dim].values.tolist()
                raise ValueError(f"{who} shows one {dim}: pass {dim}=... (the cube has {found})")
            chosen = cube[dim].values[0]
        cube = cube.sel({dim: chosen}) if dim in cube.indexes else cube.isel({dim: int(chosen)})
    return cube


def _head_pairs(heads: Any) -> list[tuple[int, int]]:
    return [(p.layer, p.head) for p in head_set(heads, "highlighted head")]
