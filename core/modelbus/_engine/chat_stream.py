""":class:`ChatStream` and :class:`AsyncChatStream`: what ``Client.stream`` and
``Client.astream`` return. Each runs one call through the stream drivers
(``streams``) and its fallbacks, and keeps the aggregated response."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from .._wire.types import ChatChunk
from .stream_object import AsyncStreamObject, StreamObject, StreamState
from .streams import Final, aopen, open_stream

if TYPE_CHECKING:
    from .engine import Engine
    from .observe import Scope
    from .options import Call

__all__ = ["AsyncChatStream", "ChatStream"]


class _StreamBase(StreamState):
    def __init__(self, engine: Engine, call: Call) -> None:
        self._engine = engine
        self._call = call

    def _start(self) -> Scope | None:
        e = self._engine
        if e.observers is None:
            return None
        call = self._call
        self._scope = e.observers.start(e, call.route, call.request, stream=True, t0=call.t0)
        return self._scope

    def _finish(self, call: Call, final: Final) -> None:
        # The producer counted its provider call; a follower's is counted as shared.
        resp = self._engine.done(call, final.response, final.outcome, counted=True)
        self._response = resp
        if self._scope is not None:
            self._scope.cache_status = final.outcome


class ChatStream(_StreamBase, StreamObject):
    """Iterate it for :class:`ChatChunk`; afterwards ``.response`` is the aggregated
    :class:`ChatResponse`. Use it as a context manager (or call :meth:`close`) to close
    the provider's connection when leaving early."""

    def _chunks(self, scope: Scope | None) -> Iterator[ChatChunk]:
        call = self._call
        started = False
        while True:
            items = open_stream(self._engine, call, scope)
            try:
                for item in items:
                    if type(item) is Final:
                        self._finish(call, item)
                        return
                    if not started:
                        started = True
                        if scope is not None:
                            scope.first_chunk()
                    yield item  # type: ignore[misc]
            except Exception as exc:
                # Nothing was yielded yet: a fallback model can still take the whole stream.
                nxt = None if started else self._engine.fallback(call, exc, scope)
                if nxt is None:
                    raise
                call = nxt
            finally:
                items.close()  # type: ignore[attr-defined]


class AsyncChatStream(_StreamBase, AsyncStreamObject):
    """The async twin of :class:`ChatStream` (``async for chunk in stream``)."""

    async def _chunks(self, scope: Scope | None) -> AsyncIterator[ChatChunk]:
        call = self._call
        started = False
        while True:
            items = aopen(self._engine, call, scope)
            try:
                async for item in items:
                    if type(item) is Final:
                        self._finish(call, item)
                        return
                    if not started:
                        started = True
                        if scope is not None:
                            scope.first_chunk()
                    yield item  # type: ignore[misc]
            except Exception as exc:
                nxt = None if started else self._engine.fallback(call, exc, scope)
                if nxt is None:
                    raise
                call = nxt
            finally:
                await items.aclose()  # type: ignore[attr-defined]
