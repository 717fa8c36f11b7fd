"""Plumbing shared by the widgets: static files, float32 buffers, head validation.

Private module: nothing here is public API.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"

Head = tuple[int, int]

_NOT_BUILT = """
export default {
  render({ el }) {
    const box = document.createElement("div");
    box.style.cssText = "color:#b00020;border-left:3px solid #b00020;padding:4px 8px";
    box.textContent = %s;
    el.append(box);
    return () => box.remove();
  },
};
"""


def esm(name: str) -> pathlib.Path | str:
    """The built ES module ``static/<name>``; when missing, a module that says how to build it.

    Importing the widgets never fails because the front end is not built yet (a fresh
    checkout); the widget then shows the build command instead of a blank cell.

    Example
    -------
    >>> esm("headgrid.js")                                  # doctest: +SKIP
    PosixPath('.../headwidgets/static/headgrid.js')
    """
    path = STATIC / name
    if path.is_file():
        return path
    message = (
        f"headwidgets front end not built: {path} is missing. "
        "Run `make js` (or `cd js && npm install && node build.mjs`) and restart the kernel."
    )
    return _NOT_BUILT % _js_string(message)


def css() -> pathlib.Path | str:
    """The shared stylesheet ``static/headwidgets.css`` (empty when not built)."""
    path = STATIC / "headwidgets.css"
    return path if path.is_file() else ""


def _js_string(text: str) -> str:
    import json

    return json.dumps(text)


def float32_buffer(values: Any) -> tuple[bytes, list[int]]:
    """Little-endian float32 bytes (C order) and the shape, for the front end.

    Example
    -------
    >>> data, shape = float32_buffer([[1.0, 2.0], [3.0, 4.0]])
    >>> len(data), shape
    (16, [2, 2])
    """
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    array = np.ascontiguousarray(np.asarray(values, dtype="<f4"))
    return array.tobytes(), [int(d) for d in array.shape]


def finite_or_none(value: Any) -> float | None:
    """A plain float, or None for NaN/inf (JSON has no NaN, the front end shows "–")."""
    number = float(value)
    return number if math.isfinite(number) else None


def check_head(
    value: Any, layers: Sequence[int], heads: Sequence[int], what: str = "head"
) -> list[int]:
    """Validate one (layer, head) pair against the valid labels; return it as [layer, head].

    Raises ValueError naming the valid ranges when the head does not exist.

    Example
    -------
    >>> check_head((1, 2), range(2), range(4))
    [1, 2]
    >>> check_head((5, 0), range(2), range(4))
    Traceback (most recent call last):
    ...
    ValueError: unknown head (5, 0): layer 5 does not exist; valid layers are 0..1
    """
    try:
        layer, head = value
        layer, head = _as_int(layer), _as_int(head)
    except (TypeError, ValueError):
        raise ValueError(f"a {what} is a (layer, head) pair of ints, got {value!r}") from None
    if layer not in layers:
        raise ValueError(
            f"unknown head ({layer}, {head}): layer {layer} does not exist; "
            f"valid layers are {_span(layers)}"
        )
    if head not in heads:
        raise ValueError(
            f"unknown head ({layer}, {head}): head {head} does not exist; "
            f"valid heads are {_span(heads)}"
        )
    return [layer, head]


def check_heads(
    values: Iterable[Any], layers: Sequence[int], heads: Sequence[int]
) -> list[list[int]]:
    """Validate a list of heads; duplicates are dropped, the first occurrence keeps its place."""
    out: list[list[int]] = []
    seen: set[Head] = set()
    for value in values:
        pair = check_head(value, layers, heads)
        key = (pair[0], pair[1])
        if key not in seen:
            seen.add(key)
            out.append(pair)
    return out


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("bool is not a layer or head index")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"not an integer: {value!r}")


def _span(values: Sequence[int]) -> str:
    """'0..3' for a contiguous range, else the list."""
    items = [int(v) for v in values]
    if items and items == list(range(items[0], items[0] + len(items))):
        return f"{items[0]}..{items[-1]}"
    return str(items)
