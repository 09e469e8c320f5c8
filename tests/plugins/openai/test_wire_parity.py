"""The same answer to the same wire fault in all four modes: redirects, disconnects and
oversized answers (``modelbus_openai._limits``), through a real Client, the ``openai``
provider (both async transports) and the real SDK over HTTP to the WireServer."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import modelbus
from modelbus import errors
from modelbus.testing.server import Reply, WireServer
from tests.plugins.openai.test_faults import MODES, call

TRANSPORTS = ["aiohttp", "httpx"]


def make(srv: WireServer, transport: str = "aiohttp", **provider: Any) -> modelbus.Client:
    """A client without retries (each fault shows as the error itself)."""
    return modelbus.Client(
        {
            "modelbus": {"provider": "openai", "cache": "none", "retry_policy": "none"},
            "providers": {
                "openai": {
                    "base_url": srv.base_url,
                    "api_key": "sk-test",
                    "async_transport": transport,
                    **provider,
                }
            },
        }
    )


async def fails(client: modelbus.Client, mode: str) -> BaseException:
    try:
        await call(client, mode)
    except Exception as exc:
        return exc
    finally:
        await client.aclose()
    raise AssertionError(f"{mode}: no error")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("mode", MODES)
async def test_a_redirect_is_reported_not_followed(
    mode: str, status: int, transport: str, srv: WireServer
) -> None:
    target = srv.base_url + "/chat/completions"
    srv.enqueue(Reply.raw(b"", status=status, headers={"Location": target}))
    exc = await fails(make(srv, transport), mode)
    assert isinstance(exc, errors.ProviderError) and not exc.retryable
    assert exc.status_code == status
    assert target in str(exc) and "base_url" in str(exc)
    assert len(srv.requests) == 1, "the redirect was followed"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "fault",
    [Reply.close(), Reply.reset(), Reply.truncated()],
    ids=["close", "reset", "truncated"],
)
@pytest.mark.parametrize("mode", MODES)
async def test_a_disconnect_is_a_connection_error(
    mode: str, fault: Reply, transport: str, srv: WireServer
) -> None:
    srv.enqueue(fault)
    exc = await fails(make(srv, transport), mode)
    assert type(exc) is errors.APIConnectionError, repr(exc)
    assert exc.retryable


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_a_stream_cut_mid_way_is_a_connection_error(
    mode: str, transport: str, srv: WireServer
) -> None:
    srv.enqueue(Reply.sse_cut(2))
    exc = await fails(make(srv, transport), mode)
    assert type(exc) is errors.APIConnectionError, repr(exc)


def big_completion(size: int) -> bytes:
    body = {
        "id": "chatcmpl-big",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "x" * size},
                "finish_reason": "stop",
            }
        ],
    }
    return json.dumps(body).encode()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_body_over_the_cap_fails_cleanly(
    mode: str, transport: str, srv: WireServer
) -> None:
    srv.enqueue(Reply.raw(big_completion(1024 * 1024)))
    exc = await fails(make(srv, transport, max_response_bytes=64 * 1024), mode)
    assert isinstance(exc, errors.ProviderError) and not exc.retryable
    assert exc.code == "response_too_large"
    assert "max_response_bytes=65536" in str(exc)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_a_stream_event_over_the_cap_fails_cleanly(
    mode: str, transport: str, srv: WireServer
) -> None:
    # Chunked, so no Content-Length warns: the cap is found while reading. The event
    # never ends (no blank line), as a hostile server would send it.
    huge = b"data: " + b"x" * (1024 * 1024)
    srv.enqueue(Reply(status=200, headers={"Content-Type": "text/event-stream"}, events=(huge,)))
    exc = await fails(make(srv, transport, max_response_bytes=64 * 1024), mode)
    assert isinstance(exc, errors.ProviderError) and exc.code == "response_too_large"
    assert "a stream event" in str(exc)


async def test_many_small_events_add_up_past_the_cap_without_failing(srv: WireServer) -> None:
    # The cap is per event: a long stream of small events is fine.
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": "y" * 900}, "finish_reason": None}],
    }
    srv.enqueue(Reply.sse([chunk] * 100))
    client = make(srv, max_response_bytes=8 * 1024)
    try:
        s = client.stream("hi", model="gpt-4o-mini")
        text = "".join(c.content or "" for c in s)
    finally:
        client.close()
    assert len(text) == 90_000


async def test_a_50_mb_answer_fails_at_the_default_cap(srv: WireServer) -> None:
    # The case, with the default 10 MiB cap: refused from its Content-Length.
    srv.enqueue(Reply.raw(big_completion(50 * 1000 * 1000)))
    exc = await fails(make(srv), "sync")
    assert isinstance(exc, errors.ProviderError) and exc.code == "response_too_large"
    assert "max_response_bytes=10485760" in str(exc)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_chunked_body_over_the_cap_fails_while_reading(
    mode: str, transport: str, srv: WireServer
) -> None:
    # No Content-Length to refuse it by: the cap is met while reading the pieces.
    piece = b" " * (16 * 1024)
    srv.enqueue(
        Reply(status=200, headers={"Content-Type": "application/json"}, events=(piece,) * 64)
    )
    exc = await fails(make(srv, transport, max_response_bytes=64 * 1024), mode)
    assert isinstance(exc, errors.ProviderError) and exc.code == "response_too_large"


@pytest.fixture
def gzip_bomb_url() -> Iterator[str]:
    """A raw HTTP server answering every request with an 8 MiB chat completion
    compressed to a few KiB (``Content-Encoding: gzip``, a small Content-Length)."""
    body = gzip.compress(big_completion(8 * 1024 * 1024))
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                with contextlib.suppress(OSError):
                    conn.sendall(head + body)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    stop.set()
    sock.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_compressed_bomb_is_capped_after_decompression(
    mode: str, transport: str, gzip_bomb_url: str
) -> None:
    client = modelbus.Client(
        {
            "modelbus": {"provider": "openai", "cache": "none", "retry_policy": "none"},
            "providers": {
                "openai": {
                    "base_url": gzip_bomb_url,
                    "api_key": "sk-test",
                    "async_transport": transport,
                    "max_response_bytes": 1024 * 1024,
                }
            },
        }
    )
    exc = await fails(client, mode)
    assert isinstance(exc, errors.ProviderError) and exc.code == "response_too_large"


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_an_embeddings_answer_may_exceed_the_chat_cap_by_its_allowance(
    mode: str, srv: WireServer
) -> None:
    # 8 recorded 1536-d vectors as JSON floats (about 30 KiB each) pass a 64 KiB cap:
    # embeddings get 64 KiB more per input.
    client = make(srv, max_response_bytes=64 * 1024)
    texts = [f"text {i}" for i in range(8)]
    try:
        if mode == "sync":
            resp = client.embed(
                texts, model="text-embedding-3-small", extra_body={"encoding_format": "float"}
            )
        else:
            resp = await client.aembed(
                texts, model="text-embedding-3-small", extra_body={"encoding_format": "float"}
            )
    finally:
        await client.aclose()
    assert len(resp.vectors) == 8
    assert len(srv.requests) == 1
