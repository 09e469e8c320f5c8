"""Single-flight: concurrent identical requests in one process make one provider call.

The first caller for a key runs the call; callers arriving while it runs wait and get its
result, or its error re-raised. Threads use :class:`SingleFlight`, asyncio tasks
:class:`AsyncSingleFlight` (per event loop: futures cannot cross loops).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["AsyncSingleFlight", "SingleFlight"]


class _Call:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class SingleFlight:
    """Thread-safe de-duplication of in-flight calls by key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}

    def do(self, key: str, fn: Callable[[], T]) -> tuple[T, bool]:
        """Run ``fn`` once per concurrent ``key``; returns ``(result, shared)`` where
        ``shared`` is True for callers that waited on another caller's call."""
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.result, True
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


class AsyncSingleFlight:
    """asyncio de-duplication of in-flight calls by key (one instance per event loop)."""

    def __init__(self) -> None:
        self._calls: dict[str, asyncio.Future[Any]] = {}

    async def do(self, key: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """As :meth:`SingleFlight.do`, for coroutines."""
        fut = self._calls.get(key)
        if fut is not None:
            return await asyncio.shield(fut), True
        fut = asyncio.get_running_loop().create_future()
        self._calls[key] = fut
        try:
            result = await fn()
            fut.set_result(result)
            return result, False
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters re-raise it; no "never retrieved" noise
            raise
        finally:
            del self._calls[key]
