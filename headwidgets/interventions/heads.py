"""The one check of a (layer, head) pair, for every kind of edit at every site.

A spec checks the pair's type and sign when it is built (it does not know the model yet);
compiling it for a model checks the range. Both use :func:`check_head`, so every edit says
the same thing in the same words:

>>> check_head(1, 7, n_layers=2, n_heads=4)
Traceback (most recent call last):
...
ValueError: unknown head (1, 7): head 7 is out of range; valid heads are 0..3
>>> check_head(0, 2, n_layers=2, n_heads=2, heads="key/value heads", what="in a k edit")
Traceback (most recent call last):
...
ValueError: unknown head (0, 2) in a k edit: head 2 is out of range; valid key/value heads are 0..1
"""

from __future__ import annotations

from typing import Any


def check_head(
    layer: Any,
    head: Any,
    n_layers: int | None = None,
    n_heads: int | None = None,
    heads: str = "heads",
    what: str = "",
) -> None:
    """Raise unless ``(layer, head)`` names a head: ints >= 0, and within the model's range
    where ``n_layers`` / ``n_heads`` are given.

    ``heads`` names the heads counted by ``n_heads`` in the message (``"query heads"``,
    ``"key/value heads"``); ``what`` names the edit (``"in a k edit"``).
    """
    for name, value in (("layer", layer), ("head", head)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    where = f"unknown head ({layer}, {head})" + (f" {what}" if what else "")
    if n_layers is not None and layer >= n_layers:
        raise ValueError(
            f"{where}: layer {layer} is out of range; valid layers are 0..{n_layers - 1}"
        )
    if n_heads is not None and head >= n_heads:
        raise ValueError(
            f"{where}: head {head} is out of range; valid {heads} are 0..{n_heads - 1}"
        )
