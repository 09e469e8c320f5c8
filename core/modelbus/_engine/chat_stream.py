""":class:`ChatStream` and :class:`AsyncChatStream`: what ``Client.stream`` and
``Client.astream`` return. Each runs one call through the stream drivers
(``streams``) and its fallbacks, and keeps the aggregated response."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from .._wire.types import ChatChunk, ChatResponse
from .streams import Final, aopen, open_stream

if TYPE_CHECKING:
    from .engine import Engine
    from .observe import Scope
    from .options import Call

__all__ = ["AsyncChatStream", "ChatStream"]


class _StreamBase:
    def __init__(self, engine: Engine, call: Call) -> None:
        self._engine = engine
        self._call = call
        self._response: ChatResponse | None = None
        self._scope: Scope | None = None  # set when the client has observers

    @property
    def response(self) -> ChatResponse:
        """The aggregated ChatResponse (usage and cost included); raises
        ``RuntimeError`` before the stream ended."""
        if self._response is None:
            raise RuntimeError("the stream has not finished; iterate it to the end first")
        return self._response

    def _start(self) -> Scope | None:
        e = self._engine
        if e.observers is None:
            return None
        from .observe import start

        call = self._call
        self._scope = start(e, call.route, call.request, stream=True, t0=call.t0)
        return self._scope

    def _finish(self, call: Call, final: Final) -> None:
        # The producer counted its provider call; a follower's is counted as shared.
        resp = self._engine.done(call, final.response, final.outcome, counted=True)
        self._response = resp
        if self._scope is not None:
            self._scope.cache_status = final.outcome


class ChatStream(_StreamBase):
    """Iterate it for :class:`ChatChunk`; afterwards ``.response`` is the aggregated
    :class:`ChatResponse`. Use it as a context manager (or call :meth:`close`) to close
    the provider's connection when leaving early."""

    def __init__(self, engine: Engine, call: Call) -> None:
        super().__init__(engine, call)
        self._gen: Iterator[ChatChunk] | None = None

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading: the provider's stream is closed unless an identical stream
        still reads it, and the budget reservation is settled to what was seen."""
        if self._gen is not None:
            self._gen.close()  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[ChatChunk]:
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    def _run(self) -> Iterator[ChatChunk]:
        scope = self._start()
        try:
            yield from self._chunks(scope)
        except BaseException as exc:
            if scope is not None:
                scope.failed(exc)
            raise
        if scope is not None:
            scope.finished(self.response)  # after the cache store: CallFinished comes last

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


class AsyncChatStream(_StreamBase):
    """The async twin of :class:`ChatStream` (``async for chunk in stream``)."""

    def __init__(self, engine: Engine, call: Call) -> None:
        super().__init__(engine, call)
        self._gen: AsyncIterator[ChatChunk] | None = None

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """The async twin of :meth:`ChatStream.close`."""
        if self._gen is not None:
            await self._gen.aclose()  # type: ignore[attr-defined]

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    async def _run(self) -> AsyncIterator[ChatChunk]:
        scope = self._start()
        chunks = self._chunks(scope)
        try:
            async for chunk in chunks:
                yield chunk
        except BaseException as exc:
            if scope is not None:
                scope.failed(exc)
            raise
        finally:  # an async generator is not closed by leaving its loop: close it now
            await chunks.aclose()  # type: ignore[attr-defined]
        if scope is not None:
            scope.finished(self.response)

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
