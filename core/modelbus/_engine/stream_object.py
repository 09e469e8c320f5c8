"""What every stream object modelbus returns shares (:class:`ChatStream`, the tool
loop's :class:`LoopStream` and their async twins): iterate it once, close it (or leave
its ``with`` block) to stop early, read ``.response`` afterwards; and, when the client
has observers, one call's events around the chunks (``CallStarted`` at the first
``next()``, ``CallFinished`` after the last chunk, ``CallFailed`` on an error or an
early close). Subclasses give ``_start()`` (the scope, or ``None``) and
``_chunks(scope)``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Self

from .._wire.types import ChatChunk, ChatResponse

if TYPE_CHECKING:
    from .observe import Scope

__all__ = ["AsyncStreamObject", "StreamObject", "StreamState"]


class StreamState:
    """The aggregated response once the stream ended, and the observers' scope."""

    _response: ChatResponse | None = None
    _scope: Scope | None = None  # set by _start() when the client has observers

    @property
    def response(self) -> ChatResponse:
        """The aggregated :class:`ChatResponse` (usage and cost included); raises
        ``RuntimeError`` before the stream ended."""
        if self._response is None:
            raise RuntimeError("the stream has not finished; iterate it to the end first")
        return self._response

    def _start(self) -> Scope | None:
        raise NotImplementedError


class StreamObject(StreamState):
    """Sync: ``for chunk in stream``; ``with stream:`` closes it when left."""

    _gen: Iterator[ChatChunk] | None = None

    def _chunks(self, scope: Scope | None) -> Iterator[ChatChunk]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[ChatChunk]:
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading: the provider's stream is closed unless an identical stream
        still reads it, and the budget reservation is settled to what was seen."""
        if self._gen is not None:
            self._gen.close()  # type: ignore[attr-defined]

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


class AsyncStreamObject(StreamState):
    """Async: ``async for chunk in stream``; ``async with stream:`` closes it when left."""

    _gen: AsyncIterator[ChatChunk] | None = None

    def _chunks(self, scope: Scope | None) -> AsyncIterator[ChatChunk]:
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """The async twin of :meth:`StreamObject.close`."""
        if self._gen is not None:
            await self._gen.aclose()  # type: ignore[attr-defined]

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
