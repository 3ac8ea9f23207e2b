"""The one bounded LRU every cache of the gateway uses: by entries and by bytes.

Plain and synchronous: the gateway runs on one event loop and a cache miss never
awaits, so two misses for one key cannot overlap and no lock or future is needed
(a cache shared with threads guards it with its own lock).
Entries are values (results, or the payload of an error to raise afresh), never
exception instances: a raised exception keeps its traceback, and through it the
frames and the request that raised it.

Each entry is put with its estimated size in bytes (the caller knows what it
holds); the cache keeps the sum under ``max_bytes`` and does not store an entry
larger than ``max_entry_bytes`` (an eighth of the budget by default), so one huge
document can neither evict everything nor pin a large share of memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["DEFAULT_CACHE_BYTES", "LRU"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_CACHE_BYTES = 32 * 1024 * 1024
"""The default byte budget of the document cache and of the plan cache."""


class LRU(Generic[K, V]):
    """At most ``maxsize`` entries and ``max_bytes`` bytes (as estimated by the
    callers of ``put``); the least recently used entries go first.

    ``maxsize=0`` or ``max_bytes=0`` stores nothing (every ``get`` misses).
    """

    __slots__ = (
        "_entries",
        "bytes",
        "hits",
        "max_bytes",
        "max_entry_bytes",
        "maxsize",
        "misses",
        "skipped",
    )

    def __init__(
        self,
        maxsize: int,
        max_bytes: int = DEFAULT_CACHE_BYTES,
        *,
        max_entry_bytes: int | None = None,
    ) -> None:
        self.maxsize = max(0, maxsize)
        self.max_bytes = max(0, max_bytes)
        self.max_entry_bytes = (
            self.max_bytes // 8 if max_entry_bytes is None else max_entry_bytes
        )
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.bytes = 0
        """The estimated size of every entry held, in bytes."""
        self.hits = 0
        self.misses = 0
        self.skipped = 0
        """Entries not stored because they were larger than ``max_entry_bytes``."""

    def get(self, key: K) -> V | None:
        """The entry for ``key`` (now the most recently used), or ``None``."""
        try:
            value, _ = self._entries[key]
        except KeyError:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: K, value: V, nbytes: int = 0) -> None:
        """Store ``value`` (estimated at ``nbytes``) unless it is too large."""
        if not self.maxsize or not self.max_bytes:
            return
        if nbytes > self.max_entry_bytes:
            self.skipped += 1
            self.discard(key)
            return
        self.discard(key)
        self._entries[key] = (value, nbytes)
        self.bytes += nbytes
        while len(self._entries) > self.maxsize or self.bytes > self.max_bytes:
            _, (_, size) = self._entries.popitem(last=False)
            self.bytes -= size

    def discard(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0
