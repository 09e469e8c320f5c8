"""The ``redis`` rate limiter: rpm/tpm budgets shared by every process of a namespace.

The algorithm is the core ``local`` limiter's token bucket, run atomically in a Lua
script on Redis (``_scripts.RATE_LIMIT``): per key, a request bucket holding ``rpm`` and
a token bucket holding ``tpm``, both refilling continuously at ``limit / 60`` per second,
which is how OpenAI describes its limits. A caller *reserves* (takes its request and
tokens at once, possibly into debt) and then sleeps, with the client's ``clock.sleep``,
for as long as the debt takes to refill: callers queue in arrival order across
processes and each pays one round trip, however long it waits.

Why a token bucket and not a window: a fixed window lets 2x the budget through around a
window boundary (the end of one minute and the start of the next), which is what
provider-side limiters reject; a sliding *log* is exact but stores one entry per request
(and per token for tpm) — a bucket is two numbers per key and is the same "sliding"
budget smoothed. The clock is Redis's ``TIME``: processes on different machines would
not agree on their own clocks (and monotonic clocks are per process).

Nothing local ever means "allow". Many concurrent callers wait for a connection of the
blocking pool (``pool_timeout_s``, then again): a busy pool is this process's own
concurrency, not an outage. A real outage (connection refused or reset, a timeout, a
failed AUTH; the circuit breaker then re-probes every ``probe_interval_s``) and a
failed script on a working server switch to an in-process token bucket at the same
limits that starts *empty* — Redis's budget may be spent, so the outage must not open a
burst — and ``redis_unavailable`` is logged once per outage (``fallback="local"``). Each
process then holds the rate on its own: N processes send at most N times the limit
together. Failing closed (refusing every call while Redis is away) was the alternative;
an outage of the limiter's store would then be an outage of the application.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelbus.builtins.ratelimit import LocalRateLimiter

from . import _scripts
from ._breaker import FALLBACK, PROBE
from ._component import FAILED, RedisComponent
from ._link import OUTAGE_ERRORS, POOL_FULL
from ._settings import RedisRateLimiterSettings

if TYPE_CHECKING:
    from modelbus import Clock
    from modelbus.plugin import RateLimit

__all__ = ["RedisRateLimiter"]


class RedisRateLimiter(RedisComponent):
    """A :class:`modelbus.protocols.RateLimiter` whose state lives in Redis (see the
    module doc). ``clock`` drives only the circuit breaker; waiting uses the ``Clock``
    each call gets, and so does the in-process fallback bucket."""

    settings: RedisRateLimiterSettings

    def __init__(
        self,
        settings: RedisRateLimiterSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect(
            settings or RedisRateLimiterSettings(),
            component="rate_limiter",
            keys="rl:",
            clock=clock,
        )
        self.fallback = LocalRateLimiter(start_full=False)

    @staticmethod
    def _args(tokens: int, limit: RateLimit) -> list[float | int]:
        return [limit.rpm or 0, limit.tpm or 0, max(0, int(tokens))]

    def _local(self, key: str, tokens: int, limit: RateLimit, now: float | None) -> float:
        return self.fallback.reserve(key, tokens, limit, time.monotonic() if now is None else now)

    def _outcome(
        self, key: str, mode: int, exc: BaseException | None, wait_us: Any
    ) -> float | None:
        """The wait in seconds after one attempt on Redis (``exc``: what it raised, if
        anything); ``None``: ask the in-process bucket instead."""
        if exc is None:
            if mode == PROBE:
                self.fallback = LocalRateLimiter(start_full=False)  # the next outage: empty
                self._link.recovered()
            return max(0, int(wait_us)) / 1e6
        if isinstance(exc, OUTAGE_ERRORS):
            self._link.outage(exc, "local")
        else:  # a failed script on a working server: enforce locally, never allow
            self._link.warn("redis_rate_limit_error", exc, key=key, fallback="local")
        return None

    def _pool_busy(self, key: str, mode: int, exc: BaseException) -> None:
        if mode == PROBE:  # an inconclusive probe: keep the breaker open another interval
            self.breaker.failure()
        self._link.warn("redis_pool_busy", exc, key=key)

    def reserve(self, key: str, tokens: int, limit: RateLimit, now: float | None = None) -> float:
        """Take one request and ``tokens`` from ``key``'s shared buckets; return the
        seconds to wait before sending. ``now`` (monotonic seconds, default
        ``time.monotonic()``) is used only by the in-process bucket of an outage."""
        if not (limit.rpm or limit.tpm):
            return 0.0
        while True:
            mode = self.breaker.enter()
            if mode == FALLBACK:
                return self._local(key, tokens, limit, now)
            exc: BaseException | None = None
            wait_us: Any = 0
            try:
                wait_us = self._link.script(_scripts.RATE_LIMIT)(
                    keys=[self.prefix + key], args=self._args(tokens, limit)
                )
            except POOL_FULL as e:
                self._pool_busy(key, mode, e)
                continue
            except FAILED as e:
                exc = e
            wait = self._outcome(key, mode, exc, wait_us)
            return self._local(key, tokens, limit, now) if wait is None else wait

    async def areserve(
        self, key: str, tokens: int, limit: RateLimit, now: float | None = None
    ) -> float:
        """The async twin of :meth:`reserve` (this event loop's connection pool)."""
        if not (limit.rpm or limit.tpm):
            return 0.0
        while True:
            mode = self.breaker.enter()
            if mode == FALLBACK:
                return self._local(key, tokens, limit, now)
            exc: BaseException | None = None
            wait_us: Any = 0
            try:
                wait_us = await self._link.ascript(_scripts.RATE_LIMIT)(
                    keys=[self.prefix + key], args=self._args(tokens, limit)
                )
            except POOL_FULL as e:
                self._pool_busy(key, mode, e)
                continue
            except FAILED as e:
                exc = e
            wait = self._outcome(key, mode, exc, wait_us)
            return self._local(key, tokens, limit, now) if wait is None else wait

    def acquire(self, key: str, tokens: int, limit: RateLimit, clock: Clock) -> float:
        """Block (``clock.sleep``) until one request and ``tokens`` fit ``key``'s budget
        ``limit`` (rpm/tpm); returns the seconds waited."""
        wait = self.reserve(key, tokens, limit, clock.monotonic())
        if wait > 0:
            clock.sleep(wait)
        return wait

    async def aacquire(self, key: str, tokens: int, limit: RateLimit, clock: Clock) -> float:
        """The async twin of :meth:`acquire` (awaits ``clock.asleep``)."""
        wait = await self.areserve(key, tokens, limit, clock.monotonic())
        if wait > 0:
            await clock.asleep(wait)
        return wait

    def reset(self, key: str) -> None:
        """Forget ``key``'s buckets (they start full again). Raises redis-py's errors:
        an administrative call, not on the request path."""
        self._link.sync.delete(self.prefix + key)

    def close(self) -> None:
        self._link.close()

    async def aclose(self) -> None:
        await self._link.aclose()
