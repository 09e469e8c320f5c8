"""Single-flight: concurrent identical requests in one process make one provider call.

The first caller for a key (the leader) runs the call; callers arriving while it runs
wait and get its result, or its exception re-raised (the same exception object, as
asyncio does for every awaiter of a future). Threads use :class:`SingleFlight`, asyncio
tasks :class:`AsyncSingleFlight` (one per event loop: futures cannot cross loops).

If the leader is interrupted rather than failing — its task cancelled, or
``KeyboardInterrupt``/``SystemExit`` in its thread — waiters are not handed that
interruption: the next one becomes the leader and calls again.

A caller that finds no call in flight just after the leader finished (its cache lookup
missed a moment before the leader stored the result) becomes a new leader: the window
is the few microseconds between a cache miss and joining the flight.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["AsyncSingleFlight", "SingleFlight"]


class _Call:
    __slots__ = ("done", "error", "result", "waiters")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.waiters = 0


class SingleFlight:
    """Thread-safe de-duplication of in-flight calls by key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}

    def waiters(self, key: str) -> int:
        """How many callers have joined the call in flight for ``key`` (0 if none)."""
        with self._lock:
            call = self._calls.get(key)
            return 0 if call is None else call.waiters

    def do(self, key: str, fn: Callable[[], T]) -> tuple[T, bool]:
        """Run ``fn`` once per concurrent ``key``; returns ``(result, shared)`` where
        ``shared`` is True for callers that waited on another caller's call."""
        while True:
            with self._lock:
                call = self._calls.get(key)
                if call is None:
                    call = self._calls[key] = _Call()
                    break
                call.waiters += 1
            call.done.wait()
            if call.error is None:
                return call.result, True
            if isinstance(call.error, Exception):
                raise call.error
            # The leader was interrupted (not failed): loop and call ourselves.
        try:
            call.result = fn()
            return call.result, False
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()


class _AsyncCall:
    __slots__ = ("future", "waiters")

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future = future
        self.waiters = 0


class AsyncSingleFlight:
    """asyncio de-duplication of in-flight calls by key (one instance per event loop)."""

    def __init__(self) -> None:
        self._calls: dict[str, _AsyncCall] = {}

    def waiters(self, key: str) -> int:
        """How many tasks have joined the call in flight for ``key`` (0 if none)."""
        call = self._calls.get(key)
        return 0 if call is None else call.waiters

    async def do(self, key: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """As :meth:`SingleFlight.do`, for coroutines. Cancelling a waiter cancels only
        that waiter; cancelling the leader makes the next waiter call instead."""
        while (call := self._calls.get(key)) is not None:
            call.waiters += 1
            try:
                return await asyncio.shield(call.future), True
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not call.future.cancelled() or (task is not None and task.cancelling()):
                    raise  # this waiter itself was cancelled
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[key] = _AsyncCall(fut)
        try:
            result = await fn()
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters re-raise it; no "never retrieved" noise
            raise
        except BaseException:
            fut.cancel()  # interrupted, not failed: a waiter takes over
            raise
        else:
            fut.set_result(result)
            return result, False
        finally:
            del self._calls[key]
