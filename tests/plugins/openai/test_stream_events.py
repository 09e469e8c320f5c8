"""What each event of an OpenAI stream means (``modelbus_openai._sse``), read from a real
``httpx.Response`` over bytes (the network edge): an ``error`` payload raises with or
without ``event: error``, and the response is closed however the stream ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import pytest

from modelbus import errors
from modelbus.testing import FakeClock
from modelbus_openai._sse import aiter_chunks, iter_chunks

CHUNK = (
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
)
ERROR = (
    b'data: {"error": {"message": "The server had an error while processing your '
    b'request.", "type": "server_error", "param": null, "code": null}}\n\n'
)
DONE = b"data: [DONE]\n\n"


class Events(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body sent one event per read, as a server flushes them."""

    def __init__(self, events: tuple[bytes, ...]) -> None:
        self.events = events
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < len(self.events):  # one pass over the body, as on a socket
            self.sent += 1
            yield self.events[self.sent - 1]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for e in self:
            yield e


def response(*events: bytes) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream", "x-request-id": "req_1"},
        stream=Events(events),
    )  # fmt: skip


def read(r: httpx.Response) -> list[str]:
    return [c.content or "" for c in iter_chunks(r, "openai")]


async def aread(r: httpx.Response) -> list[str]:
    return [c.content or "" async for c in aiter_chunks(r, "openai")]


@pytest.mark.parametrize("named", [b"event: error\n", b""], ids=["event-error", "data-only"])
@pytest.mark.parametrize("reader", ["sync", "async"])
async def test_an_error_payload_raises_with_or_without_event_error(
    named: bytes, reader: str
) -> None:
    r = response(CHUNK, named + ERROR, CHUNK, DONE)
    got: list[str] = []
    with pytest.raises(errors.ServerError, match="server had an error") as info:
        if reader == "sync":
            for c in iter_chunks(r, "openai"):
                got.append(c.content or "")
        else:
            async for c in aiter_chunks(r, "openai"):
                got.append(c.content or "")
    assert got == ["Hel"]
    assert info.value.status_code is None
    assert r.is_closed


async def test_a_named_error_event_raises_even_without_an_error_key() -> None:
    r = response(CHUNK, b'event: error\ndata: {"message": "overloaded"}\n\n', DONE)
    with pytest.raises(errors.ProviderError):
        read(r)


@pytest.mark.parametrize(
    "body",
    [b"data: not json\n\n", b"data: [1, 2]\n\n", b"data: " + b"[" * 5000 + b"\n\n"],
    ids=["not-json", "not-an-object", "nested-past-the-decoder"],
)
def test_a_payload_that_is_not_a_json_object_is_a_server_error(body: bytes) -> None:
    with pytest.raises(errors.ServerError):
        read(response(CHUNK, body, DONE))


def test_field_only_events_and_comments_are_skipped_and_done_ends() -> None:
    # ``data:`` with nothing after it is dispatched with empty data (WHATWG HTML §9.2.6).
    r = response(
        b": keep-alive\n\n", b"event: ping\n\n", b"retry: 10\n\n", b"data:\n\n", CHUNK, DONE, CHUNK
    )
    assert read(r) == ["Hel"]
    assert r.is_closed


async def test_done_ends_the_async_stream_too() -> None:
    r = response(CHUNK, DONE, CHUNK)
    assert await aread(r) == ["Hel"]
    assert r.is_closed


@pytest.mark.parametrize("reader", ["sync", "async"])
async def test_a_body_without_done_is_a_cut_stream_naming_the_request(reader: str) -> None:
    r = response(CHUNK)
    with pytest.raises(
        errors.APIConnectionError, match=r"the stream ended before .*\[DONE\]"
    ) as info:
        await aread(r) if reader == "async" else read(r)
    assert info.value.request_id == "req_1"
    assert info.value.message == (
        "the stream ended before 'data: [DONE]': the connection was closed mid-answer"
    )
    assert r.is_closed


def test_an_abandoned_stream_closes_its_response() -> None:
    r = response(CHUNK, CHUNK, DONE)
    it: Iterator[Any] = iter_chunks(r, "openai")
    assert next(it).content == "Hel"
    assert not r.is_closed
    it.close()  # type: ignore[attr-defined]
    assert r.is_closed


async def test_an_abandoned_async_stream_closes_its_response() -> None:
    r = response(CHUNK, CHUNK, DONE)
    it: AsyncIterator[Any] = aiter_chunks(r, "openai")
    assert (await anext(it)).content == "Hel"
    assert not r.is_closed
    await it.aclose()  # type: ignore[attr-defined]
    assert r.is_closed


def test_an_error_payload_without_a_message_says_where_it_came_from() -> None:
    r = response(CHUNK, b'data: {"error": {"type": "server_error"}}\n\n', DONE)
    with pytest.raises(errors.ServerError) as info:
        read(r)
    assert info.value.message == "the server reported an error during the stream"


@pytest.mark.parametrize("reader", ["sync", "async"])
async def test_the_body_after_done_is_read_so_the_connection_can_be_reused(reader: str) -> None:
    r = response(CHUNK, DONE, b"\r\n")
    assert (await aread(r) if reader == "async" else read(r)) == ["Hel"]
    stream = r.stream
    assert isinstance(stream, Events) and stream.sent == 3


@pytest.mark.parametrize("body", [b"data: not json\n\n", b"data: [1, 2]\n\n"])
def test_a_broken_event_names_the_200_it_came_with(body: bytes) -> None:
    with pytest.raises(errors.ServerError) as info:
        read(response(CHUNK, body, DONE))
    assert info.value.status_code == 200 and info.value.request_id == "req_1"
    assert info.value.message.startswith("a stream event is not ")


class Paced(Events):
    """A body whose events arrive at fake times: ``clock`` moves ``gap`` seconds before
    each ``(gap, event)`` is read."""

    def __init__(self, clock: FakeClock, timed: tuple[tuple[float, bytes], ...]) -> None:
        super().__init__(tuple(e for _, e in timed))
        self.clock = clock
        self.gaps = [g for g, _ in timed]

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < len(self.events):
            self.clock.advance(self.gaps[self.sent])
            self.sent += 1
            yield self.events[self.sent - 1]


async def paced_read(reader: str, *timed: tuple[float, bytes], first_by: float) -> list[str]:
    clock = FakeClock()
    r = httpx.Response(200, stream=Paced(clock, timed))
    if reader == "sync":
        return [
            c.content or ""
            for c in iter_chunks(r, "openai", first_by=first_by, clock=clock.monotonic)
        ]
    return [
        c.content or ""
        async for c in aiter_chunks(r, "openai", first_by=first_by, clock=clock.monotonic)
    ]


@pytest.mark.parametrize("reader", ["sync", "async"])
async def test_once_a_chunk_is_delivered_the_first_chunk_deadline_no_longer_applies(
    reader: str,
) -> None:
    """The wait for the first chunk (``first_by``, 1 s here, on a fake clock) ends when a
    chunk is delivered, even when the byte guard did not see its ``data`` field (a body
    starting with a UTF-8 BOM, which the SSE decoder strips: WHATWG HTML §9.2.6):
    keep-alive comments after the deadline then do not fail a stream that answered."""
    bom = b"\xef\xbb\xbf"
    late_ping = (5.0, b": keep-alive\n\n")
    got = await paced_read(reader, (0.0, bom + CHUNK), late_ping, (0.0, DONE), first_by=1.0)
    assert got == ["Hel"]
    # Before any chunk, the same keep-alive past the deadline ends the wait.
    with pytest.raises(errors.APITimeoutError, match="only keep-alives"):
        await paced_read(reader, (0.0, bom), late_ping, (0.0, CHUNK), (0.0, DONE), first_by=1.0)


class ReadFails(Events):
    """A body whose read fails after its events, as a socket read timing out."""

    def __iter__(self) -> Iterator[bytes]:
        yield from super().__iter__()
        raise httpx2.ReadTimeout("timed out (scripted)")


@pytest.mark.parametrize("reader", ["sync", "async"])
async def test_a_transport_error_mid_stream_is_mapped_after_the_chunks_before_it(
    reader: str,
) -> None:
    r = httpx.Response(200, stream=ReadFails((CHUNK,)))
    got: list[str] = []
    with pytest.raises(errors.APITimeoutError):
        if reader == "sync":
            got.extend(c.content or "" for c in iter_chunks(r, "openai"))
        else:
            async for c in aiter_chunks(r, "openai"):
                got.append(c.content or "")
    assert got == ["Hel"]
    assert r.is_closed


class Drained:
    """The direct path's stream (``_aio_stream.AioStream``): it drains its own body."""

    headers = {"content-type": "text/event-stream"}

    def __init__(self, *events: bytes) -> None:
        self.events = events
        self.drained = self.closed = False

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        for e in self.events:
            yield e

    async def drain(self) -> None:
        self.drained = True

    async def aclose(self) -> None:
        self.closed = True


async def test_done_drains_a_stream_that_drains_itself() -> None:
    r = Drained(CHUNK, DONE)
    assert [c.content async for c in aiter_chunks(r, "openai")] == ["Hel"]
    assert r.drained and r.closed
