"""The built-in ``local`` rate limiter: token buckets in this process.

Each key (``"provider"`` or ``"provider/model"``) has two buckets, one for requests
(``rpm``) and one for tokens (``tpm``). A bucket holds at most one minute's allowance,
starts full and refills continuously at ``limit / 60`` per second, the way OpenAI
describes its own limits (requests and tokens per minute, replenished continuously).

A caller *reserves* before waiting: it takes its request and tokens at once, possibly
driving a bucket below zero, and then sleeps until the refill covers the debt. Later
callers therefore queue behind earlier ones in arrival order, across threads and tasks,
and nobody waits longer than the debt in front of it requires.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs

from .._config.config import RateLimit
from .._retry.runner import Clock
from ..hookspecs import hookimpl

__all__ = ["LocalRateLimiter"]


@attrs.define
class _Bucket:
    requests: float
    tokens: float
    at: float


class LocalRateLimiter:
    """In-process token buckets per key (see the module doc). Thread-safe; the async side
    awaits ``clock.asleep`` and never blocks the event loop.

    ``start_full=False`` makes a key's buckets start empty rather than full (no burst
    before the first minute's refill): for a limiter taking over from another one whose
    budget may already be spent, such as the ``redis`` limiter during an outage."""

    def __init__(self, *, start_full: bool = True) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._start_full = start_full

    def reserve(self, key: str, tokens: int, limit: RateLimit, now: float) -> float:
        """Take one request and ``tokens`` from ``key``'s buckets at time ``now`` (seconds)
        and return how long to wait, in seconds, before sending."""
        rpm = limit.rpm or 0.0
        tpm = limit.tpm or 0.0
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                full = self._start_full
                b = self._buckets[key] = _Bucket(rpm if full else 0.0, tpm if full else 0.0, now)
            elapsed = max(0.0, now - b.at)
            b.at = max(b.at, now)
            wait = 0.0
            if rpm > 0:
                b.requests = min(rpm, b.requests + elapsed * rpm / 60.0) - 1.0
                if b.requests < 0:
                    wait = max(wait, -b.requests * 60.0 / rpm)
            if tpm > 0:
                b.tokens = min(tpm, b.tokens + elapsed * tpm / 60.0) - max(0, tokens)
                if b.tokens < 0:
                    wait = max(wait, -b.tokens * 60.0 / tpm)
            return wait

    def acquire(self, key: str, tokens: int, limit: RateLimit, clock: Clock) -> float:
        wait = self.reserve(key, tokens, limit, clock.monotonic())
        if wait > 0:
            clock.sleep(wait)
        return wait

    async def aacquire(self, key: str, tokens: int, limit: RateLimit, clock: Clock) -> float:
        wait = self.reserve(key, tokens, limit, clock.monotonic())
        if wait > 0:
            await clock.asleep(wait)
        return wait


@hookimpl
def modelbus_register_rate_limiters(register: Callable[..., None]) -> None:
    register(
        "local",
        LocalRateLimiter,
        description="Token buckets (rpm/tpm) in this process",
    )
