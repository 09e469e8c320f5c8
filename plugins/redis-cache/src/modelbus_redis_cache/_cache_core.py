"""The machinery under :class:`RedisCache`: guarded Redis calls, the in-memory fallback,
local counters, and the replay of outage-time deletions.

Every Redis call goes through :meth:`_CacheCore._run` (or ``_arun``):

- circuit breaker open → the fallback answers, Redis is not touched;
- a connection error or timeout → the breaker opens, ``redis_unavailable`` is logged
  once for the outage, the fallback answers;
- any other Redis error (``WRONGTYPE``, ``OOM``, a script error...), or no free
  connection in the pool after ``pool_timeout_s`` (the pool waits first: a busy pool is
  local concurrency, not an outage) → logged as ``redis_cache_error``, counted in
  ``errors``, the call acts as a miss / no-op;
- the breaker's probe succeeded → deletions, invalidations and clears made during the
  outage are replayed on Redis (so an ``invalidate_tags`` while Redis was away still
  removes what Redis held), the fallback is emptied, the breaker closes.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import redis

from modelbus.builtins.caches import MemoryCache, MemoryCacheSettings

from . import _scripts
from ._breaker import FALLBACK, PROBE
from ._component import RedisComponent
from ._link import OUTAGE_ERRORS, POOL_FULL
from ._settings import RedisCacheSettings

__all__ = ["BATCH", "COUNTERS", "Pending"]

T = TypeVar("T")
COUNTERS = ("hits", "misses", "sets", "errors")
BATCH = 500
_MAX_PENDING = 10_000

Pending = tuple[bool, set[str], set[str]]  # (clear, deleted keys, invalidated tags)


class _CacheCore(RedisComponent):
    settings: RedisCacheSettings

    def __init__(
        self,
        settings: RedisCacheSettings | None,
        clock: Callable[[], float],
        breaker_clock: Callable[[], float],
    ) -> None:
        s = settings or RedisCacheSettings()
        self._connect(s, component="cache", keys="", clock=breaker_clock)
        self._v = self.prefix + "v:"
        self._stats_key = self.prefix + "stats"
        self.clock = clock
        self.fallback = MemoryCache(
            MemoryCacheSettings(max_entries=s.fallback_max_entries, ttl_s=s.ttl_s),
            clock=clock,
        )
        self._lock = threading.Lock()
        self._local_counts = dict.fromkeys(COUNTERS, 0)  # not yet added to the Redis hash
        self._next_flush = time.monotonic() + s.stats_flush_s
        self._pending: Pending = (False, set(), set())

    # --- values and keys -----------------------------------------------------------------
    def _keys(self, key: str) -> tuple[str, str]:
        return self._v + key, self.prefix + "kt:" + key

    def _expiry(self, ttl_s: float | None) -> tuple[str, int] | None:
        """``(expires_at, gc_ttl_ms)`` for a value stored now (``("", 0)``: never
        expires), or None: do not store."""
        ttl = self.settings.ttl_s if ttl_s is None else ttl_s
        if ttl is None:
            return "", 0
        if ttl <= 0:
            return None
        return repr(self.clock() + ttl), math.ceil((ttl + _scripts.GC_SLACK_S) * 1000)

    def _now(self) -> str:
        return repr(self.clock())

    def _is_live(self, fields: list[bytes | None]) -> bool:
        value, expires = fields
        return value is not None and (expires is None or float(expires) > self.clock())

    # --- counters ------------------------------------------------------------------------
    def _count(self, name: str) -> bool:
        """Count one event locally; True when the counters are due to be flushed."""
        with self._lock:
            self._local_counts[name] += 1
        return time.monotonic() >= self._next_flush

    def _take_counts(self) -> dict[str, int]:
        with self._lock:
            counts = {k: v for k, v in self._local_counts.items() if v}
            self._local_counts = dict.fromkeys(COUNTERS, 0)
            self._next_flush = time.monotonic() + self.settings.stats_flush_s
        return counts

    def _give_back(self, counts: dict[str, int]) -> None:
        with self._lock:
            for k, v in counts.items():
                self._local_counts[k] += v

    def _failed(self, exc: BaseException, op: str) -> None:
        with self._lock:
            self._local_counts["errors"] += 1
        self._link.warn("redis_cache_error", exc, op=op)

    # --- outage-time deletions -----------------------------------------------------------
    def _remember(
        self, *, keys: Sequence[str] = (), tags: Sequence[str] = (), clear: bool = False
    ) -> None:
        with self._lock:
            was_clear, pk, pt = self._pending
            if clear or was_clear or len(pk) + len(pt) + len(keys) + len(tags) > _MAX_PENDING:
                # Past the bound, forgetting all Redis holds is the safe replay.
                self._pending = (True, set(), set())
                return
            pk.update(keys)
            pt.update(tags)

    def _take_pending(self) -> Pending:
        with self._lock:
            p, self._pending = self._pending, (False, set(), set())
        return p

    def _put_back(self, p: Pending) -> None:
        self._remember(keys=tuple(p[1]), tags=tuple(p[2]), clear=p[0])

    # --- guarded calls -------------------------------------------------------------------
    def _run(self, op: Callable[[], T], fallback: Callable[[], T], failed: T, what: str) -> T:
        mode = self.breaker.enter()
        if mode == FALLBACK or (mode == PROBE and not self._recover()):
            return fallback()
        try:
            return op()
        except POOL_FULL as exc:  # our pool stayed busy, Redis is fine: not an outage
            self._failed(exc, what)
            return failed
        except OUTAGE_ERRORS as exc:
            self._link.outage(exc, "memory")
            return fallback()
        except redis.RedisError as exc:
            self._failed(exc, what)
            return failed

    async def _arun(
        self, op: Callable[[], Awaitable[T]], fallback: Callable[[], T], failed: T, what: str
    ) -> T:
        mode = self.breaker.enter()
        if mode == FALLBACK or (mode == PROBE and not await self._arecover()):
            return fallback()
        try:
            return await op()
        except POOL_FULL as exc:
            self._failed(exc, what)
            return failed
        except OUTAGE_ERRORS as exc:
            self._link.outage(exc, "memory")
            return fallback()
        except redis.RedisError as exc:
            self._failed(exc, what)
            return failed

    def _recover(self) -> bool:
        """The probe: PING, replay the outage's deletions, close the breaker; all before
        the caller's own command, so it never reads what the outage invalidated. False
        (breaker open again) when Redis is still away."""
        pending = self._take_pending()
        try:
            self._link.sync.ping()
            self._replay(pending)
        except POOL_FULL:  # an inconclusive probe: stay open another interval
            self._put_back(pending)
            self.breaker.failure()
            return False
        except OUTAGE_ERRORS as exc:
            self._put_back(pending)
            self._link.outage(exc, "memory")
            return False
        except redis.RedisError as exc:
            self._failed(exc, "replay")
        self.fallback.clear()
        self._link.recovered()
        return True

    async def _arecover(self) -> bool:
        pending = self._take_pending()
        try:
            await self._link.aclient().ping()
            await self._areplay(pending)
        except POOL_FULL:  # an inconclusive probe: stay open another interval
            self._put_back(pending)
            self.breaker.failure()
            return False
        except OUTAGE_ERRORS as exc:
            self._put_back(pending)
            self._link.outage(exc, "memory")
            return False
        except redis.RedisError as exc:
            self._failed(exc, "replay")
        self.fallback.clear()
        self._link.recovered()
        return True

    # --- Redis-side operations, raising redis-py's errors --------------------------------
    def _replay(self, p: Pending) -> None:
        clear, keys, tags = p
        if clear:
            self._clear_redis()
            return
        for k in keys:
            self._delete_redis(k)
        if tags:
            self._invalidate_redis(sorted(tags))

    async def _areplay(self, p: Pending) -> None:
        clear, keys, tags = p
        if clear:
            await self._aclear_redis()
            return
        for k in keys:
            await self._adelete_redis(k)
        if tags:
            await self._ainvalidate_redis(sorted(tags))

    def _delete_redis(self, key: str) -> bool:
        vkey, ktkey = self._keys(key)
        return bool(
            self._link.script(_scripts.DELETE)(
                keys=[vkey, ktkey], args=[self.prefix, key, self._now()]
            )
        )

    async def _adelete_redis(self, key: str) -> bool:
        vkey, ktkey = self._keys(key)
        return bool(
            await self._link.ascript(_scripts.DELETE)(
                keys=[vkey, ktkey], args=[self.prefix, key, self._now()]
            )
        )

    def _invalidate_redis(self, tags: Sequence[str]) -> int:
        n = 0
        for i in range(0, len(tags), BATCH):
            chunk = tags[i : i + BATCH]
            n += int(
                self._link.script(_scripts.INVALIDATE)(
                    keys=[self.prefix + "t:" + t for t in chunk],
                    args=[self.prefix, self._now(), *chunk],
                )
            )
        return n

    async def _ainvalidate_redis(self, tags: Sequence[str]) -> int:
        n = 0
        for i in range(0, len(tags), BATCH):
            chunk = tags[i : i + BATCH]
            n += int(
                await self._link.ascript(_scripts.INVALIDATE)(
                    keys=[self.prefix + "t:" + t for t in chunk],
                    args=[self.prefix, self._now(), *chunk],
                )
            )
        return n

    def _split(self, names: list[bytes]) -> tuple[list[bytes], list[bytes]]:
        """SCAN results of the namespace → (value keys, tag/key-tag keys); locks, stats
        and rate-limit buckets are neither."""
        v = self._v.encode()
        plen = len(self.prefix)
        values = [n for n in names if n.startswith(v)]
        others = [n for n in names if n[plen:].split(b":", 1)[0] in (b"kt", b"t")]
        return values, others

    def _clear_redis(self) -> int:
        client = self._link.sync
        removed, batch = 0, []
        for name in client.scan_iter(match=self.prefix + "*", count=1000):
            batch.append(name)
            if len(batch) >= BATCH:
                removed += self._clear_batch(batch)
                batch = []
        return removed + (self._clear_batch(batch) if batch else 0)

    def _clear_batch(self, names: list[bytes]) -> int:
        values, others = self._split(names)
        if others:
            self._link.sync.unlink(*others)
        if not values:
            return 0
        return int(self._link.script(_scripts.CLEAR_BATCH)(keys=values, args=[self._now()]))

    async def _aclear_redis(self) -> int:
        client = self._link.aclient()
        removed, batch = 0, []
        async for name in client.scan_iter(match=self.prefix + "*", count=1000):
            batch.append(name)
            if len(batch) >= BATCH:
                removed += await self._aclear_batch(batch)
                batch = []
        return removed + (await self._aclear_batch(batch) if batch else 0)

    async def _aclear_batch(self, names: list[bytes]) -> int:
        values, others = self._split(names)
        if others:
            await self._link.aclient().unlink(*others)
        if not values:
            return 0
        return int(await self._link.ascript(_scripts.CLEAR_BATCH)(keys=values, args=[self._now()]))
