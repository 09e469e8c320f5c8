"""Structured streams: ``for partial in client.stream(..., response_format=Invoice)``.

Each attempt is an ordinary :class:`modelbus.ChatStream` (cache, retry until the first
chunk, usage). While its chunks arrive, the JSON so far (``content``, the forced tool
call's ``arguments`` in tools mode, the inside of the fenced block in md_json mode) is
parsed with :func:`._partial.complete_prefix`; whenever that complete part changes (a
field, an item or a nested value was completed), a partial value is yielded: an instance
of :func:`partial_type` of the requested type (``PartialInvoice`` with the fields so far,
the rest ``None``). When the stream ends, the whole reply is validated as in ``chat`` and
the last value yielded is the real, validated ``Invoice``; ``.parsed`` and ``.response``
(with ``parsed``, usage and cost summed) are set then.

An invalid reply is re-asked (``max_reasks``) with a new stream: its partials start
again from nothing. A refusal raises :class:`~modelbus.errors.RefusalError` at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from modelbus.plugin import ChatChunk, ChatResponse

from ._modes import fenced
from ._partial import complete_prefix, partial_value
from ._session import Session

__all__ = ["AsyncStructuredStream", "StructuredStream"]


class _Partials:
    """Turns one attempt's chunks into partial values (``None`` when nothing changed)."""

    def __init__(self, session: Session) -> None:
        self._target = session.target
        self._mode = session.mode
        self._parts: list[str] = []
        self._index: int | None = None  # the target tool call's index (tools mode)
        self._last: Any = None

    def feed(self, chunk: ChatChunk) -> Any:
        if self._mode == "tools":
            for d in chunk.tool_calls:
                if self._index is None and d.name == self._target.name:
                    self._index = d.index
                if d.index == self._index and d.arguments:
                    self._parts.append(d.arguments)
        elif chunk.content:
            self._parts.append(chunk.content)
        else:
            return None
        text = "".join(self._parts)
        if self._mode == "md_json":
            text = fenced(text)
        snap = complete_prefix(text)
        if self._target.wrap is not None:
            snap = snap.get(self._target.wrap) if isinstance(snap, dict) else None
        if not snap or snap == self._last:
            return None
        self._last = snap
        try:
            return partial_value(self._target.type, snap, strict=self._target.strict)
        except Exception:  # a malformed middle is judged once the reply is whole
            return None


class _Base:
    def __init__(self, session: Session, open_stream: Callable[[Any], Any]) -> None:
        self._session = session
        self._open = open_stream
        self._response: ChatResponse | None = None
        self._current: Any = None

    @property
    def mode(self) -> str:
        """The mode used (``auto`` resolved)."""
        return self._session.mode

    @property
    def response(self) -> ChatResponse:
        """The final response (``parsed`` set); ``RuntimeError`` before the stream ended."""
        if self._response is None:
            raise RuntimeError("the stream has not finished; iterate it to the end first")
        return self._response

    @property
    def parsed(self) -> Any:
        """The validated value (``response.parsed``)."""
        return self.response.parsed


class StructuredStream(_Base):
    """Iterate for partial values, then the validated value (see the module docstring).
    A context manager: leaving early closes the connection."""

    def __iter__(self) -> Iterator[Any]:
        s = self._session
        while True:
            partials = _Partials(s)
            self._current = stream = self._open(s.request)
            with stream:
                for chunk in stream:
                    value = partials.feed(chunk)
                    if value is not None:
                        yield value
            done = s.take(stream.response)
            if done is not None:
                self._response = done
                if not s.passed_through:
                    yield done.parsed
                return

    def close(self) -> None:
        if self._current is not None:
            self._current.close()

    def __enter__(self) -> StructuredStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStructuredStream(_Base):
    """The async twin of :class:`StructuredStream` (``async for partial in ...``)."""

    async def __aiter__(self) -> AsyncIterator[Any]:
        s = self._session
        while True:
            partials = _Partials(s)
            self._current = stream = self._open(s.request)
            async with stream:
                async for chunk in stream:
                    value = partials.feed(chunk)
                    if value is not None:
                        yield value
            done = s.take(stream.response)
            if done is not None:
                self._response = done
                if not s.passed_through:
                    yield done.parsed
                return

    async def aclose(self) -> None:
        if self._current is not None:
            await self._current.aclose()

    async def __aenter__(self) -> AsyncStructuredStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
