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
   the call's ``deadline_s`` (:class:`~modelbus._timeouts.CallLimits`) →
   :class:`RetryError` listing every attempt (or the error itself after a single attempt);
4. the retry budget refuses (:class:`RetryBudget`) → the last error, at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import attrs

from .errors import Attempt, ProviderError, RateLimitError, RetryError
from .protocols import RetryPolicy

if TYPE_CHECKING:
    from ._timeouts import CallLimits

T = TypeVar("T")

__all__ = [
    "DEFAULT_MAX_RETRY_AFTER_S",
    "Clock",
    "RetryBudget",
    "aretry_call",
    "is_retryable",
    "retry_call",
]

DEFAULT_MAX_RETRY_AFTER_S = 120.0


@attrs.frozen
class Clock:
    """Injected time: ``monotonic()`` in seconds, ``sleep(s)`` and ``asleep(s)``.

    Tests pass a fake (``modelbus.testing.FakeClock``) so nothing sleeps for real."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    asleep: Callable[[float], Awaitable[None]] = asyncio.sleep


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


class RetryBudget:
    """A token bucket capping retries to a share of requests, per provider.

    Modelled on gRPC retry throttling (gRPC proposal A6 "Client Retries", section
    "Retry Throttling": ``maxTokens`` / ``tokenRatio``), but counting retries rather than
    failures so the bound is plain: every request adds ``token_ratio`` tokens (default
    0.1), every retry takes one, and a retry without a whole token is refused. The bucket
    starts full and holds at most ``max_tokens`` (default 10), so over any run
    ``retries <= max_tokens + token_ratio * requests``: during an outage each call gets
    one attempt once the floor is spent, instead of a retry storm. Thread-safe.
    """

    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        if max_tokens < 0 or token_ratio < 0:
            raise ValueError("max_tokens and token_ratio must be >= 0")
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self._tokens = max_tokens
        self._lock = threading.Lock()

    @property
    def tokens(self) -> float:
        """Tokens left (each allows one retry)."""
        return self._tokens

    def on_request(self) -> None:
        """Count one new request (not a retry)."""
        with self._lock:
            self._tokens = min(self.max_tokens, self._tokens + self.token_ratio)

    def try_retry(self) -> bool:
        """Take a token for one retry; ``False`` (and nothing taken) when none is left."""
        with self._lock:
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


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
    limits: CallLimits | None = None,
) -> tuple[T, int]:
    """Call ``fn`` until it succeeds or ``policy`` stops; returns ``(result, attempts)``.

    ``on_retry(attempt, n)`` is called before each sleep; ``budget()`` is asked before
    each retry (see :class:`RetryBudget`); each attempt runs under ``limits``
    (its :class:`~modelbus._timeouts.AttemptLimits` in context, for the provider to
    honour). Raises what the module doc lists."""
    start = clock.monotonic()
    attempts: list[Attempt] = []
    previous: float | None = None
    n = 0
    while True:
        n += 1
        try:
            if limits is None:
                return fn(), n
            with limits.attempt(clock.monotonic() - start):
                return fn(), n
        except Exception as exc:
            delay = _decide(policy, n, exc, clock.monotonic() - start, previous, budget, attempts)
            _check_deadline(limits, clock.monotonic() - start + delay, exc, attempts, n)
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
    limits: CallLimits | None = None,
) -> tuple[T, int]:
    """The async twin of :func:`retry_call` (sleeps with ``clock.asleep``); an attempt
    still running when its time under ``limits`` is up is cancelled and fails with
    :class:`~modelbus.errors.APITimeoutError`."""
    start = clock.monotonic()
    attempts: list[Attempt] = []
    previous: float | None = None
    n = 0
    while True:
        n += 1
        try:
            if limits is None:
                return await fn(), n
            async with limits.aattempt(clock.monotonic() - start):
                return await fn(), n
        except Exception as exc:
            delay = _decide(policy, n, exc, clock.monotonic() - start, previous, budget, attempts)
            _check_deadline(limits, clock.monotonic() - start + delay, exc, attempts, n)
            attempts.append(_attempt(exc, delay))
            if on_retry is not None:
                on_retry(attempts[-1], n)
            await clock.asleep(delay)
            previous = delay


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
    budget: Callable[[], bool] | None,
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
    if budget is not None and not budget():
        exc.add_note(
            f"not retried: the provider's retry budget is spent (after {n} attempt(s)); "
            "see [modelbus.retry_budget]"
        )
        raise exc
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
        raise exc
    attempts.append(_attempt(exc, 0.0))
    raise RetryError(f"gave up after {n} attempts ({why})", attempts) from exc
