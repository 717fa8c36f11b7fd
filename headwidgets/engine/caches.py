"""The engine's one bounded cache: least recently used entries go first.

Every cache of a bound model (tokenizations, token ids, clean head outputs, q/k/v, compiled
spec lists, compiled attention edits, captured CUDA graphs) is an :class:`LRU` of a fixed size,
so a long live session keeps a flat memory whatever it runs (``tests/test_soak.py``).
``hm.caches`` names them.

Example
-------
>>> cache = LRU(2)
>>> cache.put("a", 1); cache.put("b", 2)
>>> cache.get("a")                 # "a" is now the most recently used
1
>>> cache.put("c", 3)              # over the bound: "b", the least recently used, goes
>>> list(cache), len(cache)
(['a', 'c'], 2)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A mapping of at most ``size`` entries; reading or writing one makes it the newest."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a cache holds at least one entry, got size={size}")
        self.size = int(size)
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value under ``key`` (now the most recently used), or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` under ``key``; the least recently used entries past the bound go."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def values(self) -> list[V]:
        """The values, least recently used first."""
        return list(self._items.values())

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"LRU({len(self)}/{self.size})"
