"""Minimal asyncio HTTP/1.1 server (RFC 9112) for the WireServer: stdlib only.

Supports keep-alive, ``Connection: close``, Content-Length and chunked request bodies,
``Expect: 100-continue``, and replies with Content-Length or chunked transfer coding
(for SSE), plus the deliberate faults of ``Reply``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

from attrs import frozen

from ._server_reply import DONE_EVENT, Reply

__all__ = ["Dispatch", "Headers", "HttpServer", "RecordedRequest"]

log = logging.getLogger(__name__)


class Headers(Mapping[str, str]):
    """Request header fields with case-insensitive lookup (RFC 9110 §5.1).

    Repeated fields are combined with ``", "`` (RFC 9110 §5.3); ``get_all`` returns
    them separately and ``raw`` keeps the received (name, value) pairs in order.
    """

    __slots__ = ("_index", "raw")

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self.raw: tuple[tuple[str, str], ...] = tuple(pairs)
        index: dict[str, str] = {}
        for name, value in self.raw:
            key = name.lower()
            index[key] = f"{index[key]}, {value}" if key in index else value
        self._index = index

    def __getitem__(self, name: str) -> str:
        return self._index[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def get_all(self, name: str) -> list[str]:
        """Every value received for ``name``, in order."""
        key = name.lower()
        return [v for k, v in self.raw if k.lower() == key]

    def __repr__(self) -> str:
        return f"Headers({list(self.raw)!r})"


@frozen
class RecordedRequest:
    """One request as the server received it.

    ``path`` is percent-decoded and excludes the query; ``query`` maps each query
    parameter to its last value; ``body`` is the de-chunked body; ``json`` is the body
    decoded as JSON, or None when it is empty or not JSON.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    json: Any

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")


# (reply to send, latency in seconds, extra pre-encoded header lines)
Dispatch = Callable[[RecordedRequest], tuple[Reply, float, bytes]]


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
_LINGER_RST = struct.pack("ii", 1, 0)
_date_cache: tuple[int, bytes] = (0, b"")


def _status_line(status: int) -> bytes:
    return _STATUS_LINES.get(status) or f"HTTP/1.1 {status} Status {status}\r\n".encode()


def _date_line() -> bytes:
    # RFC 9110 §6.6.1: an origin server with a clock sends Date; format it once a second.
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        # One tuple assignment, so servers in other threads never see a torn pair.
        _date_cache = (now, f"Date: {formatdate(now, usegmt=True)}\r\n".encode())
    return _date_cache[1]


def _decode_json(body: bytes) -> Any:
    stripped = body.lstrip()
    if not stripped or stripped[:1] not in b"{[":
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest(400, f"bad chunk size line {size_line[:40]!r}") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailer fields
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise BadRequest(400, "chunk data not followed by CRLF")


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[RecordedRequest, bool] | None:
    """Read one request; None on a clean end of stream. Returns (request, keep_alive)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "request header section too large") from None
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, f"bad request line {lines[0][:80]!r}")
    method, target, version = parts
    pairs = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, f"bad header line {line[:80]!r}")
        pairs.append((name, value.strip()))
    headers = Headers(pairs)
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        length = headers.get("content-length", "0")
        if not length.isdigit():
            raise BadRequest(400, f"bad Content-Length {length!r}")
        body = await reader.readexactly(int(length)) if length != "0" else b""
    conn = headers.get("connection", "").lower()
    keep_alive = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
    raw_path, _, raw_query = target.partition("?")
    query = dict(parse_qsl(raw_query, keep_blank_values=True)) if raw_query else {}
    request = RecordedRequest(method, unquote(raw_path), query, headers, body, _decode_json(body))
    return request, keep_alive


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def send_reply(
    writer: asyncio.StreamWriter, reply: Reply, latency: float, extra: bytes, keep_alive: bool
) -> bool:
    """Write ``reply`` (after ``latency`` seconds); returns whether to keep the connection."""
    if latency > 0:
        await asyncio.sleep(latency)
    fault = reply.fault
    if fault == "reset":
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        writer.transport.abort()
        return False
    if fault == "close":
        return False
    keep = keep_alive and fault is None
    status = reply.status or 200
    head = [_status_line(status), reply.head, extra]
    if not reply.has_date:
        head.append(_date_line())
    if not keep:
        head.append(b"Connection: close\r\n")
    if reply.events is not None:
        events = reply.events
        if fault is not None:
            live = [e for e in events if e != DONE_EVENT]
            cut = reply.cut_after if fault == "cut" else reply.truncate_to
            events = tuple(live[: len(live) // 2 if cut is None else cut])
        head.append(b"Transfer-Encoding: chunked\r\n\r\n")
        end = b"" if fault else b"0\r\n\r\n"
        if reply.pause_after is not None:
            k = reply.pause_after
            writer.write(b"".join(head) + b"".join(_chunk(e) for e in events[:k]))
            await writer.drain()
            await asyncio.sleep(reply.pause)
            writer.write(b"".join(_chunk(e) for e in events[k:]) + end)
        elif reply.event_delay <= 0:
            writer.write(b"".join(head) + b"".join(_chunk(e) for e in events) + end)
        else:
            writer.write(b"".join(head))
            for i, event in enumerate(events):
                if i:
                    await writer.drain()
                    await asyncio.sleep(reply.event_delay)
                writer.write(_chunk(event))
            writer.write(end)
    else:
        body = reply.body or b""
        if fault is not None:
            declared = max(len(body), 1)
            sent = len(body) // 2 if reply.truncate_to is None else reply.truncate_to
            body = body[: min(sent, declared - 1)]
        else:
            declared = len(body)
        head.append(b"Content-Length: %d\r\n\r\n" % declared)
        if reply.pause_after is not None:
            writer.write(b"".join(head) + body[: reply.pause_after])
            await writer.drain()
            await asyncio.sleep(reply.pause)
            body = body[reply.pause_after :]
            head = []
        writer.write(b"".join(head) + body)
    await writer.drain()
    return keep


def _error_reply(status: int, message: str) -> Reply:
    return Reply.error(status, f"modelbus WireServer: {message}")


class HttpServer:
    """asyncio server passing each parsed request to ``dispatch`` and sending its reply."""

    def __init__(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 = a free port); returns the bound port."""
        self._server = await asyncio.start_server(self._connection, host, port, backlog=1024)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def close(self) -> None:
        """Stop listening and cancel every open connection (interrupting stalls)."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    parsed = await read_request(reader, writer)
                except BadRequest as exc:
                    await send_reply(writer, _error_reply(exc.status, str(exc)), 0, b"", False)
                    return
                if parsed is None:
                    return
                request, keep_alive = parsed
                try:
                    reply, latency, extra = self._dispatch(request)
                except Exception as exc:
                    # A bug in a route must reach the test as a 500 AND in the log.
                    log.exception("WireServer failed on %s %s", request.method, request.path)
                    reply, latency, extra = _error_reply(500, repr(exc)), 0.0, b""
                if not await send_reply(writer, reply, latency, extra, keep_alive):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the client went away; nothing left to answer
        except asyncio.CancelledError:
            return  # server shutting down; the finally block closes the socket
        finally:
            if task is not None:
                self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.close()
