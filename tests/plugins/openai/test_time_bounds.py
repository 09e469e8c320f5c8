"""Time is bounded, in all four modes, through a real Client, the ``openai`` provider and
the real SDK over real sockets (``modelbus._engine.timeouts``, ``modelbus_openai._limits``).

Wall time is the thing under test here, so these tests use the real clock and real
sockets with short limits (0.3-1 s); each stays under about 2 s.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import modelbus
from modelbus import errors
from modelbus.testing.server import Reply, WireServer
from tests.plugins.openai.test_faults import MODES, call

# What a stalled server may cost beyond the limit (scheduling, connection set-up).
SLACK_S = 0.2


@pytest.fixture
def silent_url() -> Iterator[str]:
    """The base URL of a server that accepts connections (the kernel completes the
    handshake into the listen backlog) and never answers a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    sock.close()


def client_for(
    base_url: str,
    *,
    retry: dict[str, Any] | None = None,
    core: dict[str, Any] | None = None,
    models: dict[str, Any] | None = None,
    **provider: Any,
) -> modelbus.Client:
    """A client on the real clock; no retries unless ``retry`` sets the policy."""
    cfg: dict[str, Any] = {
        "modelbus": {
            "provider": "openai",
            "cache": "none",
            "retry_policy": "exponential" if retry else "none",
            **(core or {}),
        },
        "providers": {"openai": {"base_url": base_url, "api_key": "sk-test", **provider}},
    }
    if retry:
        cfg["retry_policies"] = {"exponential": retry}
    if models:
        cfg["models"] = models
    client = modelbus.Client(cfg)
    # Build the SDK client now: its first import and set-up take seconds on a loaded
    # machine and are not what these tests time.
    assert client.provider("openai").inner.sync_client is not None
    return client


async def timed(coro: Any) -> tuple[BaseException | None, float]:
    t0 = time.monotonic()
    try:
        await coro
    except Exception as exc:
        return exc, time.monotonic() - t0
    return None, time.monotonic() - t0


async def call_with(
    client: modelbus.Client, mode: str, model: str = "gpt-4o-mini", **kw: Any
) -> modelbus.ChatResponse:
    """One call in ``mode`` with keyword arguments ``kw``; streams are read to the end."""
    if mode == "sync":
        return client.chat("hi", model=model, **kw)
    if mode == "async":
        return await client.achat("hi", model=model, **kw)
    if mode == "stream":
        s = client.stream("hi", model=model, **kw)
        for _ in s:
            pass
        return s.response
    a = client.astream("hi", model=model, **kw)
    async for _ in a:
        pass
    return a.response


@pytest.fixture
def trickling_url() -> Iterator[str]:
    """The base URL of a server that answers every request with a declared chat
    completion body sent one byte every 50 ms (about 10 s in all): no single read waits
    long, the whole answer takes far longer than the provider's ``timeout_s``."""
    body = json.dumps(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "x" * 100},
                    "finish_reason": "stop",
                }
            ],
        }
    ).encode()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head = (
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n"
            )
            try:
                conn.sendall(head.encode())
                for i in range(len(body)):
                    if stop.wait(0.05):
                        return
                    conn.sendall(body[i : i + 1])
            except OSError:  # the client gave up: what the tests expect
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    stop.set()
    sock.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_the_providers_timeout_bounds_a_whole_answer_not_each_read(
    mode: str, trickling_url: str
) -> None:
    """``timeout_s`` is the time an attempt may take to read the whole answer (the
    documented setting, ``_settings``): a body trickling in, each read well under it,
    still ends at it. No call ``timeout=``, no model ``timeout_s``, no deadline: the
    provider's own limit is the only one in force."""
    client = client_for(trickling_url, timeout_s=0.6)
    try:
        exc, took = await timed(call_with(client, mode))
    finally:
        await client.aclose()
    assert isinstance(exc, errors.APITimeoutError), repr(exc)
    assert 0.6 - 0.05 <= took <= 0.6 + SLACK_S


@pytest.mark.parametrize("mode", MODES)
async def test_a_silent_server_costs_at_most_the_deadline(mode: str, silent_url: str) -> None:
    # The provider's own timeout (120 s) and the retries are far longer than the deadline:
    # only cutting the attempt in flight keeps the call within deadline_s.
    client = client_for(silent_url, retry={"deadline_s": 1.0, "initial_delay_s": 0.05})
    try:
        exc, took = await timed(call(client, mode))
    finally:
        await client.aclose()
    assert isinstance(exc, errors.APITimeoutError), repr(exc)
    assert 1.0 - 0.05 <= took <= 1.0 + SLACK_S


@pytest.mark.parametrize("mode", MODES)
async def test_the_attempt_in_flight_shrinks_to_what_is_left_of_the_deadline(
    mode: str, silent_url: str
) -> None:
    # 0.6 s per attempt, 1.0 s in all: the second attempt gets only what is left (the
    # issue's case: a 1.5 s deadline used to take 2.3 s).
    client = client_for(silent_url, retry={"deadline_s": 1.0, "initial_delay_s": 0.01})
    try:
        exc, took = await timed(call_with(client, mode, timeout=0.6))
    finally:
        await client.aclose()
    assert isinstance(exc, errors.RetryError), repr(exc)
    assert [a.error_type for a in exc.attempts] == ["APITimeoutError", "APITimeoutError"]
    assert 1.0 - 0.05 <= took <= 1.0 + SLACK_S


@pytest.mark.parametrize("mode", MODES)
async def test_a_per_call_timeout_is_honoured(mode: str, srv: WireServer) -> None:
    srv.enqueue(Reply.stall(3.0))
    client = client_for(srv.base_url)
    try:
        exc, took = await timed(call_with(client, mode, timeout=0.3))
    finally:
        await client.aclose()
    assert isinstance(exc, errors.APITimeoutError), repr(exc)
    assert 0.3 - 0.05 <= took <= 0.3 + SLACK_S


@pytest.mark.parametrize("mode", MODES)
async def test_a_per_call_timeout_may_exceed_the_providers(mode: str, srv: WireServer) -> None:
    # The call's timeout replaces the provider's timeout_s, also when it is longer.
    srv.enqueue(Reply.stall(0.5))
    client = client_for(srv.base_url, timeout_s=0.2)
    try:
        resp = await call_with(client, mode, timeout=1.5)
    finally:
        await client.aclose()
    assert resp.message.content


@pytest.mark.parametrize("mode", MODES)
async def test_the_models_timeout_applies_and_the_call_overrides_it(
    mode: str, srv: WireServer
) -> None:
    client = client_for(srv.base_url, models={"quick": {"model": "gpt-4o-mini", "timeout_s": 0.3}})
    try:
        srv.enqueue(Reply.stall(3.0))
        exc, took = await timed(call_with(client, mode, model="quick"))
        assert isinstance(exc, errors.APITimeoutError), repr(exc)
        assert took <= 0.3 + SLACK_S
        srv.enqueue(Reply.stall(0.5))
        assert (await call_with(client, mode, model="quick", timeout=2.0)).message.content
    finally:
        await client.aclose()


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_a_stream_stalled_mid_way_fails_after_the_idle_timeout(
    mode: str, srv: WireServer
) -> None:
    srv.enqueue(Reply.stall_after(2, 5.0))
    client = client_for(srv.base_url, core={"stream_idle_timeout_s": 0.3})
    got: list[Any] = []
    try:
        if mode == "stream":
            s = client.stream("hi", model="gpt-4o-mini")
            t0 = time.monotonic()
            with pytest.raises(errors.APITimeoutError) as info:
                for chunk in s:
                    got.append(chunk)
                    t0 = time.monotonic()
        else:
            a = client.astream("hi", model="gpt-4o-mini")
            t0 = time.monotonic()
            with pytest.raises(errors.APITimeoutError) as info:
                async for chunk in a:
                    got.append(chunk)
                    t0 = time.monotonic()
        stalled = time.monotonic() - t0
    finally:
        await client.aclose()
    assert len(got) == 2  # the chunks before the stall were delivered, then it failed
    assert 0.3 - 0.05 <= stalled <= 0.3 + SLACK_S
    assert len(srv.requests) == 1, "a stream that delivered chunks is not retried"
    assert info.value.provider == "openai"


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_a_stream_stalled_before_its_first_chunk_is_retried(
    mode: str, srv: WireServer
) -> None:
    # Nothing was delivered yet: the stall is an attempt timing out, and retried.
    srv.enqueue(Reply.stall_after(0, 5.0))
    client = client_for(
        srv.base_url,
        retry={"initial_delay_s": 0.01},
        core={"stream_idle_timeout_s": 0.3},
    )
    try:
        resp = await call(client, mode)
    finally:
        await client.aclose()
    assert resp.attempts == 2 and resp.message.content


def test_the_documented_defaults() -> None:
    # docs/how-to/timeouts.md: connect 5 s, attempt 120 s (openai, azure), idle 60 s,
    # 10 MiB per answer; openai-python itself: 600 s, connect 5 s.
    import openai._constants

    from modelbus_azure._settings import AzureSettings
    from modelbus_openai._settings import OpenAISettings

    for s in (OpenAISettings(), AzureSettings()):
        assert (s.timeout_s, s.connect_timeout_s) == (120.0, 5.0)
        assert s.max_response_bytes == 10 * 1024 * 1024
    assert modelbus.CoreSettings().stream_idle_timeout_s == 60.0
    sdk = openai._constants.DEFAULT_TIMEOUT
    assert (sdk.read, sdk.connect) == (600, 5.0)


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_keep_alives_do_not_stretch_the_wait_for_the_first_chunk(
    mode: str, srv: WireServer
) -> None:
    # Comments every 50 ms keep every read short, but no chunk comes: the attempt's
    # timeout still ends the wait (checked between reads in sync mode too).
    ping = b": keep-alive\n\n"
    srv.enqueue(
        Reply(
            status=200,
            headers={"Content-Type": "text/event-stream"},
            events=(ping,) * 60,
            event_delay=0.05,
        )
    )
    client = client_for(srv.base_url)
    try:
        exc, took = await timed(call_with(client, mode, timeout=0.5))
    finally:
        await client.aclose()
    assert isinstance(exc, errors.APITimeoutError), repr(exc)
    assert 0.5 - 0.05 <= took <= 0.5 + SLACK_S


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_a_short_call_timeout_also_bounds_each_silence_of_a_stream(
    mode: str, srv: WireServer
) -> None:
    client = client_for(srv.base_url)  # idle timeout 60 s: the call's 0.4 s is shorter
    got: list[Any] = []
    try:
        # A first, untimed stream builds the provider and its transport: the timed one
        # below measures the stream's silences, not first-use imports on a busy machine.
        await collect(client, mode, [])
        srv.enqueue(Reply.stall_after(2, 1.5))
        exc, _ = await timed(collect(client, mode, got, timeout=0.4))
    finally:
        await client.aclose()
    assert isinstance(exc, errors.APITimeoutError), repr(exc)
    assert len(got) == 2 and len(srv.requests) == 2


async def collect(client: modelbus.Client, mode: str, into: list[Any], **kw: Any) -> None:
    """Read a stream into ``into`` (what was delivered before a failure stays there)."""
    if mode == "stream":
        for chunk in client.stream("hi", model="gpt-4o-mini", **kw):
            into.append(chunk)
        return
    async for chunk in client.astream("hi", model="gpt-4o-mini", **kw):
        into.append(chunk)


def test_a_first_event_read_late_is_kept_and_keep_alives_are_not() -> None:
    """A busy loop or thread may read the first event after the attempt's time is up
    although the server sent it in time: failing it would re-send an answered request
    (the campaign saw 200 concurrent astreams re-sent this way). Keep-alive comments
    past the time still end the wait, also with a ``data`` split between reads."""
    from modelbus_openai._limits import SseGuard

    past = time.monotonic() - 1.0
    with pytest.raises(errors.APITimeoutError, match="only keep-alives"):
        SseGuard("openai", 1 << 20, {}, first_by=past).check(b": keep-alive\n\n")
    split = SseGuard("openai", 1 << 20, {}, first_by=time.monotonic() + 60)
    split.check(b": ping\n\nda")
    split.first_by = past
    split.check(b'ta: {"choices": []}\n\n')  # "data:" across two reads: content
    split.check(b": ping\n\n")  # the first event came: only the idle timeout applies now
    for piece in (b'data: {"id": "c"}\n\n', b"\r\ndata: {}\r\n\r\n"):
        SseGuard("openai", 1 << 20, {}, first_by=past).check(piece)
    with pytest.raises(errors.APITimeoutError):
        SseGuard("openai", 1 << 20, {}, first_by=past).check(b"event: x\n: metadata\n\n")
