"""The direct paths (``modelbus_openai._direct``, ``_headers``): what they put on the wire is
byte for byte what the SDK path puts there, errors come out the same, they are used only
for the plain SDK clients, and a process that only chats never imports ``openai`` or
``pydantic``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from modelbus import ChatRequest, Message, Secret
from modelbus.errors import APIConnectionError, RateLimitError
from modelbus.testing.server import Reply, WireServer
from modelbus_openai import OpenAICompatibleProvider
from modelbus_openai._direct import CONNECTION_LIMITS

REQ = ChatRequest(
    model="gpt-4o-mini",
    messages=(Message("system", "be brief"), Message("user", 'héllo \u2028 "q"')),
    temperature=0.2,
    stop=("x",),
)


class ViaSDK(OpenAICompatibleProvider):
    """The same provider on the SDK path: a subclass making its own SDK clients."""

    def _new_sync_client(self) -> Any:
        return super()._new_sync_client()


def _sent(srv: WireServer, cls: type[OpenAICompatibleProvider], **kw: Any) -> Any:
    srv.reset()
    p = cls(name="x", base_url=srv.base_url, **kw)
    try:
        assert p.direct == (cls is OpenAICompatibleProvider)
        assert p.chat(REQ).content == "YES"
    finally:
        p.close()
    [r] = srv.requests
    return r


@pytest.mark.parametrize(
    "kw",
    [
        {
            "api_key": Secret("sk-test"),
            "organization": "org-1",
            "project": "proj-1",
            "default_headers": {"X-Extra": "1", "user-agent": "mine/1"},
            "timeout_s": 33.0,
        },
        {},  # no key: no Authorization at all
    ],
)
def test_sync_sends_the_sdks_headers_and_bytes(srv: WireServer, kw: dict[str, Any]) -> None:
    fast, sdk = _sent(srv, OpenAICompatibleProvider, **kw), _sent(srv, ViaSDK, **kw)
    assert fast.body == sdk.body  # the same bytes, serialized as the SDK does
    assert fast.method == sdk.method and fast.path == sdk.path
    # Every header, the SDK's per-request ones included, in the same order.
    assert list(fast.headers.raw) == list(sdk.headers.raw)
    if kw:
        assert fast.headers["authorization"] == "Bearer sk-test"
        assert fast.headers["user-agent"] == "mine/1"
        assert fast.headers["x-stainless-read-timeout"] == "33.0"
    else:
        assert "authorization" not in fast.headers


def test_stream_sends_the_same_request(srv: WireServer) -> None:
    def sent(cls: type[OpenAICompatibleProvider]) -> Any:
        srv.reset()
        p = cls(name="x", base_url=srv.base_url, api_key=Secret("sk-test"))
        try:
            chunks = list(p.stream(REQ))
        finally:
            p.close()
        assert "".join(c.content or "" for c in chunks)
        [r] = srv.requests
        return r

    fast, sdk = sent(OpenAICompatibleProvider), sent(ViaSDK)
    assert fast.body == sdk.body
    assert list(fast.headers.raw) == list(sdk.headers.raw)


def test_status_errors_are_mapped_as_on_the_sdk_path(srv: WireServer) -> None:
    def error(cls: type[OpenAICompatibleProvider], stream: bool) -> RateLimitError:
        srv.reset()
        srv.enqueue(Reply.error(429, "Rate limit reached", headers={"Retry-After": "2"}))
        p = cls(name="x", base_url=srv.base_url, api_key=Secret("sk-test"))
        try:
            with pytest.raises(RateLimitError) as info:
                if stream:
                    list(p.stream(REQ))
                else:
                    p.chat(REQ)
        finally:
            p.close()
        return info.value

    for stream in (False, True):
        fast, sdk = error(OpenAICompatibleProvider, stream), error(ViaSDK, stream)
        assert (fast.status_code, fast.retry_after_s, fast.body) == (
            sdk.status_code,
            sdk.retry_after_s,
            sdk.body,
        )
        assert fast.request_id and fast.request_id.startswith("req_")  # the server's own
        assert str(fast).replace(fast.request_id, "") == str(sdk).replace(sdk.request_id or "", "")


def test_a_refused_connection_is_an_api_connection_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = OpenAICompatibleProvider(name="x", base_url=f"http://127.0.0.1:{port}/v1")
    try:
        with pytest.raises(APIConnectionError, match="connection failed"):
            p.chat(REQ)
        with pytest.raises(APIConnectionError, match="connection failed"):
            list(p.stream(REQ))
    finally:
        p.close()


def test_the_connection_limits_are_the_sdks() -> None:
    from openai._constants import DEFAULT_CONNECTION_LIMITS as sdk

    assert (
        sdk.max_connections,
        sdk.max_keepalive_connections,
        sdk.keepalive_expiry,
    ) == CONNECTION_LIMITS


def test_the_async_headers_are_the_sdks(srv: WireServer) -> None:
    # The aiohttp path's headers come from _headers now: the SDK's async client's own.
    import openai

    from modelbus_openai._aio import _merge_headers

    p = OpenAICompatibleProvider(
        name="x", base_url=srv.base_url, api_key=Secret("sk-test"), organization="org-1"
    )

    async def go() -> None:
        sdk = p.async_client()
        assert isinstance(sdk, openai.AsyncOpenAI)
        want = _merge_headers(
            sdk.auth_headers, sdk.default_headers, p._sdk_options().get("headers") or {}
        )
        assert list(p._headers(True).items()) == list(want.items())
        await p.aclose()

    asyncio.run(go())


CHILD = """
import asyncio, json, sys
from modelbus import Client
c = Client({"modelbus": {"provider": "openai", "cache": "none"},
            "providers": {"openai": {"base_url": %r, "api_key": "sk-test"}}})
assert c.chat("hi", model="gpt-4o-mini").content
assert "".join(x.content or "" for x in c.stream("hi", model="gpt-4o-mini"))
async def go():
    assert (await c.achat("hi", model="gpt-4o-mini")).content
    assert "".join([x.content or "" async for x in c.astream("hi", model="gpt-4o-mini")])
    await c.aclose()
asyncio.run(go())
print(json.dumps([m for m in ("openai", "pydantic") if m in sys.modules]))
"""


def test_a_process_that_chats_imports_neither_openai_nor_pydantic(srv: WireServer) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD % srv.base_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert len(srv.requests) == 4


def _astream(srv: WireServer, transport: str, fail: bool = False, chat: bool = False) -> Any:
    srv.reset()
    if fail:
        srv.enqueue(Reply.error(429, "Rate limit reached", headers={"Retry-After": "2"}))
    p = OpenAICompatibleProvider(
        name="x", base_url=srv.base_url, api_key=Secret("sk-test"), async_transport=transport
    )

    async def go() -> Any:
        try:
            if chat:
                return (await p.achat(REQ)).content
            return "".join([c.content or "" async for c in p.astream(REQ)])
        except RateLimitError as exc:
            return exc
        finally:
            await p.aclose()

    out = asyncio.run(go())
    [r] = srv.requests
    return out, r


_PER_TRANSPORT = {"x-stainless-retry-count", "x-stainless-read-timeout", "accept-encoding"}
_PER_TRANSPORT |= {"connection", "content-length"}


def test_async_chat_sends_the_same_request(srv: WireServer) -> None:
    # achat on aiohttp (direct) against httpx (the SDK path): the same headers in the
    # same order (per-transport ones aside) and the same bytes.
    (fast_text, fast), (sdk_text, sdk) = (
        _astream(srv, "aiohttp", chat=True),
        _astream(srv, "httpx", chat=True),
    )
    assert fast_text == sdk_text and fast_text
    assert fast.body == sdk.body

    def headers(r: Any) -> list[tuple[str, str]]:
        return [(k.lower(), v) for k, v in r.headers.items() if k.lower() not in _PER_TRANSPORT]

    assert ("authorization", "Bearer sk-test") in headers(fast)
    assert headers(fast) == headers(sdk)


def test_async_streams_send_the_same_request_and_errors(srv: WireServer) -> None:
    # aiohttp (direct) against httpx (the SDK path): per-transport headers aside.
    per_transport = _PER_TRANSPORT
    (fast_text, fast), (sdk_text, sdk) = _astream(srv, "aiohttp"), _astream(srv, "httpx")
    assert fast_text == sdk_text and fast_text
    assert fast.body == sdk.body

    def headers(r: Any) -> dict[str, str]:
        return {k.lower(): v for k, v in r.headers.items() if k.lower() not in per_transport}

    assert headers(fast) == headers(sdk)
    (fast_err, _), (sdk_err, _) = _astream(srv, "aiohttp", True), _astream(srv, "httpx", True)
    assert isinstance(fast_err, RateLimitError) and isinstance(sdk_err, RateLimitError)
    assert (fast_err.status_code, fast_err.retry_after_s, fast_err.body) == (
        sdk_err.status_code,
        sdk_err.retry_after_s,
        sdk_err.body,
    )
