"""The time limits of a call, and how they reach the provider.

Three limits, all in seconds:

- the **attempt timeout**: how long one provider call may take — for ``chat``/``achat``
  the whole exchange, for a stream until its first chunk. A call's ``timeout=``, else
  ``[models.X] timeout_s``, else the provider's own ``timeout_s`` (``[providers.X]``);
- the **deadline** (``deadline_s`` of the retry policy): the whole call, every attempt
  and every backoff sleep. The attempt in flight gets what is left of it, so a stalled
  server costs at most ``deadline_s``, not ``deadline_s`` plus one attempt timeout;
- the **stream idle timeout** (``[modelbus] stream_idle_timeout_s``, default
  :data:`DEFAULT_STREAM_IDLE_TIMEOUT_S`): the longest silence of a stream (providers
  apply it to each read; the async pipeline to each wait after the first chunk). Before
  the first chunk a stall is retried like any timeout; mid-way a retry would repeat
  text the caller has seen, so it is raised as :class:`~modelbus.errors.APITimeoutError`.

The retry runner sets an :class:`AttemptLimits` around every attempt in a context
variable; a provider reads it with :func:`attempt_limits` when it sends (the built-in
providers turn it into their HTTP timeouts). A context variable rather than a field of
:class:`~modelbus.ChatRequest`: the request is what goes on the wire and into the cache
key, and a timeout is neither; and what is left of a deadline shrinks while the provider
works, which a value fixed in the request could not say. ``asyncio`` tasks and
``asyncio.to_thread`` (the adapter of sync-only providers) carry it along.

The async pipeline also enforces the attempt timeout (``AttemptTimeout``: an answer
read by a busy loop in the pass the time runs out is kept) and the idle timeout itself,
so they hold for any async provider; a sync provider cannot be
interrupted from outside and must honour them (the built-in ones do).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

import attrs

from ..errors import APITimeoutError
from .attempt_timeout import AttemptTimeout

T = TypeVar("T")

__all__ = [
    "DEFAULT_STREAM_IDLE_TIMEOUT_S",
    "AttemptLimits",
    "CallLimits",
    "attempt_limits",
    "attempt_timed_out",
    "check_timeout",
    "current_limits",
    "idle_bounded",
    "set_limits",
    "within",
]

#: Seconds a stream may stay silent after its first chunk. 60 s is the read timeout of
#: the proxies most often put in front of OpenAI-compatible servers — nginx
#: ``proxy_read_timeout`` (default 60 s, "between two successive read operations",
#: nginx docs, ngx_http_proxy_module) and the AWS Application Load Balancer idle timeout
#: (default 60 s, ELB user guide "Connection idle timeout") — so a healthy deployment
#: behind them never stays silent that long, and a stall is noticed 10x sooner than by
#: openai-python's 600 s read timeout (``openai._constants.DEFAULT_TIMEOUT``).
DEFAULT_STREAM_IDLE_TIMEOUT_S = 60.0


def check_timeout(value: object, name: str = "timeout") -> float | None:
    """``value`` as seconds (a finite number > 0) or ``None``; ``TypeError`` for a
    non-number, ``ValueError`` for zero, a negative number, NaN or infinity."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


@attrs.frozen
class AttemptLimits:
    """The limits of the provider call in flight (read it with :func:`attempt_limits`).

    - ``ends_at``: ``time.monotonic()`` value at which the attempt must be over (the
      call's timeout or deadline, whichever comes first); ``None``: neither is set.
    - ``overrides``: ``True`` when the call or its model set a timeout, which then
      replaces the provider's own ``timeout_s`` (also when it is longer).
    - ``stream_idle_timeout_s``: seconds a stream may stay silent (``None``: no limit).
    """

    ends_at: float | None = None
    overrides: bool = False
    stream_idle_timeout_s: float | None = DEFAULT_STREAM_IDLE_TIMEOUT_S

    def timeout(self, default: float | None) -> float | None:
        """Seconds this attempt may still take, given the provider's own timeout
        ``default`` (seconds, ``None``: none): what is left until ``ends_at``, and at
        most ``default`` unless the call overrides it. Never below 0; ``None``: no
        limit at all."""
        left = None if self.ends_at is None else max(0.0, self.ends_at - time.monotonic())
        if left is None:
            return default
        if self.overrides or default is None:
            return left
        return min(default, left)

    def read_timeout(self, default: float | None, stream: bool) -> float | None:
        """The per-read timeout of an HTTP request: :meth:`timeout` for a whole answer;
        for a stream the smaller of that and ``stream_idle_timeout_s`` (each read of a
        stream waits at most that long, before its first chunk as after)."""
        total = self.timeout(default)
        idle = self.stream_idle_timeout_s
        if not stream or idle is None:
            return total
        return idle if total is None else min(idle, total)


_CURRENT: ContextVar[AttemptLimits | None] = ContextVar("modelbus_attempt_limits", default=None)
# The timer of the async attempt in flight (``CallLimits.aattempt``), so that code inside
# the attempt that sees a ``CancelledError`` can tell the attempt's time ran out.
_TIMER: ContextVar[AttemptTimeout | None] = ContextVar("modelbus_attempt_timer", default=None)


async def within(aw: Awaitable[T], limits: AttemptLimits | None, provider: str | None = None) -> T:
    """Await ``aw`` under ``limits`` taken from another context (the sync side of an
    async-only provider runs on a loop thread of its own, which would not see them):
    they are set for the provider to read, and ``aw`` is cancelled when their time is
    up (:class:`APITimeoutError`)."""
    if limits is None:
        return await aw
    set_limits(limits)
    left = limits.timeout(None)
    if left is None:
        return await aw
    cm = AttemptTimeout(left)  # an answer read as the time runs out is kept
    try:
        async with cm:
            return await aw
    except TimeoutError as exc:
        if not cm.expired():
            raise
        raise APITimeoutError(
            f"no answer within {left:.3g}s (the attempt's time)", provider=provider
        ) from exc


def set_limits(limits: AttemptLimits) -> None:
    """Set ``limits`` in the current context: only for a task of its own (the adapter's
    loop thread), where nothing has to be reset afterwards."""
    _CURRENT.set(limits)


def current_limits() -> AttemptLimits | None:
    """The limits set by the retry runner in this context, ``None`` outside an attempt."""
    return _CURRENT.get()


def attempt_timed_out() -> bool:
    """Whether the async attempt in flight was cancelled because its time ran out (the
    pipeline's attempt timeout or deadline), rather than by its caller. For code inside
    the attempt that catches ``asyncio.CancelledError``: a deployment pool cools a
    deployment that timed out (``modelbus._pools.provider``)."""
    timer = _TIMER.get()
    return timer is not None and timer.expired()


def attempt_limits() -> AttemptLimits:
    """The :class:`AttemptLimits` of the provider call in flight; outside one (a
    provider used directly), no deadline and the default idle timeout."""
    return _CURRENT.get() or _NO_LIMITS


_NO_LIMITS = AttemptLimits()


@attrs.frozen
class CallLimits:
    """What the retry runner needs to bound a call: ``timeout_s`` per attempt (the
    call's or its model's; ``None``: the provider's own), ``deadline_s`` for the whole
    call (``None``: none), the stream idle timeout and the ``provider`` name (for
    errors). Seconds throughout."""

    timeout_s: float | None = None
    deadline_s: float | None = None
    stream_idle_timeout_s: float | None = DEFAULT_STREAM_IDLE_TIMEOUT_S
    provider: str | None = None

    def left(self, elapsed_s: float) -> float | None:
        """Seconds the next attempt may take after ``elapsed_s`` of the call: the
        attempt timeout cut to what is left of the deadline (``None``: unbounded)."""
        left = None if self.deadline_s is None else max(0.0, self.deadline_s - elapsed_s)
        t = self.timeout_s
        if t is None:
            return left
        return t if left is None else min(t, left)

    def adds_nothing(self) -> bool:
        """Whether an attempt runs exactly as it would without these limits:
        :meth:`unbounded`, and no outer attempt's limits in context to shadow. The retry
        runner then sets nothing: most calls, at no cost per call."""
        return self.unbounded() and _CURRENT.get() is None

    def unbounded(self) -> bool:
        """No time bound and the default stream idle timeout (what
        :func:`attempt_limits` gives outside an attempt): the part of
        :meth:`adds_nothing` that does not change from call to call."""
        return (
            self.timeout_s is None
            and self.deadline_s is None
            and self.stream_idle_timeout_s == DEFAULT_STREAM_IDLE_TIMEOUT_S
        )

    def _limits(self, budget: float | None) -> AttemptLimits:
        ends = None if budget is None else time.monotonic() + budget
        return AttemptLimits(ends, self.timeout_s is not None, self.stream_idle_timeout_s)

    @contextlib.contextmanager
    def attempt(self, elapsed_s: float) -> Iterator[None]:
        """Run one sync attempt with its :class:`AttemptLimits` in context."""
        token = _CURRENT.set(self._limits(self.left(elapsed_s)))
        try:
            yield
        finally:
            _CURRENT.reset(token)

    def aattempt(self, elapsed_s: float) -> _AsyncAttempt:
        """Run one async attempt with its limits in context (``async with``), cancelled
        (as :class:`APITimeoutError`) when its time is up."""
        return _AsyncAttempt(self, self.left(elapsed_s))

    def timed_out(self, budget: float) -> APITimeoutError:
        """The error of an attempt cut after ``budget`` seconds."""
        why = (
            f"timeout={self.timeout_s:g}s"
            if self.timeout_s is not None and budget >= self.timeout_s
            else f"what was left of deadline_s={self.deadline_s:g}s"
        )
        return APITimeoutError(
            f"no answer within {budget:.3g}s ({why})",
            provider=self.provider,
            hint="raise timeout= (or [models.X] timeout_s / the retry policy's deadline_s), "
            "or check the endpoint",
        )

    def stream_stalled(self) -> APITimeoutError:
        """The error of a stream silent for longer than its idle timeout."""
        return APITimeoutError(
            f"the stream sent nothing for {self.stream_idle_timeout_s:g}s "
            "(stream_idle_timeout_s) after its first chunk",
            provider=self.provider,
            hint="the server stalled mid-answer; not retried because chunks were already "
            "delivered. Raise [modelbus] stream_idle_timeout_s if long pauses are normal",
        )


class _AsyncAttempt:
    """The ``async with`` of :meth:`CallLimits.aattempt`. A class rather than an
    ``asynccontextmanager``: it runs on every async call, and an async generator costs a
    frame, its finalizer registration with the loop and two extra resumptions."""

    __slots__ = ("_cm", "_limits", "_timer", "_token", "budget")

    def __init__(self, limits: CallLimits, budget: float | None) -> None:
        self._limits = limits
        self.budget = budget
        self._cm: AttemptTimeout | None = None

    async def __aenter__(self) -> None:
        budget = self.budget
        self._token = _CURRENT.set(self._limits._limits(budget))
        if budget is not None:
            cm = self._cm = AttemptTimeout(budget)  # an answer read as the time runs out is kept
            self._timer = _TIMER.set(cm)
            await cm.__aenter__()

    async def __aexit__(self, et: Any, ev: Any, tb: Any) -> bool:
        cm = self._cm
        try:
            if cm is not None:
                try:
                    await cm.__aexit__(et, ev, tb)
                except TimeoutError as exc:  # the attempt was cancelled by our timer
                    if not cm.expired():
                        raise
                    raise self._limits.timed_out(self.budget or 0.0) from exc
                if et is not None and issubclass(et, TimeoutError) and cm.expired():
                    raise self._limits.timed_out(self.budget or 0.0) from ev
        finally:
            if cm is not None:
                _TIMER.reset(self._timer)
            _CURRENT.reset(self._token)
        return False


class _Watchdog:
    """One timer per stream that cancels the iterating task when a wait for the next
    chunk has lasted ``idle`` seconds. ``since`` is the loop time the current wait
    began (``None`` between waits: the caller's own work between chunks is not idle
    time); ``task`` is the task waiting, set with it: a stream may be read on by another
    task than the one that started it (handed between workers), and that one may be
    busy elsewhere, or gone. (Identical streams share theirs through one reading task,
    ``fanout.AsyncFanout``.) Cheaper than an
    ``asyncio.timeout`` per chunk, which schedules and cancels a timer each time (a
    quarter of the time of a 200-chunk local stream)."""

    def __init__(self, idle: float) -> None:
        self.loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.idle = idle
        self.since: float | None = None
        self.fired = False
        self._handle: asyncio.Handle = self.loop.call_later(idle, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        if self.since is not None and now - self.since >= self.idle:
            # One loop pass late, as ``AttemptTimeout``: a chunk read by a busy loop in
            # this pass wakes the task first, and its wait is then over.
            self._handle = self.loop.call_soon(self._fire, self.since)
            return
        start = now if self.since is None else self.since
        self._handle = self.loop.call_at(start + self.idle, self._check)

    def _fire(self, since: float) -> None:
        if self.since != since:  # the wait ended in the pass the time ran out
            self._check()
            return
        self.fired = True
        self.task.cancel()

    def stop(self) -> None:
        self._handle.cancel()


async def idle_bounded(it: AsyncIterator[T], limits: CallLimits) -> AsyncIterator[T]:
    """The items of ``it``, each awaited at most ``limits.stream_idle_timeout_s``; then
    ``it`` is closed and :meth:`CallLimits.stream_stalled` raised."""
    idle = limits.stream_idle_timeout_s
    if idle is None:
        async for item in it:
            yield item
        return
    dog = _Watchdog(idle)
    try:
        while True:
            dog.task = asyncio.current_task()  # type: ignore[assignment]
            dog.since = dog.loop.time()
            try:
                item = await anext(it)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if not dog.fired or dog.task.uncancel() > 0:
                    raise  # cancelled by someone else too
                aclose = getattr(it, "aclose", None)
                if aclose is not None:
                    await aclose()
                raise limits.stream_stalled() from None
            finally:
                dog.since = None
            yield item
    finally:
        dog.stop()
