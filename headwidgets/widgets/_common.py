"""Plumbing shared by the widgets: static files, float32 buffers.

Private module: nothing here is public API.
"""

from __future__ import annotations

import math
import pathlib
from typing import Any

import numpy as np

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"

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
