"""The async fast path (``modelbus_openai._aio``): what it puts on the wire is what the
SDK path puts there, it is used only where that holds, and it is closed with the client.
(The error cases run through it in ``test_faults`` and ``test_fixtures``, async modes.)"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import attrs
import pytest

from modelbus import ChatRequest, ChatResponse, Message, Secret
from modelbus.errors import APIConnectionError, APITimeoutError, ProviderError, RateLimitError
from modelbus.testing.server import FixtureFile, Reply, WireServer, wire_fixtures
from modelbus_openai import OpenAICompatibleProvider
from modelbus_openai._aio import AioPoster, dumps_body
from tests.plugins.openai import wirecheck

REQ = ChatRequest(
    model="gpt-4o-mini",
    messages=(Message("system", "be brief"), Message("user", "héllo")),
    temperature=0.2,
)
# Set per request by the SDK's retry loop, or by aiohttp/httpx themselves.
PER_TRANSPORT = {
    "x-stainless-retry-count",
    "x-stainless-read-timeout",
    "accept-encoding",
    "connection",  # keep-alive: the HTTP/1.1 default, spelled out by httpx only
}


def _sent(srv: WireServer, transport: str, **kw: object) -> tuple[dict[str, str], object]:
    srv.reset()
    p = OpenAICompatibleProvider(
        name="x",
        base_url=srv.base_url,
        async_transport=transport,
        **kw,  # type: ignore[arg-type]
    )

    async def go() -> None:
        resp = await p.achat(REQ)
        assert resp.content == "YES"
        assert (p._aio.get(asyncio.get_running_loop()) is not None) == (transport == "aiohttp")
        await p.aclose()

    asyncio.run(go())
    [r] = srv.requests
    headers = {k.lower(): v for k, v in r.headers.items() if k.lower() not in PER_TRANSPORT}
    headers.pop("content-length", None)
    return headers, r.json


def test_same_headers_and_body_as_the_sdk_path(srv: WireServer) -> None:
    kw = {
        "api_key": Secret("sk-test"),
        "organization": "org-1",
        "project": "proj-1",
        "default_headers": {"X-Extra": "1"},
    }
    fast_headers, fast_body = _sent(srv, "aiohttp", **kw)
    sdk_headers, sdk_body = _sent(srv, "httpx", **kw)
    assert fast_body == sdk_body
    assert fast_headers == sdk_headers
    assert fast_headers["authorization"] == "Bearer sk-test"
    assert fast_headers["openai-organization"] == "org-1"
    assert fast_headers["x-extra"] == "1"
    assert fast_headers["user-agent"].startswith("AsyncOpenAI/Python")


def test_no_key_sends_no_authorization(srv: WireServer) -> None:
    fast_headers, _ = _sent(srv, "aiohttp")
    sdk_headers, _ = _sent(srv, "httpx")
    assert "authorization" not in fast_headers
    assert "openai-organization" not in fast_headers
    assert fast_headers == sdk_headers


def test_status_errors_are_mapped_as_on_the_sdk_path(srv: WireServer) -> None:
    def error(transport: str) -> RateLimitError:
        srv.reset()
        srv.enqueue(Reply.error(429, "Rate limit reached", headers={"Retry-After": "2"}))
        p = OpenAICompatibleProvider(
            name="x", base_url=srv.base_url, api_key=Secret("k"), async_transport=transport
        )

        async def go() -> RateLimitError:
            try:
                with pytest.raises(RateLimitError) as ei:
                    await p.achat(REQ)
                return ei.value
            finally:
                await p.aclose()

        return asyncio.run(go())

    fast, sdk = error("aiohttp"), error("httpx")

    def seen(e: RateLimitError) -> tuple[object, ...]:
        assert e.request_id and e.request_id.startswith("req_")  # the server's x-request-id
        text = str(e).replace(e.request_id, "REQ")
        return type(e), e.status_code, e.retry_after_s, e.code, e.body, e.retryable, text

    assert seen(fast) == seen(sdk)


def test_azure_and_custom_clients_keep_the_sdk_path(srv: WireServer) -> None:
    import openai

    class Custom(OpenAICompatibleProvider):
        def _new_async_client(self) -> openai.AsyncOpenAI:
            class Sub(openai.AsyncOpenAI):
                pass

            return Sub(**self._client_kwargs(), http_client=self._async_http_client())

    p = Custom(name="x", base_url=srv.base_url, api_key=Secret("k"))

    async def go() -> None:
        assert (await p.achat(REQ)).content == "YES"
        assert p._aio[asyncio.get_running_loop()] is None
        await p.aclose()

    asyncio.run(go())


def test_sessions_are_per_loop_and_closed(srv: WireServer) -> None:
    p = OpenAICompatibleProvider(name="x", base_url=srv.base_url)
    posters: list[AioPoster] = []

    async def call() -> None:
        await p.achat(REQ)
        poster = p._aio[asyncio.get_running_loop()]
        assert poster is not None
        posters.append(poster)

    asyncio.run(call())  # closed as asyncio.run shuts the loop down; dropped next call
    asyncio.run(call())
    assert posters[0] is not posters[1]
    assert len(p._aio) == 1

    async def close() -> None:
        await call()
        await p.aclose()

    asyncio.run(close())
    assert posters[-1].session.closed
    assert p._aio == {}
    p.close()


def test_a_session_left_open_is_closed_as_asyncio_run_shuts_its_loop_down(
    srv: WireServer,
) -> None:
    """``asyncio.run(client.achat(...))`` and ``client.close()`` afterwards: the session
    is closed by the loop's shutdown (``shutdown_asyncgens``), while the loop can still
    run it, and not left to aiohttp's "Unclosed client session" at garbage collection."""
    p = OpenAICompatibleProvider(name="x", base_url=srv.base_url)
    posters: list[AioPoster] = []

    async def call() -> None:
        await p.achat(REQ)
        poster = p._aio[asyncio.get_running_loop()]
        assert poster is not None and not poster.session.closed
        posters.append(poster)

    asyncio.run(call())
    assert posters[0].session.closed
    asyncio.run(call())  # the next loop gets a session of its own
    assert posters[1] is not posters[0] and posters[1].session.closed
    p.close()


def test_a_sync_close_inside_the_loop_closes_its_session_on_the_next_await(
    srv: WireServer,
) -> None:
    """``close()`` from sync code in a coroutine (``with client:``) cannot await the
    aiohttp session's close: it runs as a task of the loop, at the caller's next await."""
    p = OpenAICompatibleProvider(name="x", base_url=srv.base_url)

    async def main() -> AioPoster:
        await p.achat(REQ)
        poster = p._aio[asyncio.get_running_loop()]
        assert poster is not None
        p.close()
        assert p._aio == {}
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert poster.session.closed  # now, not only once asyncio.run shuts the loop down
        return poster

    assert asyncio.run(main()).session.closed


def test_loops_running_at_once_in_threads_each_use_their_own_session(srv: WireServer) -> None:
    """The poster of the last loop is taken without asking asyncio for the running loop
    only when that loop runs in the calling thread: two loops in two threads, calling
    in turns, never share one (a session is bound to its loop)."""
    import threading

    p = OpenAICompatibleProvider(name="x", base_url=srv.base_url)
    seen: dict[int, set[int]] = {}
    turn = threading.Barrier(2, timeout=30)

    async def calls(me: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(5):
            turn.wait()  # both threads call between the same two barriers
            assert (await p.achat(REQ)).content == "YES"
            poster = p._async_poster()
            assert poster is not None and poster is p._aio[loop]
            assert poster.session._loop is loop
            seen.setdefault(me, set()).add(id(poster))

    threads = [threading.Thread(target=asyncio.run, args=(calls(i),)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen[0]) == len(seen[1]) == 1 and seen[0] != seen[1]
    p.close()


def test_a_call_after_aclose_opens_a_new_session(srv: WireServer) -> None:
    p = OpenAICompatibleProvider(name="x", base_url=srv.base_url)

    async def go() -> None:
        await p.achat(REQ)
        first = p._async_poster()
        await p.aclose()
        assert first is not None and first.session.closed
        assert (await p.achat(REQ)).content == "YES"
        again = p._async_poster()
        assert again is not None and again is not first and not again.session.closed
        await p.aclose()

    asyncio.run(go())


def test_refused_connection(srv: WireServer) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = OpenAICompatibleProvider(name="x", base_url=f"http://127.0.0.1:{port}/v1")

    async def go() -> None:
        try:
            with pytest.raises(APIConnectionError, match="connection failed"):
                await p.achat(REQ)
        finally:
            await p.aclose()

    asyncio.run(go())


def test_proxy_from_the_environment(srv: WireServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY is honoured (here: a closed port, so the call fails), NO_PROXY too."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    def call() -> str | None:
        p = OpenAICompatibleProvider(name="x", base_url=srv.base_url)

        async def go() -> str | None:
            try:
                return (await p.achat(REQ)).content
            finally:
                await p.aclose()

        return asyncio.run(go())

    with pytest.raises(APIConnectionError):
        call()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert call() == "YES"


CHAT_FIXTURES = [f for f in wire_fixtures(provider="openai") if wirecheck.kind(f) == "chat"]


@pytest.mark.parametrize("f", CHAT_FIXTURES, ids=lambda f: f.name)
def test_achat_posts_on_the_poster_itself_and_answers_as_chat(
    f: FixtureFile, srv: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``achat`` sends on the poster without ``apost_json`` (the other tests of this file
    run that path): the body serialized as ``chat`` sends it, and the response, every
    field and ``raw``, the one ``chat`` makes of the same recorded answer."""
    sent: list[tuple[str, bytes]] = []
    send = AioPoster.send

    async def spy(self: AioPoster, path: str, data: bytes, *a: Any) -> Any:
        sent.append((path, data))
        return await send(self, path, data, *a)

    monkeypatch.setattr(AioPoster, "send", spy)
    p = OpenAICompatibleProvider(name="x", base_url=srv.base_url, api_key=Secret("k"))

    async def not_here(*_a: Any) -> Any:
        raise AssertionError("achat went through apost_json")

    p.apost_json = not_here  # type: ignore[method-assign]
    srv.enqueue(Reply.fixture(f), Reply.fixture(f))

    async def go() -> ChatResponse:
        try:
            return await p.achat(REQ)
        finally:
            await p.aclose()

    fast = asyncio.run(go())
    slow = p.chat(REQ)
    p.close()
    assert sent == [(p.chat_path, dumps_body(p.chat_body(REQ, False)))]
    assert [r.body for r in srv.requests] == [sent[0][1]] * 2
    assert fast == slow and fast.raw == slow.raw
    assert attrs.asdict(fast, recurse=False) == attrs.asdict(slow, recurse=False)


def test_a_subclass_posting_its_own_way_keeps_apost_json(srv: WireServer) -> None:
    """As modelbus-azure does (its URL per deployment): ``achat`` goes through it."""
    paths: list[str] = []

    class Own(OpenAICompatibleProvider):
        async def apost_json(self, path: str, *a: Any, **k: Any) -> dict[str, Any]:
            paths.append(path)
            return await super().apost_json(path, *a, **k)

    p = Own(name="x", base_url=srv.base_url)

    async def go() -> str | None:
        try:
            return (await p.achat(REQ)).content
        finally:
            await p.aclose()

    assert asyncio.run(go()) == "YES"
    assert paths == [p.chat_path]


def _enqueue_body(srv: WireServer, body: bytes, chunked: bool) -> None:
    """A 200 carrying ``body``: chunked (read in pieces) or with a Content-Length."""
    srv.enqueue(
        Reply(status=200, headers={"Content-Type": "application/json"}, events=(body,))
        if chunked
        else Reply.raw(body)
    )


@pytest.mark.parametrize("chunked", [False, True])
def test_a_whole_answer_read_after_its_time_is_up_fails(srv: WireServer, chunked: bool) -> None:
    """``ends_at`` is checked once the body is read, with a Content-Length (one read)
    as without (pieces): an answer that arrives in full too late is a timeout."""
    body = json.dumps({"id": "c", "choices": []}).encode()
    _enqueue_body(srv, body, chunked)
    p = OpenAICompatibleProvider(name="x", base_url=srv.base_url)

    async def go() -> None:
        poster = p._async_poster()
        assert poster is not None
        try:
            with pytest.raises(APITimeoutError, match="did not arrive in full"):
                await poster.send(p.chat_path, b"{}", None, time.monotonic() - 1)
        finally:
            await p.aclose()

    asyncio.run(go())


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_max_bytes_is_refused_on_the_poster(srv: WireServer, chunked: bool) -> None:
    body = json.dumps({"id": "c", "pad": "x" * 4096}).encode()
    _enqueue_body(srv, body, chunked)
    p = OpenAICompatibleProvider(name="x", base_url=srv.base_url)

    async def go() -> None:
        poster = p._async_poster()
        assert poster is not None
        try:
            with pytest.raises(ProviderError, match="max_response_bytes=1024") as ei:
                await poster.send(p.chat_path, b"{}", None, None, 1024)
            assert ei.value.code == "response_too_large" and ei.value.status_code == 200
        finally:
            await p.aclose()

    asyncio.run(go())
