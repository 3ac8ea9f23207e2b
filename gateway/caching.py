"""The one bounded LRU every cache of the gateway uses.

Plain and synchronous: the gateway runs on one event loop and a cache miss never
awaits, so two misses for one key cannot overlap and no lock or future is needed.
Entries are values (results, or the payload of an error to raise afresh), never
exception instances: a raised exception keeps its traceback, and through it the
frames and the request that raised it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["LRU"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``maxsize`` entries; the least recently used one goes first.

    ``maxsize=0`` stores nothing (every ``get`` misses).
    """

    __slots__ = ("_entries", "hits", "maxsize", "misses")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = max(0, maxsize)
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        """The entry for ``key`` (now the most recently used), or ``None``."""
        try:
            value = self._entries[key]
        except KeyError:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: K, value: V) -> None:
        if not self.maxsize:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def clear(self) -> None:
        self._entries.clear()
