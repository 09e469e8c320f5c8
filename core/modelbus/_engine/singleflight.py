"""Single-flight: concurrent identical requests in one process make one provider call.

The first caller for a key (the leader) runs the call; callers arriving while it runs
wait and get its result, or, when it fails, each its own copy of the leader's exception
(:func:`follower_error`: same type, same fields and notes, ``__cause__`` the leader's
exception). Raising one shared object in every waiter would let callers see each
other's changes to it and grow its ``__traceback__`` with every raise. Threads use
:class:`SingleFlight`, asyncio tasks :class:`AsyncSingleFlight` (one per event loop:
futures cannot cross loops).

If the leader is interrupted rather than failing — its task cancelled, or
``KeyboardInterrupt``/``SystemExit`` in its thread — waiters are not handed that
interruption: the next one becomes the leader and calls again.

A caller that finds no call in flight just after the leader finished (its cache lookup
missed a moment before the leader stored the result) becomes a new leader: the window
is the few microseconds between a cache miss and joining the flight.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["AsyncSingleFlight", "SingleFlight", "follower_error"]


def follower_error(leader: Exception) -> Exception:
    """A waiter's own copy of the leader's exception, to ``raise ... from leader``.

    A shallow copy: same type, ``args`` and attributes (``status_code``,
    ``request_id``, ``retry_after_s``, ``attempts``...), its own ``__notes__`` list, and
    no traceback yet (it gets the waiter's own frames when raised). An exception whose
    class cannot be rebuilt from its ``args`` (required keyword arguments, as in
    ``RetryError``) is copied without calling ``__init__``."""
    try:
        err = copy.copy(leader)
        rebuilt = type(err) is type(leader) and err.args == leader.args
    except Exception:
        rebuilt = False
    if not rebuilt:
        err = type(leader).__new__(type(leader), *leader.args)
        err.__dict__.update(leader.__dict__)
    notes = getattr(leader, "__notes__", None)
    if notes is not None:
        err.__notes__ = list(notes)
    return err.with_traceback(None)


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

    def in_flight(self) -> dict[str, int]:
        """Every key with a call in flight, and how many callers have joined it (tests
        use it to know when every thread is waiting)."""
        with self._lock:
            return {k: c.waiters for k, c in self._calls.items()}

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
                raise follower_error(call.error) from call.error
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
            # Wait without retrieving: awaiting the future would re-raise the leader's
            # exception object itself here, adding this waiter's frames to its traceback.
            # asyncio.wait never cancels the future when this waiter is cancelled.
            await asyncio.wait((call.future,))
            if call.future.cancelled():
                continue  # the leader was interrupted, not failed: call ourselves
            leader_exc = call.future.exception()
            if leader_exc is None:
                return call.future.result(), True
            assert isinstance(leader_exc, Exception)  # BaseExceptions cancel the future
            raise follower_error(leader_exc) from leader_exc
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
