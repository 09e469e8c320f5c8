"""Delivering call events (:mod:`modelbus.events`) to the configured observers.

The call path pays for observation only when ``[modelbus] observers`` names one:
``Engine.observers`` is then an :class:`Observers`, else ``None``, and each emitting
site tests that one attribute. The event constructors live here, one small function per
event, so that the call path holds one line per site and can move as a whole.

A chat call's events are tied together by a :class:`Scope` held in a context variable
for the duration of the call (so code deep in the pipeline, such as the retry callback,
finds it without new parameters; ``asyncio`` copies it into tasks). Streams cannot hold
a context variable across ``yield`` (the caller's code runs in between), so a stream
keeps its scope on itself and passes it where needed (``stream_object``).

The call path reaches all this through methods of ``Engine.observers`` (an
:class:`Observers`), never through a function-level ``from .observe import ...``: on
CPython 3.11 each such import costs about 3 µs per call, more than the events
themselves.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from ..events import (
    CacheHit,
    CacheMissed,
    CacheStored,
    CallEvent,
    CallFailed,
    CallFinished,
    CallStarted,
    ErrorInfo,
    FallbackTaken,
    FirstChunk,
    Operation,
    RetryScheduled,
    ToolFinished,
    ToolStarted,
)

if TYPE_CHECKING:
    from .._routing.resolve import Route
    from .._tools.registry import ToolRegistry
    from .._wire.types import (
        ChatRequest,
        ChatResponse,
        EmbeddingRequest,
        EmbeddingResponse,
        Message,
    )
    from .._wire.types import ToolCall as _ToolCall
    from ..errors import Attempt
    from ..protocols import Observer
    from . import Engine

T = TypeVar("T")

__all__ = ["Observers", "Scope", "aobserved", "build_observers", "current", "observed"]

_ids = itertools.count(1)  # next() on a count is atomic under the GIL
_CURRENT: ContextVar[Scope | None] = ContextVar("modelbus_call", default=None)
_NOTE_EVENT = "reported once per client; the call is not affected"


class Observers:
    """The configured observers, as ``(name, origin, observer)``, and the names already
    reported for raising (each is reported once per client).

    The call path reaches observation only through this object (``Engine.observers``):
    its methods, unlike a function-level ``from .observe import ...``, cost no import
    machinery per call (about 3 µs each on CPython 3.11)."""

    __slots__ = ("_endpoints", "_items", "_log", "_on", "_reported", "emit")

    def __init__(self, items: Sequence[tuple[str, str, Observer]], log: Any) -> None:
        self._items = tuple(items)
        self._log = log
        # name -> the first error reported for it (dict.setdefault: one atomic step, so
        # threads failing in the same observer at once report it once, without a lock)
        self._reported: dict[str, Exception] = {}
        self._endpoints: dict[str, str | None] = {}
        # One dispatch, chosen once: a single observer (the usual case) is called without
        # a loop, its bound ``on_event`` taken here rather than looked up per event.
        self._on = self._items[0][2].on_event if len(self._items) == 1 else None
        self.emit: Callable[[CallEvent], None] = (
            self._emit_one if self._on is not None else self._emit_all
        )

    def _emit_one(self, event: CallEvent) -> None:
        try:
            self._on(event)  # type: ignore[misc]
        except Exception as exc:
            self._raised(self._items[0], event, exc)

    def _emit_all(self, event: CallEvent) -> None:
        for item in self._items:
            try:
                item[2].on_event(event)
            except Exception as exc:
                self._raised(item, event, exc)

    def _raised(self, item: tuple[str, str, Observer], event: CallEvent, exc: Exception) -> None:
        if self._reported.setdefault(item[0], exc) is exc:
            self._warn(item, exc, call_event=type(event).__name__, note=_NOTE_EVENT)

    def _warn(self, item: tuple[str, str, Observer], exc: Exception, **fields: str) -> None:
        from .._logging import redact

        error = redact(f"{type(exc).__name__}: {exc}")
        self._log.warning(
            "modelbus.observer_failed", observer=item[0], plugin=item[1], error=error, **fields
        )

    def close(self) -> None:
        """Close each observer that has a ``close`` (a call log writes what it holds);
        a failure is reported once by name, as for events."""
        for item in self._items:
            close = getattr(item[2], "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception as exc:
                self._warn(item, exc, note="while closing; the client closed anyway")

    # --- what the call path calls -------------------------------------------------------
    def _endpoint(self, c: Engine, provider: str) -> str | None:
        # A provider is built once per client and kept, and its cache_identity (a base
        # URL) does not change: read it once, not on every call.
        try:
            return self._endpoints[provider]
        except KeyError:
            endpoint = getattr(c.provider(provider), "cache_identity", None)
            known = self._endpoints[provider] = endpoint if isinstance(endpoint, str) else None
            return known

    def start(
        self,
        c: Engine,
        route: Route,
        request: ChatRequest | EmbeddingRequest | None,
        operation: Operation = "chat",
        stream: bool = False,
        t0: float | None = None,
    ) -> Scope:
        """Emit :class:`CallStarted` for a call on ``route``; the scope of its other
        events."""
        scope = Scope(self, time.perf_counter() if t0 is None else t0, operation)
        parent = _CURRENT.get()
        self.emit(
            CallStarted(
                scope.call_id,
                None if parent is None else parent.call_id,
                operation,
                route.provider,
                route.model or "",
                request,
                stream,
                None if operation == "tool_loop" else self._endpoint(c, route.provider),
            )
        )
        return scope

    def observed(
        self,
        c: Engine,
        route: Route,
        req: Any,
        run: Callable[[Scope], T],
        operation: Operation = "chat",
    ) -> T:
        """Run ``run(scope)`` as the observed call ``req`` on ``route`` (sync):
        CallStarted, then CallFinished with its result or CallFailed with its error."""
        scope = self.start(c, route, req, operation)
        token = _CURRENT.set(scope)
        try:
            resp = run(scope)
        except BaseException as exc:
            scope.failed(exc)
            raise
        finally:
            _CURRENT.reset(token)
        scope.finished(resp)  # type: ignore[arg-type]
        return resp

    async def aobserved(
        self,
        c: Engine,
        route: Route,
        req: Any,
        run: Callable[[Scope], Awaitable[T]],
        operation: Operation = "chat",
    ) -> T:
        """The async twin of :meth:`observed`."""
        scope = self.start(c, route, req, operation)
        token = _CURRENT.set(scope)
        try:
            resp = await run(scope)
        except BaseException as exc:
            scope.failed(exc)
            raise
        finally:
            _CURRENT.reset(token)
        scope.finished(resp)  # type: ignore[arg-type]
        return resp

    def cache(self, hit: bool, key: str) -> None:
        """A cache lookup of the current chat call: CacheHit or CacheMissed."""
        scope = _CURRENT.get()
        if scope is not None:
            self.emit((CacheHit if hit else CacheMissed)(scope.call_id, key))

    def stored(self, key: str, ttl_s: float | None) -> None:
        """The current chat call's answer was stored: CacheStored."""
        scope = _CURRENT.get()
        if scope is not None:
            self.emit(CacheStored(scope.call_id, key, ttl_s))

    @staticmethod
    def note_cache(cache: str) -> None:
        """Record where the current chat call's answer came from (``Engine.done``)."""
        scope = _CURRENT.get()
        # A loop's rounds are calls of their own; a stream run by a tool inside a loop
        # reaches here with the loop current, and must not mark the loop.
        if scope is not None and scope.operation != "tool_loop":
            scope.cache_status = cache

    @staticmethod
    def current() -> Scope | None:
        """The scope of the chat call running in this context, if it is observed."""
        return _CURRENT.get()


def build_observers(c: Engine, names: Sequence[str]) -> Observers | None:
    """The observers ``[modelbus] observers`` names, built once per client; ``None``
    when there are none (the call path then skips every event)."""
    if not names:
        return None
    items = []
    for name in names:
        reg = c.registry.get("observers", name)
        items.append((name, reg.origin, c.build("observers", name)))
    return Observers(items, c.log)


class Scope:
    """One call being observed: its id, its parent's, when it started (perf_counter)."""

    __slots__ = ("cache_status", "call_id", "obs", "operation", "t0")

    def __init__(self, obs: Observers, t0: float, operation: Operation = "chat") -> None:
        self.obs = obs
        self.call_id = next(_ids)
        self.t0 = t0
        self.operation: Operation = operation
        # Set by Engine.done (the pipeline's own word: hit, miss, bypass, shared).
        self.cache_status = "" if operation == "tool_loop" else "bypass"

    # One function per event: what the call path calls.
    def retry(self, attempt: Attempt, n: int) -> None:
        err = ErrorInfo.from_exception(attempt.error)
        self.obs.emit(RetryScheduled(self.call_id, n, err, attempt.delay_s))

    def cache(self, hit: bool, key: str) -> None:
        self.obs.emit((CacheHit if hit else CacheMissed)(self.call_id, key))

    def stored(self, key: str, ttl_s: float | None) -> None:
        self.obs.emit(CacheStored(self.call_id, key, ttl_s))

    def fallback(self, old: Route, new: Route, reason: str, error: BaseException) -> None:
        self.obs.emit(
            FallbackTaken(
                self.call_id,
                old.provider,
                old.model or "",
                new.provider,
                new.model or "",
                reason,
                ErrorInfo.from_exception(error),
            )
        )

    def first_chunk(self) -> None:
        self.obs.emit(FirstChunk(self.call_id, time.perf_counter() - self.t0))

    def finished(self, resp: ChatResponse | EmbeddingResponse) -> None:
        self.obs.emit(
            CallFinished(
                self.call_id,
                resp,
                resp.usage,
                resp.cost_usd,
                resp.latency_s,
                resp.attempts,
                resp.cached,
                self.operation,
                self.cache_status,
            )
        )

    def failed(self, exc: BaseException) -> None:
        latency = time.perf_counter() - self.t0
        self.obs.emit(CallFailed(self.call_id, ErrorInfo.from_exception(exc), latency))


def start(
    c: Engine,
    route: Route,
    request: ChatRequest | EmbeddingRequest | None,
    operation: Operation = "chat",
    stream: bool = False,
    t0: float | None = None,
) -> Scope:
    """Emit :class:`CallStarted` for a call on ``route``; the scope of its other events."""
    assert c.observers is not None
    return c.observers.start(c, route, request, operation, stream, t0)


current = Observers.current
note_cache = Observers.note_cache


def observed(
    c: Engine, route: Route, req: Any, run: Callable[[Scope], T], operation: Operation = "chat"
) -> T:
    """:meth:`Observers.observed` of ``c``'s observers."""
    assert c.observers is not None
    return c.observers.observed(c, route, req, run, operation)


async def aobserved(
    c: Engine,
    route: Route,
    req: Any,
    run: Callable[[Scope], Awaitable[T]],
    operation: Operation = "chat",
) -> T:
    """The async twin of :func:`observed`."""
    assert c.observers is not None
    return await c.observers.aobserved(c, route, req, run, operation)


def tool_failed(msg: Message) -> bool:
    # The tool runner writes every failure (exception, bad arguments, unknown tool) as
    # "Error: ..." (modelbus._tools.registry), which is what the model is shown.
    return (msg.text or "").startswith("Error: ")


class ObservedTools:
    """A :class:`ToolRegistry` view that emits ToolStarted / ToolFinished around each
    execution, with the registry's own concurrency (threads, or ``asyncio.gather``)."""

    def __init__(self, registry: ToolRegistry, scope: Scope) -> None:
        self._r = registry
        self._scope = scope
        self.max_workers = registry.max_workers

    def _started(self, call: _ToolCall) -> float:
        fn = call.function
        self._scope.obs.emit(ToolStarted(self._scope.call_id, call.id, fn.name, fn.arguments))
        return time.perf_counter()

    def _finished(self, call: _ToolCall, msg: Message, t0: float) -> Message:
        self._scope.obs.emit(
            ToolFinished(
                self._scope.call_id,
                call.id,
                call.function.name,
                msg.text or "",
                time.perf_counter() - t0,
                tool_failed(msg),
            )
        )
        return msg

    def execute(self, call: _ToolCall) -> Message:
        t0 = self._started(call)
        return self._finished(call, self._r.execute(call), t0)

    async def aexecute(self, call: _ToolCall) -> Message:
        t0 = self._started(call)
        return self._finished(call, await self._r.aexecute(call), t0)

    def execute_all(self, calls: Sequence[_ToolCall]) -> list[Message]:
        from .._tools.registry import ToolRegistry

        return ToolRegistry.execute_all(self, calls)  # type: ignore[arg-type]

    async def aexecute_all(self, calls: Sequence[_ToolCall]) -> list[Message]:
        from .._tools.registry import ToolRegistry

        return await ToolRegistry.aexecute_all(self, calls)  # type: ignore[arg-type]
