"""Heads: the (layer, head) pair, how it is written, read and checked (see ``vocab``)."""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

# ======================================================================================
# Heads
# ======================================================================================

#: how a head may be written, for error messages
HEAD_FORMS = '(3, 0), [3, 0], "3.0", "L3H0", "L3.H0" or "L3 H0"'

# one head in a string: "L3H0", "L3.H0", "L3 H0" (any case) or "3.0"; nothing else
_HEAD_TEXT = re.compile(r"[Ll]\s*(\d+)\s*\.?\s*[Hh]\s*(\d+)|(\d+)\.(\d+)")
_SEPARATORS = re.compile(r"[\s,;]*")


class Head(NamedTuple):
    """One attention head: ``(layer, head)``, both counted from 0.

    A plain tuple (``layer, head = h`` and ``(3, 0) == Head(3, 0)`` work); ``str()`` gives the
    label shown everywhere, ``"L3 H0"``.

    Example
    -------
    >>> h = Head(3, 0)
    >>> h == (3, 0), h.layer, str(h)
    (True, 3, 'L3 H0')
    """

    layer: int
    head: int

    def __str__(self) -> str:
        return head_label(self.layer, self.head)

    @property
    def label(self) -> str:
        """``"L3 H0"``: the head's label (:func:`head_label`)."""
        return head_label(self.layer, self.head)


def head_label(layer: int, head: int) -> str:
    """The one way a head is shown: ``"L3 H0"`` (widgets, captions, legends, messages).

    Example
    -------
    >>> head_label(3, 0)
    'L3 H0'
    """
    return f"L{int(layer)} H{int(head)}"


def _index(value: Any) -> int:
    """An int index from an int, a numpy/torch integer or an integral float (JSON numbers)."""
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"not an integer: {value!r}")
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise TypeError(f"not an integer: {value!r}")
    return operator.index(value)


def parse_head(value: Any, what: str = "head") -> Head:
    """Read one head from any accepted form; raise ValueError saying which forms are valid.

    Accepted: a :class:`Head`, a pair of ints (``(3, 0)``, ``[3, 0]``, numpy ints, integral
    floats), or a string ``"3.0"``, ``"L3H0"``, ``"L3.H0"``, ``"L3 H0"`` (any case, spaces
    around the parts allowed). Negative indices are refused.

    Example
    -------
    >>> parse_head("L3.H0")
    Head(layer=3, head=0)
    >>> parse_head("3")
    Traceback (most recent call last):
    ...
    ValueError: cannot read head '3': write a head as (3, 0), [3, 0], "3.0", "L3H0", "L3.H0" or "L3 H0"
    """  # noqa: E501
    if isinstance(value, Head):
        return value
    if isinstance(value, str):
        match = _HEAD_TEXT.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"cannot read {what} {value!r}: write a head as {HEAD_FORMS}")
        groups = [g for g in match.groups() if g is not None]
        return Head(int(groups[0]), int(groups[1]))
    try:
        layer, head = value
        pair = Head(_index(layer), _index(head))
    except (TypeError, ValueError):
        raise ValueError(
            f"a {what} is a (layer, head) pair of ints, got {value!r}; write a head as {HEAD_FORMS}"
        ) from None
    return pair


def parse_heads(values: str | Iterable[Any], what: str = "head") -> list[Head]:
    """Read several heads: an iterable of heads, or one string such as ``"1.2, L0H3 L2 H1"``.

    In a string, heads are separated by commas, semicolons or spaces. Order and duplicates are
    kept (:func:`check_heads` drops duplicates).

    Example
    -------
    >>> parse_heads("1.2,0.3")
    [Head(layer=1, head=2), Head(layer=0, head=3)]
    >>> parse_heads("L1 H2 L0H3")
    [Head(layer=1, head=2), Head(layer=0, head=3)]
    >>> parse_heads([(1, 2), "0.3"])
    [Head(layer=1, head=2), Head(layer=0, head=3)]
    """
    if isinstance(values, str):
        heads: list[Head] = []
        end = 0
        for match in _HEAD_TEXT.finditer(values):
            gap = values[end : match.start()]
            if not _SEPARATORS.fullmatch(gap) or (heads and not gap):
                break
            groups = [g for g in match.groups() if g is not None]
            heads.append(Head(int(groups[0]), int(groups[1])))
            end = match.end()
        rest = values[end:]
        if not _SEPARATORS.fullmatch(rest) or (not heads and values.strip()):
            bad = (rest if heads else values).strip(" ,;")
            raise ValueError(
                f"cannot read {what} {bad.split(',')[0].strip()!r} in {values!r}: write heads as "
                '"3.0", "L3H0", "L3.H0" or "L3 H0", separated by commas or spaces'
            )
        return heads
    if isinstance(values, Mapping) or not isinstance(values, Iterable):
        raise ValueError(f"heads are a list of {what}s ({HEAD_FORMS}), got {values!r}")
    return [parse_head(value, what) for value in values]


def _span(values: Sequence[int]) -> str:
    """``'0..3'`` for a contiguous range, else the list."""
    items = [int(v) for v in values]
    if items and items == list(range(items[0], items[0] + len(items))):
        return f"{items[0]}..{items[-1]}"
    return str(items)


def check_head(
    value: Any,
    layers: int | Sequence[int],
    heads: int | Sequence[int],
    what: str = "head",
    *,
    missing: str = "does not exist",
) -> Head:
    """:func:`parse_head`, then check the head exists; the error names the valid range.

    ``layers`` and ``heads`` are counts (a model's ``n_layers``, ``n_heads``) or the valid
    labels (a cube's coordinates). ``missing`` words the error: ``"does not exist"`` (a label
    a cube does not have) or ``"is out of range"`` (an index past a model's size).

    Example
    -------
    >>> check_head("1.2", 2, 4)
    Head(layer=1, head=2)
    >>> check_head((5, 0), range(2), range(4))
    Traceback (most recent call last):
    ...
    ValueError: unknown head (5, 0): layer 5 does not exist; valid layers are 0..1
    """
    pair = parse_head(value, what)
    valid_layers = range(layers) if isinstance(layers, int) else layers
    valid_heads = range(heads) if isinstance(heads, int) else heads
    if pair.layer not in valid_layers:
        raise ValueError(
            f"unknown head ({pair.layer}, {pair.head}): layer {pair.layer} {missing}; "
            f"valid layers are {_span(valid_layers)}"
        )
    if pair.head not in valid_heads:
        raise ValueError(
            f"unknown head ({pair.layer}, {pair.head}): head {pair.head} {missing}; "
            f"valid heads are {_span(valid_heads)}"
        )
    return pair


def check_pair(
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
    ``"key/value heads"``); ``what`` names the edit (``"in a k edit"``). Every edit spec checks
    its head with it (type and sign when it is built, the range when it is compiled for a
    model), so every edit says the same thing in the same words.

    Example
    -------
    >>> check_pair(1, 7, n_layers=2, n_heads=4)
    Traceback (most recent call last):
    ...
    ValueError: unknown head (1, 7): head 7 is out of range; valid heads are 0..3
    >>> check_pair(0, 2, n_layers=2, n_heads=2, heads="key/value heads", what="in a k edit")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown head (0, 2) in a k edit: ...; valid key/value heads are 0..1
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


def check_heads(
    values: str | Iterable[Any],
    layers: int | Sequence[int],
    heads: int | Sequence[int],
    what: str = "head",
    *,
    missing: str = "does not exist",
) -> list[Head]:
    """:func:`check_head` for each head; duplicates dropped, the first keeps its place.

    Example
    -------
    >>> check_heads([(1, 2), "L0H3", "1.2"], 2, 4)
    [Head(layer=1, head=2), Head(layer=0, head=3)]
    """
    out: list[Head] = []
    for value in parse_heads(values, what) if isinstance(values, str) else values:
        pair = check_head(value, layers, heads, what, missing=missing)
        if pair not in out:
            out.append(pair)
    return out


def head_set(heads: Any, what: str = "head") -> list[Head]:
    """The distinct heads of ``heads``, sorted: None (no heads), an ``Intervention`` (its
    ``heads``), a table with ``layer`` and ``head`` columns (``top_heads``), a string
    (:func:`parse_heads`) or an iterable of heads in any form :func:`parse_head` reads.

    Example
    -------
    >>> head_set([(1, 2), "0.3", "L1H2"])
    [Head(layer=0, head=3), Head(layer=1, head=2)]
    >>> head_set(None)
    []
    """
    if heads is None:
        return []
    if hasattr(heads, "columns"):  # a table (pandas DataFrame) of heads
        missing = {"layer", "head"} - set(heads.columns)
        if missing:
            raise ValueError(f"a head table needs columns 'layer' and 'head'; missing {missing}")
        heads = list(zip(heads["layer"], heads["head"], strict=True))
    elif hasattr(heads, "heads") and not isinstance(heads, (set, frozenset, list, tuple)):
        heads = heads.heads  # an Intervention
    try:
        return sorted(set(parse_heads(heads, what)))
    except ValueError as err:
        raise ValueError(f"heads are (layer, head) pairs: {err}") from None


def check_head_list(heads: Any, n_layers: int, n_heads: int) -> list[Head]:
    """:func:`head_set` of a model's heads, every one checked at once: the error lists all
    the heads that do not exist and the valid ranges.

    Example
    -------
    >>> check_head_list([(1, 0), (0, 9), (5, 0)], 2, 4)
    Traceback (most recent call last):
    ...
    ValueError: unknown heads [(0, 9), (5, 0)]; valid layers are 0..1, heads 0..3
    """
    pairs = head_set(heads)
    if not pairs:
        raise ValueError("heads is empty; pass (layer, head) pairs or None for every head")
    bad = [(p.layer, p.head) for p in pairs if not (p.layer < n_layers and p.head < n_heads)]
    if bad:
        raise ValueError(
            f"unknown heads {bad}; valid layers are 0..{n_layers - 1}, heads 0..{n_heads - 1}"
        )
    return pairs
