"""The fault script: what a real modelbus.Client (exponential retry policy, FakeClock so
nothing sleeps for real) does when the server misbehaves, for sync, async and streaming
calls through the ``openai`` provider and the real SDK over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

import modelbus
from modelbus import errors
from modelbus.testing import FakeClock
from modelbus.testing.server import Reply, WireServer
from tests.plugins.openai.conftest import MakeClient

MODES = ["sync", "async", "stream", "astream"]


async def call(client: modelbus.Client, mode: str) -> modelbus.ChatResponse:
    """One chat call in ``mode``; streams are read to the end."""
    if mode == "sync":
        return client.chat("hi", model="gpt-4o-mini")
    if mode == "async":
        return await client.achat("hi", model="gpt-4o-mini")
    if mode == "stream":
        s = client.stream("hi", model="gpt-4o-mini")
        for _ in s:
            pass
        return s.response
    a = client.astream("hi", model="gpt-4o-mini")
    async for _ in a:
        pass
    return a.response


@pytest.fixture
async def client(make_client: MakeClient) -> Any:
    c = make_client()
    yield c
    await c.aclose()


def err(status: int, **kw: Any) -> Reply:
    return Reply.error(status, **kw)


@pytest.mark.parametrize("mode", MODES)
async def test_500_500_200_takes_three_attempts(
    mode: str, srv: WireServer, client: Any, fake_clock: FakeClock
) -> None:
    srv.enqueue(err(500), err(500))
    resp = await call(client, mode)
    assert resp.attempts == 3 and resp.message.content
    assert len(srv.requests) == 3
    assert len(fake_clock.sleeps) == 2


@pytest.mark.parametrize("mode", MODES)
async def test_429_retry_after_is_slept(
    mode: str, srv: WireServer, client: Any, fake_clock: FakeClock
) -> None:
    srv.enqueue(
        err(
            429,
            message="Rate limit reached",
            code="rate_limit_exceeded",
            headers={"Retry-After": "2"},
        )
    )
    resp = await call(client, mode)
    assert resp.attempts == 2
    assert fake_clock.sleeps == [2.0]


@pytest.mark.parametrize("mode", ["sync", "astream"])
async def test_retry_after_ms_wins(
    mode: str, srv: WireServer, client: Any, fake_clock: FakeClock
) -> None:
    srv.enqueue(err(429, headers={"retry-after-ms": "1500", "Retry-After": "9"}))
    await call(client, mode)
    assert fake_clock.sleeps == [1.5]


@pytest.mark.parametrize("mode", MODES)
async def test_x_should_retry_false_stops_at_once(
    mode: str, srv: WireServer, client: Any, fake_clock: FakeClock
) -> None:
    srv.enqueue(err(503, headers={"x-should-retry": "false"}))
    with pytest.raises(errors.ServerError) as info:
        await call(client, mode)
    assert info.value.should_retry is False and info.value.status_code == 503
    assert len(srv.requests) == 1 and fake_clock.sleeps == []


@pytest.mark.parametrize("mode", ["sync", "stream"])
async def test_x_should_retry_true_retries_a_400(mode: str, srv: WireServer, client: Any) -> None:
    srv.enqueue(err(400, headers={"x-should-retry": "true"}))
    assert (await call(client, mode)).attempts == 2


@pytest.mark.parametrize("mode", MODES)
async def test_400_is_not_retried(mode: str, srv: WireServer, client: Any) -> None:
    srv.enqueue(
        err(
            400, message="Unsupported parameter: 'stop'", param="stop", code="unsupported_parameter"
        )
    )
    with pytest.raises(errors.BadRequestError) as info:
        await call(client, mode)
    assert "'stop'" in info.value.hint
    assert len(srv.requests) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_insufficient_quota_is_not_retried(mode: str, srv: WireServer, client: Any) -> None:
    srv.enqueue(Reply.fixture("openai/error_429_insufficient_quota"))
    with pytest.raises(errors.RateLimitError) as info:
        await call(client, mode)
    assert info.value.retryable is False and info.value.code == "insufficient_quota"
    assert "credits" in info.value.hint
    assert len(srv.requests) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_exhausted_retries_list_every_attempt(
    mode: str, srv: WireServer, client: Any
) -> None:
    srv.enqueue(err(500), err(502), err(503))
    with pytest.raises(errors.RetryError) as info:
        await call(client, mode)
    assert [a.status_code for a in info.value.attempts] == [500, 502, 503]
    assert isinstance(info.value.last_error, errors.ServerError)


@pytest.mark.parametrize(
    ("mode", "fault"),
    [
        (m, f)
        for m in MODES
        for f in ("reset", "close", "truncated", "invalid_json")
        if not (f == "truncated" and "stream" in m)  # a mid-way cut: see test_stream_cut_midway_*
    ],
)
async def test_broken_responses_are_retried(
    mode: str, fault: str, srv: WireServer, client: Any
) -> None:
    """Connection reset, a disconnect without response, a body cut short and a 200 that
    is not JSON are all retryable; the next attempt gets the recorded reply. (A stream
    truncated after its first chunks is the mid-way cut below: not retried.)"""
    if fault == "invalid_json" and mode in ("stream", "astream"):
        reply = Reply.sse(["{not json"], done=True)
    else:
        reply = {
            "reset": Reply.reset(),
            "close": Reply.close(),
            "truncated": Reply.truncated(),
            "invalid_json": Reply.invalid_json(),
        }[fault]
    srv.enqueue(reply)
    resp = await call(client, mode)
    assert resp.attempts == 2 and resp.message.content


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
async def test_broken_response_errors(mode: str, srv: WireServer, make_client: MakeClient) -> None:
    """Without retries, each fault surfaces as the documented error type."""
    c = make_client(core={"retry_policy": "none"})
    try:
        srv.enqueue(Reply.reset())
        with pytest.raises(errors.APIConnectionError):
            await call(c, mode)
        srv.enqueue(Reply.truncated(sent=5 if "stream" in mode else None))
        with pytest.raises(errors.APIConnectionError):
            await call(c, mode)
        bad = Reply.sse(["{not json"]) if "stream" in mode else Reply.invalid_json()
        srv.enqueue(bad)
        with pytest.raises(errors.ServerError, match="not valid JSON"):
            await call(c, mode)
    finally:
        await c.aclose()


@pytest.mark.parametrize("mode", MODES)
async def test_stall_past_the_timeout(mode: str, srv: WireServer, make_client: MakeClient) -> None:
    """A server that answers after the read timeout gives APITimeoutError; it is retried.
    (Real time: one 0.2 s timeout.)"""
    c = make_client(timeout_s=0.2)
    try:
        srv.enqueue(Reply.stall(30))
        resp = await call(c, mode)
        assert resp.attempts == 2
        srv.enqueue(Reply.stall(30))
        c2 = make_client(timeout_s=0.2, core={"retry_policy": "none"})
        with pytest.raises(errors.APITimeoutError):
            await call(c2, mode)
        await c2.aclose()
    finally:
        await c.aclose()


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_stream_cut_before_any_event_is_retried(
    mode: str, srv: WireServer, client: Any
) -> None:
    srv.enqueue(Reply.sse_cut(0))
    resp = await call(client, mode)
    assert resp.attempts == 2 and resp.usage.total_tokens > 0


async def test_stream_cut_midway_raises_after_the_chunks_sent(srv: WireServer, client: Any) -> None:
    """After the first chunk a stream is not retried (the caller has seen text): the cut
    is raised as APIConnectionError, and no second request is made."""
    srv.enqueue(Reply.sse_cut(5))
    seen: list[Any] = []
    with pytest.raises(errors.APIConnectionError):
        for chunk in client.stream("hi", model="gpt-4o-mini"):
            seen.append(chunk)
    assert len(seen) == 5 and len(srv.requests) == 1
    srv.enqueue(Reply.sse_cut(5))
    aseen: list[Any] = []
    with pytest.raises(errors.APIConnectionError):
        async for chunk in client.astream("hi", model="gpt-4o-mini"):
            aseen.append(chunk)
    assert len(aseen) == 5 and len(srv.requests) == 2


def sse_raw(*events: bytes) -> Reply:
    """A stream of raw SSE events, sent exactly as given."""
    return Reply(headers=[("Content-Type", "text/event-stream")], events=events)


CHUNK = (
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
)


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_stream_ending_without_done_is_an_error(
    mode: str, srv: WireServer, client: Any
) -> None:
    """A cleanly closed body without ``data: [DONE]`` is a truncated answer, not a
    complete one."""
    srv.enqueue(sse_raw(CHUNK))
    with pytest.raises(errors.APIConnectionError, match=r"\[DONE\]"):
        await call(client, mode)
    assert len(srv.requests) == 1


async def test_error_event_inside_a_stream(srv: WireServer, client: Any) -> None:
    """OpenAI reports errors that happen after the 200 as an ``error`` payload in the
    stream; comment lines and CRLF line ends are handled."""
    srv.enqueue(
        sse_raw(
            b": keep-alive comment\r\n\r\n",
            CHUNK,
            b'event: error\ndata: {"error": {"message": "The server had an error while '
            b'processing your request.", "type": "server_error", "param": null, '
            b'"code": null}}\n\n',
        )
    )
    got: list[str] = []
    with pytest.raises(errors.ServerError, match="server had an error") as info:
        for chunk in client.stream("hi", model="gpt-4o-mini"):
            got.append(chunk.content or "")
    assert got == ["Hel"] and info.value.status_code is None


async def test_azure_day_long_retry_after_is_not_waited(
    srv: WireServer, client: Any, fake_clock: FakeClock
) -> None:
    """A 429 asking for 86400 s is over max_retry_after_s: raised at once, hint kept."""
    srv.enqueue(Reply.fixture("azure/error_429_token_rate_limit"))
    with pytest.raises(errors.RateLimitError) as info:
        client.chat("hi", model="gpt-4o-mini")
    assert info.value.retry_after_s == 86400.0
    assert fake_clock.sleeps == [] and len(srv.requests) == 1
