"""Built-in caches: ``memory`` (an LRU with TTL, in this process) and ``none``."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import attrs

from ..hookspecs import hookimpl
from ..protocols import CacheStats

__all__ = ["MemoryCache", "MemoryCacheSettings", "NoCache"]


@attrs.frozen
class MemoryCacheSettings:
    """``[caches.memory]``: at most ``max_entries`` values and ``max_bytes`` bytes of
    values (least recently used evicted first); ``ttl_s``: default time to live in seconds
    (``None``: no expiry)."""

    max_entries: int = attrs.field(default=10_000, validator=attrs.validators.gt(0))
    max_bytes: int = attrs.field(default=256 * 1024 * 1024, validator=attrs.validators.gt(0))
    ttl_s: float | None = None


class MemoryCache:
    """A thread-safe LRU with per-entry TTL and tags. ``clock`` is seconds (monotonic);
    tests inject a fake one. Safe for asyncio tasks too: no method awaits or blocks."""

    def __init__(self, settings: MemoryCacheSettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or MemoryCacheSettings()
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (value, expires_at or None, tags)
        self._data: OrderedDict[str, tuple[bytes, float | None, tuple[str, ...]]] = OrderedDict()
        self._tags: dict[str, set[str]] = {}
        self._stats = CacheStats()
        self._bytes = 0

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self._stats.misses += 1
                return None
            if item[1] is not None and item[1] <= self._clock():
                self._remove(key)
                self._stats.misses += 1
                return None
            self._data.move_to_end(key)
            self._stats.hits += 1
            return item[0]

    def set(self, key: str, value: bytes, ttl_s: float | None = None,
            tags: Sequence[str] = ()) -> None:
        ttl = self.settings.ttl_s if ttl_s is None else ttl_s
        with self._lock:
            if key in self._data:
                self._remove(key)
            if ttl is not None and ttl <= 0:
                return
            if len(value) > self.settings.max_bytes:
                return
            expires = None if ttl is None else self._clock() + ttl
            self._data[key] = (value, expires, tuple(tags))
            self._bytes += len(value)
            for t in tags:
                self._tags.setdefault(t, set()).add(key)
            self._stats.sets += 1
            while (len(self._data) > self.settings.max_entries
                   or self._bytes > self.settings.max_bytes):
                oldest = next(iter(self._data))
                self._remove(oldest)
                self._stats.evictions += 1

    def _remove(self, key: str) -> None:
        value, _, tags = self._data.pop(key)
        self._bytes -= len(value)
        for t in tags:
            keys = self._tags.get(t)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[t]

    def delete(self, key: str) -> bool:
        with self._lock:
            if key not in self._data:
                return False
            self._remove(key)
            return True

    def invalidate_tags(self, tags: Sequence[str]) -> int:
        with self._lock:
            keys = set().union(*(self._tags.get(t, set()) for t in tags)) if tags else set()
            for k in keys:
                self._remove(k)
            return len(keys)

    def clear(self) -> int:
        with self._lock:
            n = len(self._data)
            self._data.clear()
            self._tags.clear()
            self._bytes = 0
            return n

    def stats(self) -> CacheStats:
        with self._lock:
            s = attrs.evolve(self._stats, bytes=self._bytes, entries=len(self._data))
        return s


class NoCache:
    """``cache = "none"``: the client skips caching altogether (no key is even computed);
    this object exists so the name is listed and usable where a Cache object is needed."""

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes, ttl_s: float | None = None,
            tags: Sequence[str] = ()) -> None:
        return None

    def delete(self, key: str) -> bool:
        return False

    def invalidate_tags(self, tags: Sequence[str]) -> int:
        return 0

    def clear(self) -> int:
        return 0

    def stats(self) -> CacheStats:
        return CacheStats()


@hookimpl
def modelbus_register_caches(register: Callable[..., None]) -> None:
    register("memory", MemoryCache, settings=MemoryCacheSettings,
             description="In-process LRU with TTL and tags")
    register("none", NoCache, description="No caching")

