"""Server-sent events (``text/event-stream``) parsing, for any provider's stream.

The rules are those of the WHATWG HTML standard, "Server-sent events", §9.2.6
(interpreting an event stream): lines end in CRLF, LF or CR; a line starting with ``:``
is a comment; ``field: value`` loses one space after the colon; ``data`` lines are joined
with ``\\n``; a blank line dispatches the event, unless it has no data; ``event`` names
it (default ``"message"``); ``id`` without NUL sets the last event id; ``retry`` is an
integer of milliseconds; other fields are ignored; an event not ended by a blank line
when the stream ends is dropped. A UTF-8 byte order mark at the start is skipped.

:class:`SSEDecoder` is I/O-free (feed it bytes, get events); :func:`iter_sse` and
:func:`aiter_sse` drive it over a sync or async iterator of byte chunks, such as
``httpx.Response.iter_bytes()`` / ``aiter_bytes()``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

import attrs

__all__ = ["SSEDecoder", "ServerSentEvent", "aiter_sse", "iter_sse"]

_LINE_END = re.compile(rb"\r\n|\r|\n")


@attrs.frozen
class ServerSentEvent:
    """One dispatched event: ``event`` (its type, ``"message"`` when the stream named
    none), ``data`` (the ``data`` lines joined by ``\\n``), ``id`` (the last event id seen
    so far in the stream, or ``None``) and ``retry`` (the last ``retry`` value, in
    milliseconds, or ``None``)."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """``data`` decoded as JSON.

        Raises:
            ValueError: ``data`` is not JSON (``json.JSONDecodeError``), or is nested
                deeper than the decoder goes (a hostile server's ``[[[[...``).
        """
        try:
            return json.loads(self.data)
        except RecursionError:
            raise ValueError("the event's data is nested too deeply to decode") from None


class SSEDecoder:
    """Incremental ``text/event-stream`` decoder (see the module docstring for the rules).

    ``feed(chunk)`` takes the next bytes, split anywhere (inside a line, between the CR
    and LF of a CRLF, inside a UTF-8 sequence), and returns the events completed by it;
    ``close()`` ends the stream and returns any event completed by a final lone CR.
    ``pending`` tells whether a partial event was left unfinished (a cut stream).
    """

    __slots__ = ("_buf", "_data", "_event", "_id", "_retry", "_started")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._started = False

    @property
    def pending(self) -> bool:
        """Whether bytes or fields of an undispatched event are held (after ``close()``:
        the stream ended inside an event)."""
        return bool(self._buf or self._data or self._event)

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events completed by ``chunk`` (possibly none)."""
        buf = self._buf + chunk
        if not self._started:
            if len(buf) < 3 and b"\xef\xbb\xbf".startswith(buf):
                self._buf = buf
                return []
            self._started = True
            if buf.startswith(b"\xef\xbb\xbf"):
                buf = buf[3:]
        out: list[ServerSentEvent] = []
        pos = 0
        for m in _LINE_END.finditer(buf):
            # A CR at the very end may be the first half of a CRLF: wait for more bytes.
            if m.group() == b"\r" and m.end() == len(buf):
                break
            self._line(buf[pos : m.start()].decode("utf-8", "replace"), out)
            pos = m.end()
        self._buf = buf[pos:]
        return out

    def close(self) -> list[ServerSentEvent]:
        """End of stream: a held final CR ends its line; an unterminated event is dropped
        (``pending`` stays true so that the caller can tell a cut stream)."""
        out: list[ServerSentEvent] = []
        if self._buf.endswith(b"\r"):
            self._line(self._buf[:-1].decode("utf-8", "replace"), out)
            self._buf = b""
        return out

    def _line(self, line: str, out: list[ServerSentEvent]) -> None:
        if not line:
            if self._data:
                out.append(
                    ServerSentEvent(
                        self._event or "message", "\n".join(self._data), self._id, self._retry
                    )
                )
            self._data = []
            self._event = ""
            return
        if line.startswith(":"):
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)


def iter_sse(
    chunks: Iterable[bytes], decoder: SSEDecoder | None = None
) -> Iterator[ServerSentEvent]:
    """The :class:`ServerSentEvent` s of a byte stream, each yielded as soon as the blank
    line ending it arrives.

    Args:
        chunks: the body's bytes, split anywhere (``httpx.Response.iter_bytes()``).
        decoder: pass your own to check ``decoder.pending`` afterwards: a stream that
            ended inside an event (a cut connection) leaves it true.

    Errors raised by ``chunks`` (a dropped connection) propagate unchanged: map them to
    :class:`~modelbus.errors.APIConnectionError` / ``APITimeoutError`` in the provider.
    """
    dec = decoder or SSEDecoder()
    for chunk in chunks:
        yield from dec.feed(chunk)
    yield from dec.close()


async def aiter_sse(
    chunks: AsyncIterable[bytes], decoder: SSEDecoder | None = None
) -> AsyncIterator[ServerSentEvent]:
    """The async twin of :func:`iter_sse`: ``chunks`` is an async iterable of bytes
    (``httpx.Response.aiter_bytes()``); events, ``decoder`` and errors as there."""
    dec = decoder or SSEDecoder()
    async for chunk in chunks:
        for event in dec.feed(chunk):
            yield event
    for event in dec.close():
        yield event
