"""Running a call under a retry policy, with injected clock and sleep.

The policy decides (``RetryPolicy.next_delay``); this module only loops, sleeps what it
is told and records every attempt. It is the one retry layer: provider SDKs run with
``max_retries=0``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import attrs

from .errors import Attempt, ProviderError, RetryError
from .protocols import RetryPolicy

T = TypeVar("T")

__all__ = ["Clock", "aretry_call", "is_retryable", "retry_call"]


@attrs.frozen
class Clock:
    """Injected time: ``monotonic()`` in seconds, ``sleep(s)`` and ``asleep(s)``.

    Tests pass a fake (``modelbus.testing.FakeClock``) so nothing sleeps for real."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    asleep: Callable[[float], Awaitable[None]] = asyncio.sleep


def is_retryable(error: BaseException) -> bool:
    """Whether retrying ``error`` can succeed.

    ``x-should-retry`` (``error.should_retry``) overrides everything; otherwise 408, 409,
    429 (not ``insufficient_quota``), >= 500, timeouts and connection errors are retryable
    and every other status (400, 401, 403, 404, 422, content filter, context length) is not.
    """
    if isinstance(error, ProviderError):
        if error.should_retry is not None:
            return error.should_retry
        return error.retryable
    return isinstance(error, (TimeoutError, ConnectionError))


def _attempt(error: BaseException, delay: float) -> Attempt:
    status = getattr(error, "status_code", None)
    return Attempt(error, type(error).__name__, status, delay)


def retry_call(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    clock: Clock = Clock(),
    on_retry: Callable[[Attempt, int], None] | None = None,
    budget: Callable[[], bool] | None = None,
) -> tuple[T, int]:
    """Call ``fn`` until it succeeds or ``policy`` stops; returns ``(result, attempts)``.

    ``budget()`` is asked before each retry (a retry budget / token bucket); ``False``
    stops retrying. A non-retryable error is raised as is after one attempt; otherwise
    exhaustion raises :class:`RetryError` listing every attempt, chained to the last error.
    """
    start = clock.monotonic()
    attempts: list[Attempt] = []
    previous: float | None = None
    n = 0
    while True:
        n += 1
        try:
            return fn(), n
        except Exception as exc:
            delay = _decide(policy, n, exc, clock.monotonic() - start, previous, budget)
            if delay is None:
                _raise_final(exc, attempts, n)
            attempts.append(_attempt(exc, delay))
            if on_retry is not None:
                on_retry(attempts[-1], n)
            clock.sleep(delay)
            previous = delay


async def aretry_call(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    clock: Clock = Clock(),
    on_retry: Callable[[Attempt, int], None] | None = None,
    budget: Callable[[], bool] | None = None,
) -> tuple[T, int]:
    """The async twin of :func:`retry_call` (sleeps with ``clock.asleep``)."""
    start = clock.monotonic()
    attempts: list[Attempt] = []
    previous: float | None = None
    n = 0
    while True:
        n += 1
        try:
            return await fn(), n
        except Exception as exc:
            delay = _decide(policy, n, exc, clock.monotonic() - start, previous, budget)
            if delay is None:
                _raise_final(exc, attempts, n)
            attempts.append(_attempt(exc, delay))
            if on_retry is not None:
                on_retry(attempts[-1], n)
            await clock.asleep(delay)
            previous = delay


def _decide(
    policy: RetryPolicy,
    n: int,
    exc: BaseException,
    elapsed: float,
    previous: float | None,
    budget: Callable[[], bool] | None,
) -> float | None:
    if not is_retryable(exc):
        return None
    delay = policy.next_delay(n, exc, elapsed, previous)
    if delay is None:
        return None
    if budget is not None and not budget():
        return None
    return max(0.0, delay)


def _raise_final(exc: Exception, attempts: list[Attempt], n: int) -> NoReturn:
    if not attempts:
        raise exc
    attempts.append(_attempt(exc, 0.0))
    raise RetryError(f"gave up after {n} attempts", attempts) from exc
