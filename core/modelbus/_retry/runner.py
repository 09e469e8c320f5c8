"""Running a call under a retry policy, with injected clock and sleep.

The policy decides (``RetryPolicy.next_delay``); this module only loops, sleeps what it
is told and records every attempt. It is the one retry layer: provider SDKs run with
``max_retries=0``.

Order of the checks after a failed attempt:

1. not retryable (:func:`is_retryable`) → the error itself, at once (a note lists
   earlier attempts), so a 400 is never hidden inside a :class:`RetryError`;
2. the server asks to wait longer than the policy's ``max_retry_after_s`` (default
   120 s) → :class:`RateLimitError` carrying ``retry_after_s`` at once;
3. the policy stops (attempts, deadline), or the next attempt would start at or past
   the call's ``deadline_s`` (:class:`~modelbus._engine.timeouts.CallLimits`) →
   :class:`RetryError` listing every attempt (or the error itself after a single attempt);
4. the retry quota refuses (:class:`RetryQuota`) → the same as 3, with a message that
   says so ("not retried: retry quota exhausted (capacity 500, ...)").

A success gives the quota back what the request's last retry took (see
:class:`RetryQuota`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import attrs

from ..errors import APITimeoutError, Attempt, ProviderError, RateLimitError, RetryError
from ..protocols import RetryPolicy

if TYPE_CHECKING:
    from .._engine.timeouts import CallLimits

T = TypeVar("T")

__all__ = [
    "DEFAULT_MAX_RETRY_AFTER_S",
    "NO_ARG",
    "Clock",
    "RetryQuota",
    "RetryTicket",
    "aretry_call",
    "is_retryable",
    "retry_call",
]

DEFAULT_MAX_RETRY_AFTER_S = 120.0

#: ``retry_call``'s ``arg`` when none is given: each attempt calls ``fn()``.
NO_ARG: Any = object()


@attrs.frozen
class Clock:
    """Injected time: ``monotonic()`` in seconds, ``sleep(s)`` and ``asleep(s)``, and
    ``wall()``, seconds since the epoch (UTC), for calendar windows such as a daily budget.

    Tests pass a fake (``modelbus.testing.FakeClock``) so nothing sleeps for real."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    asleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    wall: Callable[[], float] = time.time


def is_retryable(error: BaseException) -> bool:
    """Whether retrying ``error`` can succeed.

    ``x-should-retry`` (``error.should_retry``) overrides everything, as in openai-python;
    otherwise 408, 409, 429 (not ``insufficient_quota``: more attempts cannot add credit),
    >= 500, timeouts and connection errors are retryable and every other status (400, 401,
    403, 404, 422, content filter, context length) is not.
    """
    if isinstance(error, ProviderError):
        if error.should_retry is not None:
            return error.should_retry
        if error.code == "insufficient_quota":
            return False
        return error.retryable
    return isinstance(error, (TimeoutError, ConnectionError))


class RetryQuota:
    """The AWS SDKs' "standard" retry quota: a token bucket of retry capacity, per client
    and provider, that lets every retry through while most calls succeed and stops a
    retry storm when they do not.

    Source: AWS SDKs and Tools Reference Guide, "Retry behavior", ``retry_mode =
    standard`` ("support for retry quotas"), whose numbers are those of every AWS SDK's
    standard mode, e.g. botocore ``botocore/retries/standard.py`` (``RetryQuotaChecker``)
    and ``botocore/retries/quota.py`` (``RetryQuota``), aws-sdk-js-v3
    ``middleware-retry/src/defaultRetryQuota.ts``:

    - the bucket starts full at ``capacity`` tokens (500) and never holds more;
    - a retry takes ``retry_cost`` tokens (5), ``timeout_retry_cost`` (10) after a
      timeout (:class:`~modelbus.errors.APITimeoutError`, ``TimeoutError``) and
      ``throttling_retry_cost`` after a 429 (:class:`~modelbus.errors.RateLimitError`;
      default 5, the same as any retry, as in the SDKs' standard mode until 2026; the
      2026 revision of standard mode makes it 5 and other retries 14);
    - a retry that would need more tokens than are left is not made: the request fails
      with its last error, saying so;
    - a request that succeeds gives back what its last retry took, or
      ``no_retry_increment`` tokens (1) when it succeeded at once. Failed requests give
      nothing back.

    So a retry that ends in a success costs nothing and every success adds a token: at a
    10 % transient fault rate (about 0.11 retries per request, most of them succeeding)
    the bucket stays full and every retry the policy wants is made, for as long as the
    client lives. When everything fails, ``capacity / retry_cost`` retries (100) are
    made and then each call gets one attempt until successes refill the bucket.

    Thread-safe (one lock, never held across I/O or an ``await``, so asyncio tasks share
    it too). The retry runner takes the quota as ``budget`` and keeps each request's
    view (:meth:`ticket`), made at the request's first failure: most requests never
    fail, and they only add the no-retry increment.
    """

    def __init__(
        self,
        capacity: int = 500,
        *,
        retry_cost: int = 5,
        timeout_retry_cost: int = 10,
        throttling_retry_cost: int | None = None,
        no_retry_increment: int = 1,
    ) -> None:
        costs = (capacity, retry_cost, timeout_retry_cost, no_retry_increment)
        if min(costs) < 0 or (throttling_retry_cost is not None and throttling_retry_cost < 0):
            raise ValueError("retry quota capacity and costs must be >= 0")
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.timeout_retry_cost = timeout_retry_cost
        self.throttling_retry_cost = (
            retry_cost if throttling_retry_cost is None else throttling_retry_cost
        )
        self.no_retry_increment = no_retry_increment
        self._available = capacity
        self._lock = threading.Lock()

    @property
    def available(self) -> int:
        """Tokens left in the bucket."""
        return self._available

    def cost(self, error: BaseException) -> int:
        """The tokens a retry after ``error`` takes."""
        if isinstance(error, (APITimeoutError, TimeoutError)):
            return self.timeout_retry_cost
        if isinstance(error, RateLimitError):
            return self.throttling_retry_cost
        return self.retry_cost

    def acquire(self, amount: int) -> bool:
        """Take ``amount`` tokens; ``False`` (and nothing taken) when fewer are left."""
        with self._lock:
            if amount > self._available:
                return False
            self._available -= amount
            return True

    def release(self, amount: int) -> None:
        """Give ``amount`` tokens back (the bucket never exceeds ``capacity``)."""
        with self._lock:
            self._available = min(self.capacity, self._available + amount)

    def ticket(self) -> RetryTicket:
        """A new request's view of the quota (one per request, never shared)."""
        return RetryTicket(self)

    def succeeded(self, ticket: RetryTicket | None) -> None:
        """A request succeeded: its ``ticket`` (``None``: it never failed) gives back
        what its last retry took, else the no-retry increment."""
        if ticket is None:
            # A full bucket stays full: no lock to take on almost every success. (Read
            # without the lock: skipping is the same as releasing just before whoever
            # takes tokens next, when the bucket was full.)
            if self._available < self.capacity:
                self.release(self.no_retry_increment)
        else:
            ticket.succeeded()


class RetryTicket:
    """One request's use of a :class:`RetryQuota`: remembers what its last retry took so
    that a success gives exactly that back (AWS standard mode), else the no-retry
    increment. Made by :func:`retry_call` / :func:`aretry_call` at a request's first
    failure."""

    __slots__ = ("_last", "quota")

    def __init__(self, quota: RetryQuota) -> None:
        self.quota = quota
        self._last: int | None = None

    def acquire(self, error: BaseException) -> bool:
        """Take the cost of a retry after ``error``; ``False`` when the quota refuses."""
        amount = self.quota.cost(error)
        if not self.quota.acquire(amount):
            return False
        self._last = amount
        return True

    def succeeded(self) -> None:
        """The request succeeded: refund its last retry, or add the no-retry increment."""
        q = self.quota
        q.release(q.no_retry_increment if self._last is None else self._last)

    def refusal(self, error: BaseException) -> str:
        """Why a retry after ``error`` was not made, with the quota's numbers."""
        q = self.quota
        return (
            f"not retried: retry quota exhausted (capacity {q.capacity}, "
            f"{q.available} left, this retry costs {q.cost(error)}; AWS SDK standard "
            "retry mode, see [modelbus.retry_budget])"
        )


def _attempt(error: BaseException, delay: float) -> Attempt:
    status = getattr(error, "status_code", None)
    return Attempt(error, type(error).__name__, status, delay)


def retry_call(
    fn: Callable[..., T],
    policy: RetryPolicy,
    *,
    clock: Clock = Clock(),
    on_retry: Callable[[Attempt, int], None] | None = None,
    budget: RetryQuota | None = None,
    limits: CallLimits | None = None,
    arg: Any = NO_ARG,
) -> tuple[T, int]:
    """Call ``fn`` until it succeeds or ``policy`` stops; returns ``(result, attempts)``.

    ``on_retry(attempt, n)`` is called before each sleep; ``budget`` (the provider's
    :class:`RetryQuota`) pays for each retry and is refunded on success; each attempt
    runs under ``limits`` (its :class:`~modelbus._engine.timeouts.AttemptLimits` in context,
    for the provider to honour). Each attempt calls ``fn(arg)`` when ``arg`` is given,
    else ``fn()`` (the engine passes the request so: no ``functools.partial`` per call).
    Raises what the module doc lists."""
    start = clock.monotonic()
    # The failures' records and the request's quota ticket are made at its first
    # failure: most requests succeed at once and need neither.
    attempts: list[Attempt] | None = None
    previous: float | None = None
    ticket: RetryTicket | None = None
    n = 0
    while True:
        n += 1
        try:
            if limits is None or limits.adds_nothing():
                result = fn() if arg is NO_ARG else fn(arg)
            else:
                with limits.attempt(clock.monotonic() - start):
                    result = fn() if arg is NO_ARG else fn(arg)
        except Exception as exc:
            if attempts is None:
                attempts = []
                ticket = None if budget is None else budget.ticket()
            delay = _decide(policy, n, exc, clock.monotonic() - start, previous, ticket, attempts)
            _check_deadline(limits, clock.monotonic() - start + delay, exc, attempts, n)
            attempts.append(_attempt(exc, delay))
            if on_retry is not None:
                on_retry(attempts[-1], n)
            clock.sleep(delay)
            previous = delay
            continue
        if budget is not None:
            budget.succeeded(ticket)
        return result, n


async def aretry_call(
    fn: Callable[..., Awaitable[T]],
    policy: RetryPolicy,
    *,
    clock: Clock = Clock(),
    on_retry: Callable[[Attempt, int], None] | None = None,
    budget: RetryQuota | None = None,
    limits: CallLimits | None = None,
    arg: Any = NO_ARG,
    failed: tuple[Exception, float] | None = None,
) -> tuple[T, int]:
    """The async twin of :func:`retry_call` (sleeps with ``clock.asleep``); an attempt
    still running when its time under ``limits`` is up is cancelled and fails with
    :class:`~modelbus.errors.APITimeoutError`.

    ``failed``: ``(error, start)`` when the caller made the first attempt itself (at
    ``clock.monotonic()`` ``start``, with ``limits`` adding nothing) and it raised
    ``error``; the runner takes it as its own first attempt and goes on from there. (The
    engine's uncached calls await the provider directly, so that a call answered at once
    keeps no runner alive while in flight; it then tells ``budget`` itself.)"""
    start = clock.monotonic() if failed is None else failed[1]
    # The failures' records and the request's quota ticket are made at its first
    # failure: most requests succeed at once and need neither.
    attempts: list[Attempt] | None = None
    previous: float | None = None
    ticket: RetryTicket | None = None
    n = 0
    while True:
        n += 1
        try:
            if failed is not None:  # the caller's own first attempt
                first, failed = failed[0], None
                raise first
            if limits is None or limits.adds_nothing():
                result = await (fn() if arg is NO_ARG else fn(arg))
            else:
                async with limits.aattempt(clock.monotonic() - start):
                    result = await (fn() if arg is NO_ARG else fn(arg))
        except Exception as exc:
            if attempts is None:
                attempts = []
                ticket = None if budget is None else budget.ticket()
            delay = _decide(policy, n, exc, clock.monotonic() - start, previous, ticket, attempts)
            _check_deadline(limits, clock.monotonic() - start + delay, exc, attempts, n)
            attempts.append(_attempt(exc, delay))
            if on_retry is not None:
                on_retry(attempts[-1], n)
            await clock.asleep(delay)
            previous = delay
            continue
        if budget is not None:
            budget.succeeded(ticket)
        return result, n


def max_retry_after(policy: RetryPolicy) -> float:
    """The policy's ``max_retry_after_s`` attribute, else 120 seconds."""
    cap = getattr(policy, "max_retry_after_s", None)
    return DEFAULT_MAX_RETRY_AFTER_S if cap is None else float(cap)


def _decide(
    policy: RetryPolicy,
    n: int,
    exc: Exception,
    elapsed: float,
    previous: float | None,
    ticket: RetryTicket | None,
    attempts: list[Attempt],
) -> float:
    """The delay before attempt ``n + 1``; raises the final error when there is none."""
    if not is_retryable(exc):
        if attempts:
            exc.add_note(
                f"not retryable; {len(attempts)} earlier attempt(s) failed: "
                + ", ".join(a.error_type for a in attempts)
            )
        raise exc
    hint = getattr(exc, "retry_after_s", None)
    cap = max_retry_after(policy)
    if hint is not None and hint > cap:
        raise _too_long(exc, hint, cap, attempts)
    delay = policy.next_delay(n, exc, elapsed, previous)
    if delay is None:
        _raise_final(exc, attempts, n, "the retry policy stopped")
    if ticket is not None and not ticket.acquire(exc):
        _raise_final(exc, attempts, n, ticket.refusal(exc))
    return max(0.0, delay)


def _check_deadline(
    limits: CallLimits | None, at: float, exc: Exception, attempts: list[Attempt], n: int
) -> None:
    """Stop when the next attempt would start (after its delay) at ``at`` seconds into
    the call, at or past ``deadline_s``: it would have no time left. Policies without a
    deadline of their own are bounded this way too."""
    if limits is None or limits.deadline_s is None or at < limits.deadline_s:
        return
    _raise_final(exc, attempts, n, f"deadline_s={limits.deadline_s:g}s reached")


def _too_long(exc: Exception, hint: float, cap: float, attempts: list[Attempt]) -> Exception:
    note = f"the server asked to retry after {hint:g}s, above max_retry_after_s={cap:g}s"
    if attempts:
        note += f"; {len(attempts)} earlier attempt(s) failed"
    if isinstance(exc, RateLimitError):
        exc.add_note(note)
        return exc
    p = exc if isinstance(exc, ProviderError) else None
    err = RateLimitError(
        note,
        provider=p.provider if p else None,
        status_code=p.status_code if p else None,
        request_id=p.request_id if p else None,
        retry_after_s=hint,
        body=p.body if p else None,
        code=p.code if p else None,
    )
    err.__cause__ = exc
    return err


def _raise_final(exc: Exception, attempts: list[Attempt], n: int, why: str) -> NoReturn:
    if not attempts:
        # A retryable error raised unretried: its hint must not claim a retry was made.
        reason = why if why.startswith("not retried") else f"not retried: {why}"
        if isinstance(exc, ProviderError):
            exc.hint = f"{reason}; {exc.hint}"
        exc.add_note(reason)
        raise exc
    attempts.append(_attempt(exc, 0.0))
    raise RetryError(f"gave up after {n} attempts ({why})", attempts) from exc
