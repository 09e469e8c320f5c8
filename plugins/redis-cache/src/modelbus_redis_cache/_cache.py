"""The ``redis`` cache: values shared by every process of a namespace, with an in-memory
fallback while Redis is unreachable (see ``_cache_core`` for the error handling and
``_scripts`` for the key layout)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, cast

import attrs
import redis

from modelbus import CacheStats

from . import _flight, _scripts
from ._breaker import FALLBACK, PROBE
from ._cache_core import BATCH, _CacheCore
from ._link import OUTAGE_ERRORS, POOL_FULL
from ._settings import RedisCacheSettings

__all__ = ["RedisCache"]

_Arg = bytes | str | int | float


def _check_entry(key: str, value: bytes, ttl_s: float | None, tags: Sequence[str]) -> None:
    """``TypeError`` naming the argument of a ``set`` with the wrong types (the same rules
    as the core caches: ``str`` key, ``bytes`` value, a number or None TTL, str tags)."""
    if type(key) is not str:
        raise TypeError(f"cache key must be str, got {type(key).__name__}")
    if not isinstance(value, bytes):
        raise TypeError(
            f"cache value must be bytes (JSON from the converter), got {type(value).__name__}"
        )
    if ttl_s is not None and (isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float))):
        raise TypeError(f"ttl_s must be a number of seconds or None, got {ttl_s!r}")
    for t in _check_tags(tags):
        if type(t) is not str:
            raise TypeError(f"each cache tag must be str, got {t!r}")


def _check_tags(tags: Sequence[str]) -> list[str]:
    if isinstance(tags, (str, bytes)):
        raise TypeError(f"tags must be a sequence of str, not a single {type(tags).__name__}")
    return list(dict.fromkeys(tags))


class RedisCache(_CacheCore):
    """A :class:`modelbus.protocols.Cache` on Redis, sync and async, shared by every
    process using the same URL and namespace.

    ``settings``: :class:`RedisCacheSettings`. ``clock``: the time values expire by, in
    seconds — wall-clock time (``time.time``) by default, since processes on several
    machines must agree on it; tests inject a fake one. ``breaker_clock``: monotonic
    seconds for the circuit breaker's probe interval.

    Never raises a Redis error (module doc of ``_cache_core``); raises ``TypeError`` for
    arguments of the wrong type. Thread-safe; the async methods use one ``redis.asyncio``
    pool per event loop. Also implements :class:`modelbus.protocols.LockingCache`
    (``lock``/``wait_for``/``alock``/``await_for``): cross-process single-flight."""

    def __init__(
        self,
        settings: RedisCacheSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        breaker_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings, clock, breaker_clock)

    @property
    def url(self) -> str:
        """The Redis URL with its password masked."""
        return self._link.redacted_url

    # --- get -----------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The live value stored under ``key``, or ``None``."""
        mode = self.breaker.enter()
        if mode == FALLBACK or (mode == PROBE and not self._recover()):
            return self.fallback.get(key)
        try:
            fields = self._link.hmget(self._v + key, "v", "e")
        except OUTAGE_ERRORS as exc:
            self._link.outage(exc, "memory")
            return self.fallback.get(key)
        except redis.RedisError as exc:  # WRONGTYPE: not ours; a miss, and drop it
            fields = [None, None]
            self._failed(exc, "get")
            self._run(lambda: self._delete_redis(key), lambda: False, False, "delete")
        value = fields[0] if self._is_live(fields) else None
        if self._count("misses" if value is None else "hits"):
            self.flush_stats()
        return value

    async def aget(self, key: str) -> bytes | None:
        """The async twin of :meth:`get`."""
        mode = self.breaker.enter()
        if mode == FALLBACK or (mode == PROBE and not await self._arecover()):
            return self.fallback.get(key)
        try:
            fields = cast(
                "list[bytes | None]", await self._link.aclient().hmget(self._v + key, ["v", "e"])
            )
        except POOL_FULL as exc:  # this loop's pool is busy, Redis is fine: a miss
            fields = [None, None]
            self._failed(exc, "get")
        except OUTAGE_ERRORS as exc:
            self._link.outage(exc, "memory")
            return self.fallback.get(key)
        except redis.RedisError as exc:
            fields = [None, None]
            self._failed(exc, "get")
            await self._arun(lambda: self._adelete_redis(key), lambda: False, False, "delete")
        value = fields[0] if self._is_live(fields) else None
        if self._count("misses" if value is None else "hits"):
            await self.aflush_stats()
        return value

    # --- set -----------------------------------------------------------------------------
    def _set_args(
        self, key: str, value: bytes, ttl_s: float | None, tags: Sequence[str]
    ) -> tuple[list[str], list[_Arg]] | None:
        _check_entry(key, value, ttl_s, tags)
        exp = self._expiry(ttl_s)
        if exp is None:
            return None
        vkey, ktkey = self._keys(key)
        return [vkey, ktkey, self._stats_key], [self.prefix, key, value, *exp, *dict.fromkeys(tags)]

    def set(
        self, key: str, value: bytes, ttl_s: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        """Store ``value`` for ``ttl_s`` seconds (``None``: ``settings.ttl_s``; ``0`` or
        less: do not store, and drop any old value), tagged ``tags``."""
        a = self._set_args(key, value, ttl_s, tags)
        if a is None:
            self.delete(key)
            return
        self._run(
            lambda: self._link.script(_scripts.SET)(keys=a[0], args=a[1]),
            lambda: self.fallback.set(key, value, ttl_s, tags),
            None,
            "set",
        )

    async def aset(
        self, key: str, value: bytes, ttl_s: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        """The async twin of :meth:`set`."""
        a = self._set_args(key, value, ttl_s, tags)
        if a is None:
            await self.adelete(key)
            return

        async def op() -> None:
            await self._link.ascript(_scripts.SET)(keys=a[0], args=a[1])

        await self._arun(op, lambda: self.fallback.set(key, value, ttl_s, tags), None, "set")

    # --- delete, invalidate_tags, clear --------------------------------------------------
    def _fallback_delete(self, key: str) -> bool:
        self._remember(keys=[key])
        return self.fallback.delete(key)

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if a live value was there."""
        return self._run(
            lambda: self._delete_redis(key), lambda: self._fallback_delete(key), False, "delete"
        )

    async def adelete(self, key: str) -> bool:
        """The async twin of :meth:`delete`."""
        return await self._arun(
            lambda: self._adelete_redis(key), lambda: self._fallback_delete(key), False, "delete"
        )

    def _fallback_invalidate(self, tags: list[str]) -> int:
        self._remember(tags=tags)
        return self.fallback.invalidate_tags(tags)

    def invalidate_tags(self, tags: Sequence[str]) -> int:
        """Remove every value stored with any of ``tags``; returns how many were live."""
        unique = _check_tags(tags)
        if not unique:
            return 0
        return self._run(
            lambda: self._invalidate_redis(unique),
            lambda: self._fallback_invalidate(unique),
            0,
            "invalidate_tags",
        )

    async def ainvalidate_tags(self, tags: Sequence[str]) -> int:
        """The async twin of :meth:`invalidate_tags`."""
        unique = _check_tags(tags)
        if not unique:
            return 0
        return await self._arun(
            lambda: self._ainvalidate_redis(unique),
            lambda: self._fallback_invalidate(unique),
            0,
            "invalidate_tags",
        )

    def _fallback_clear(self) -> int:
        self._remember(clear=True)
        return self.fallback.clear()

    def clear(self) -> int:
        """Remove every value of this namespace — SCAN + UNLINK over ``modelbus:{NS}:``,
        never FLUSHDB — and return how many were live. The stats counters, locks and
        rate-limit buckets of the namespace stay."""
        self.fallback.clear()
        return self._run(self._clear_redis, self._fallback_clear, 0, "clear")

    async def aclear(self) -> int:
        """The async twin of :meth:`clear`."""
        self.fallback.clear()
        return await self._arun(self._aclear_redis, self._fallback_clear, 0, "clear")

    # --- stats ---------------------------------------------------------------------------
    def flush_stats(self) -> None:
        """Add this process's hit/miss/error counts to the shared Redis hash now."""
        counts = self._take_counts()
        if not counts:
            return

        def op() -> None:
            pipe = self._link.sync.pipeline(transaction=False)
            for k, n in counts.items():
                pipe.hincrby(self._stats_key, k, n)
            pipe.execute()

        self._run(op, lambda: self._give_back(counts), None, "flush_stats")

    async def aflush_stats(self) -> None:
        """The async twin of :meth:`flush_stats`."""
        counts = self._take_counts()
        if not counts:
            return

        async def op() -> None:
            pipe = self._link.aclient().pipeline(transaction=False)
            for k, n in counts.items():
                pipe.hincrby(self._stats_key, k, n)
            await pipe.execute()

        await self._arun(op, lambda: self._give_back(counts), None, "flush_stats")

    def _stats_of(self, raw: dict[Any, Any], sizes: list[Any]) -> CacheStats:
        counts = {k.decode(): int(v) for k, v in raw.items()}
        with self._lock:  # counted since the flush, not yet in Redis
            for k, n in self._local_counts.items():
                counts[k] = counts.get(k, 0) + n
        return CacheStats(
            hits=counts.get("hits", 0),
            misses=counts.get("misses", 0),
            sets=counts.get("sets", 0),
            errors=counts.get("errors", 0),
            entries=sum(int(n) for n, _ in sizes),
            bytes=sum(int(b) for _, b in sizes),
        )

    def _redis_stats(self) -> CacheStats:
        self.flush_stats()
        client = self._link.sync
        batch_stats = self._link.script(_scripts.STATS_BATCH)
        sizes, batch = [], []
        for name in client.scan_iter(match=self._v + "*", count=1000):
            batch.append(name)
            if len(batch) >= BATCH:
                sizes.append(batch_stats(keys=batch, args=[self._now()]))
                batch = []
        if batch:
            sizes.append(batch_stats(keys=batch, args=[self._now()]))
        return self._stats_of(client.hgetall(self._stats_key), sizes)

    async def _aredis_stats(self) -> CacheStats:
        await self.aflush_stats()
        client = self._link.aclient()
        batch_stats = self._link.ascript(_scripts.STATS_BATCH)
        sizes, batch = [], []
        async for name in client.scan_iter(match=self._v + "*", count=1000):
            batch.append(name)
            if len(batch) >= BATCH:
                sizes.append(await batch_stats(keys=batch, args=[self._now()]))
                batch = []
        if batch:
            sizes.append(await batch_stats(keys=batch, args=[self._now()]))
        return self._stats_of(await client.hgetall(self._stats_key), sizes)

    def _fallback_stats(self) -> CacheStats:
        s = self.fallback.stats()
        with self._lock:
            return attrs.evolve(s, errors=s.errors + self._local_counts["errors"])

    def stats(self) -> CacheStats:
        """The namespace's counters, shared by every process: ``hits``/``misses`` of
        other processes arrive within their ``stats_flush_s``, ``sets`` at once;
        ``entries``/``bytes`` are the live values, counted by SCAN (O(values)).
        ``evictions`` stays 0: Redis evicts (maxmemory) without telling whose keys.
        While Redis is unreachable: the in-memory fallback's."""
        return self._run(self._redis_stats, self._fallback_stats, CacheStats(), "stats")

    async def astats(self) -> CacheStats:
        """The async twin of :meth:`stats`."""
        return await self._arun(self._aredis_stats, self._fallback_stats, CacheStats(), "stats")

    # --- cross-process single-flight (modelbus.protocols.LockingCache) -------------------
    def lock(self, key: str, ttl_s: float | None = None) -> AbstractContextManager[bool]:
        """Yields True when this caller should call the provider for ``key`` (it holds
        the lock for ``ttl_s`` seconds, default ``settings.lock_ttl_s``; or Redis is
        down), False when another caller holds it or a live value is already stored:
        then :meth:`wait_for` it. Never raises for Redis errors."""
        return _flight.lock(self, key, ttl_s)

    def wait_for(self, key: str, timeout_s: float | None = None) -> bytes | None:
        """Wait up to ``timeout_s`` seconds (default ``settings.lock_wait_s``) for the
        value of ``key``; ``None`` when it did not come (timed out, the holder released
        without storing, or Redis is down)."""
        return _flight.wait_for(self, key, timeout_s)

    def alock(self, key: str, ttl_s: float | None = None) -> AbstractAsyncContextManager[bool]:
        """The async twin of :meth:`lock`."""
        return _flight.alock(self, key, ttl_s)

    async def await_for(self, key: str, timeout_s: float | None = None) -> bytes | None:
        """The async twin of :meth:`wait_for`."""
        return await _flight.await_for(self, key, timeout_s)

    # --- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Flush the stats counters and close the connections."""
        self.flush_stats()
        self._link.close()

    async def aclose(self) -> None:
        """Flush the stats counters and close the connections, with this event loop's."""
        await self.aflush_stats()
        await self._link.aclose()
