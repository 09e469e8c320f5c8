"""Built-in caches: ``memory`` (an LRU with TTL, in this process), ``sqlite`` (a file
shared by the processes of one machine, see :mod:`.sqlite_cache`) and ``none``.

Shared rules of the built-ins (also what :class:`modelbus.testing.contracts_cache.
CacheContract` checks): ``ttl_s`` is seconds, ``None`` means the cache's default and
``0`` or less means "do not store" (an existing value under the key is removed, since a
newer ``set`` must not leave an older value behind). An entry is expired from the
instant ``set time + ttl_s`` on. ``delete``, ``invalidate_tags`` and ``clear`` return how
many *live* entries they removed (an expired entry counts as absent). ``hits``/``misses``
count ``get`` calls, ``sets`` count stored values, ``evictions`` count entries removed
to respect ``max_entries``/``max_bytes`` (not expirations, not deletions).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import attrs

from ..hookspecs import hookimpl
from ..protocols import CacheStats

__all__ = ["MemoryCache", "MemoryCacheSettings", "NoCache", "check_entry"]


def check_entry(key: str, value: bytes, ttl_s: float | None, tags: Sequence[str]) -> None:
    """Raise ``TypeError`` naming the argument when a ``set`` gets the wrong types: a key
    that is not ``str``, a value that is not ``bytes``, a ``ttl_s`` that is not a number,
    or ``tags`` given as one ``str`` (which would be read as one tag per character)."""
    if type(key) is not str:
        raise TypeError(f"cache key must be str, got {type(key).__name__}")
    if not isinstance(value, bytes):
        raise TypeError(
            f"cache value must be bytes (JSON from the converter), got {type(value).__name__}"
        )
    if ttl_s is not None and (isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float))):
        raise TypeError(f"ttl_s must be a number of seconds or None, got {ttl_s!r}")
    if isinstance(tags, (str, bytes)):
        raise TypeError(f"tags must be a sequence of str, not a single {type(tags).__name__}")
    for t in tags:
        if type(t) is not str:
            raise TypeError(f"each cache tag must be str, got {t!r}")


@attrs.frozen
class MemoryCacheSettings:
    """``[caches.memory]``: at most ``max_entries`` values and ``max_bytes`` bytes of
    values (the least recently used — set or read — is evicted first; a value larger than
    ``max_bytes`` is not stored); ``ttl_s``: default time to live in seconds (``None``:
    no expiry)."""

    max_entries: int = attrs.field(default=10_000, validator=attrs.validators.gt(0))
    max_bytes: int = attrs.field(default=256 * 1024 * 1024, validator=attrs.validators.gt(0))
    ttl_s: float | None = None


class _Entry:
    __slots__ = ("expires", "tags", "value")

    def __init__(self, value: bytes, expires: float | None, tags: tuple[str, ...]) -> None:
        self.value = value
        self.expires = expires
        self.tags = tags


class MemoryCache:
    """A thread-safe LRU with per-entry TTL and tags, in this process.

    ``clock`` returns seconds (default ``time.monotonic``); tests inject a fake one. Every
    method holds one lock for a few dict operations and never blocks otherwise, so the
    async methods run inline on the event loop (no worker thread) and threads and asyncio
    tasks can share one instance.
    """

    def __init__(
        self,
        settings: MemoryCacheSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or MemoryCacheSettings()
        self._clock = clock
        self._lock = threading.Lock()
        self._data: OrderedDict[str, _Entry] = OrderedDict()  # oldest use first
        self._tags: dict[str, set[str]] = {}
        self._stats = CacheStats()
        self._bytes = 0

    def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or ``None`` (absent or expired)."""
        with self._lock:
            e = self._data.get(key)
            if e is None:
                self._stats.misses += 1
                return None
            if e.expires is not None and e.expires <= self._clock():
                self._remove(key)
                self._stats.misses += 1
                return None
            self._data.move_to_end(key)
            self._stats.hits += 1
            return e.value

    def set(
        self, key: str, value: bytes, ttl_s: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds (see the module doc)."""
        check_entry(key, value, ttl_s, tags)
        ttl = self.settings.ttl_s if ttl_s is None else ttl_s
        with self._lock:
            if key in self._data:
                self._remove(key)
            if (ttl is not None and ttl <= 0) or len(value) > self.settings.max_bytes:
                return
            expires = None if ttl is None else self._clock() + ttl
            tag_tuple = tuple(dict.fromkeys(tags))
            self._data[key] = _Entry(value, expires, tag_tuple)
            self._bytes += len(value)
            for t in tag_tuple:
                self._tags.setdefault(t, set()).add(key)
            self._stats.sets += 1
            limits = self.settings
            while len(self._data) > limits.max_entries or self._bytes > limits.max_bytes:
                self._remove(next(iter(self._data)))
                self._stats.evictions += 1

    def _remove(self, key: str) -> None:
        e = self._data.pop(key)
        self._bytes -= len(e.value)
        for t in e.tags:
            keys = self._tags.get(t)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[t]

    def _live(self, e: _Entry, now: float) -> bool:
        return e.expires is None or e.expires > now

    def delete(self, key: str) -> bool:
        """Remove ``key``; returns whether a live entry was there."""
        with self._lock:
            e = self._data.get(key)
            if e is None:
                return False
            self._remove(key)
            return self._live(e, self._clock())

    def invalidate_tags(self, tags: Sequence[str]) -> int:
        """Remove every entry carrying any of ``tags``; returns how many were live."""
        if isinstance(tags, (str, bytes)):
            raise TypeError(f"tags must be a sequence of str, not a single {type(tags).__name__}")
        with self._lock:
            keys: set[str] = set()
            for t in tags:
                keys |= self._tags.get(t, set())
            now = self._clock()
            live = 0
            for k in keys:
                live += self._live(self._data[k], now)
                self._remove(k)
            return live

    def clear(self) -> int:
        """Remove every entry; returns how many were live. Counters are kept."""
        with self._lock:
            now = self._clock()
            live = sum(1 for e in self._data.values() if self._live(e, now))
            self._data.clear()
            self._tags.clear()
            self._bytes = 0
            return live

    def _purge_expired(self) -> None:
        now = self._clock()
        for k in [k for k, e in self._data.items() if not self._live(e, now)]:
            self._remove(k)

    def stats(self) -> CacheStats:
        """Counters since this cache was created; ``entries``/``bytes`` are the live ones."""
        with self._lock:
            self._purge_expired()
            return attrs.evolve(self._stats, bytes=self._bytes, entries=len(self._data))

    # The async side: nothing here blocks, so it runs inline.
    async def aget(self, key: str) -> bytes | None:
        return self.get(key)

    async def aset(
        self, key: str, value: bytes, ttl_s: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        self.set(key, value, ttl_s, tags)

    async def adelete(self, key: str) -> bool:
        return self.delete(key)

    async def ainvalidate_tags(self, tags: Sequence[str]) -> int:
        return self.invalidate_tags(tags)

    async def aclear(self) -> int:
        return self.clear()

    async def astats(self) -> CacheStats:
        return self.stats()


class NoCache:
    """``cache = "none"``: the client skips caching altogether (no key is even computed);
    this object exists so the name is listed and usable where a Cache object is needed."""

    blocking = False

    def get(self, key: str) -> bytes | None:
        return None

    def set(
        self, key: str, value: bytes, ttl_s: float | None = None, tags: Sequence[str] = ()
    ) -> None:
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
    from .sqlite_cache import SqliteCache, SqliteCacheSettings

    register(
        "memory",
        MemoryCache,
        settings=MemoryCacheSettings,
        description="In-process LRU with TTL and tags",
    )
    register(
        "sqlite",
        SqliteCache,
        settings=SqliteCacheSettings,
        description="SQLite file (WAL) shared by the processes of one machine; TTL and tags",
    )
    register("none", NoCache, description="No caching")
