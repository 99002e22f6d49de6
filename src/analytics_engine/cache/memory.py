"""The in-process cache (the default): a bounded LRU with a time to live per entry, thread-safe.

Bounded twice, by entries and by total value bytes; the least recently used entries leave first.
Expired entries are dropped when read; otherwise they age out of the LRU end. A lookup costs one
lock, one dict access and one `move_to_end`: microseconds.

Answers keyed by a tenant's data version (`cache_key(..., data_version=...)`) are indexed by it: when
the version is retired (new events, cache/versions.py) they go at once, and one computed from the old
version that arrives after is not stored. Without that, every insert left the answers read before it
in memory until the LRU pushed them out: thousands of dead entries under a steady stream of events.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from analytics_engine.cache.base import key_data_version
from analytics_engine.cache.metrics import CACHE_LOOKUPS

# Retired versions remembered per tenant, to refuse answers computed from them that arrive late (a
# computation outlives a few inserts at most; an older one still stored ages out of the LRU).
_RETIRED_KEPT = 8
_HIT = CACHE_LOOKUPS.labels("memory", "hit")
_MISS = CACHE_LOOKUPS.labels("memory", "miss")


class InProcessCache:
    name = "memory"
    retires_answers = True

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        # (tenant id, data version) -> keys computed at it; tenant id -> its last retired versions
        self._by_version: dict[tuple[str, str], set[str]] = {}
        self._retired: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                _MISS.inc()
                return None
            expires, value = entry
            if expires <= self._clock():
                self._drop(key)
                self.misses += 1
                _MISS.inc()
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            _HIT.inc()
            return value

    def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError("cache values are bytes")
        value = bytes(value)
        if len(value) > self.max_bytes:
            return  # larger than the whole cache: not worth evicting everything for
        expires = self._clock() + max(1, int(ttl_seconds))
        version = key_data_version(key)
        with self._lock:
            if version is not None and version[1] in self._retired.get(version[0], ()):
                return  # computed from data since superseded: no read will ask for it
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (expires, value)
            self._bytes += len(value)
            if version is not None:
                self._by_version.setdefault(version, set()).add(key)
            self._evict()

    def delete_prefix(self, prefix: str) -> int:
        with self._lock:
            doomed = [key for key in self._entries if key.startswith(prefix)]
            for key in doomed:
                self._drop(key)
            return len(doomed)

    def retire_data_version(self, tenant_id: str, old: str) -> int:
        with self._lock:
            self._retired[tenant_id] = (old, *self._retired.get(tenant_id, ())[: _RETIRED_KEPT - 1])
            doomed = self._by_version.pop((tenant_id, old), set())
            for key in doomed:
                self._drop(key)
            return len(doomed)

    def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_version.clear()
            self._retired.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    # --- under the lock ------------------------------------------------------------------------
    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self._bytes -= len(value)
        version = key_data_version(key)
        if version is not None:
            keys = self._by_version.get(version)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_version[version]

    def _evict(self) -> None:
        # Least recently used first, expired or not: O(1) per eviction (expired entries that are
        # never read again age out of the LRU end like any other).
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)
