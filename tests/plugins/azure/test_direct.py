"""The ``azure`` provider's direct paths (``modelbus_azure._direct`` over modelbus-openai's
``_direct`` / ``_aio``): what they put on the wire is what ``AzureOpenAI`` /
``AsyncAzureOpenAI`` put there — URL, api-version, every header in order, the body byte
for byte — in the four modes and the three kinds of credential; errors come out the
same; and a process that chats on an Azure model imports neither ``openai`` nor
``pydantic``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from openai._utils import path_template

from modelbus import ChatRequest, EmbeddingRequest, Message, Secret
from modelbus.errors import (
    AuthenticationError,
    ConfigError,
    ContentFilterError,
    RateLimitError,
)
from modelbus.testing.server import RecordedRequest, Reply, WireServer
from modelbus_azure import AzureOpenAIProvider, AzureSettings
from modelbus_azure._direct import route

REQ = ChatRequest(
    model="gpt-4o",
    messages=(Message("system", "be brief"), Message("user", 'héllo \u2028 "q"')),
    temperature=0.2,
    stop=("x",),
)
MODES = ("chat", "stream", "achat", "astream")
# The framing headers each HTTP client adds itself (the SDK's async transport hands
# aiohttp httpx2's, direct aiohttp adds its own): compared by value, not by position.
FRAMING = {"host", "accept-encoding", "connection", "content-length"}


class ViaSDK(AzureOpenAIProvider):
    """The same provider on the SDK path (``AzureOpenAI``, ``AsyncAzureOpenAI`` on
    aiohttp): a subclass making its own SDK clients."""

    def _new_sync_client(self) -> Any:
        return super()._new_sync_client()

    def _new_async_client(self) -> Any:
        return super()._new_async_client()


def _tokens() -> Callable[[], str]:
    n = iter(range(1, 1000))
    return lambda: f"entra-token-{next(n)}"


AUTH: dict[str, dict[str, Any]] = {
    "api_key": {"api_key": Secret("az-key-0123456789")},
    "ad_token": {"api_key": None, "ad_token": Secret("ad-token-0123456789")},
    "token_provider": {"api_key": None, "token_provider": True},
}


def _provider(
    srv: WireServer, cls: type[AzureOpenAIProvider], auth: str, **kw: Any
) -> AzureOpenAIProvider:
    settings = {**AUTH[auth], **kw}
    tp = _tokens() if settings.pop("token_provider", False) else None
    s = AzureSettings(
        endpoint=srv.origin,
        api_version=settings.pop("api_version", "2025-01-01-preview"),
        deployments={"gpt-4o": "my-gpt4o", "text-embedding-3-small": "emb"},
        **settings,
    )
    return cls(s, token_provider=tp)


def _run(p: AzureOpenAIProvider, mode: str, req: Any = REQ) -> Any:
    """One call in ``mode`` (closing the provider after); returns its text, or the
    ProviderError it raised."""

    async def go() -> Any:
        try:
            if mode == "achat":
                return (await p.achat(req)).content
            if mode == "astream":
                return "".join([c.content or "" async for c in p.astream(req)])
            if mode == "aembed":
                return (await p.aembed(req)).vectors
        except Exception as exc:
            return exc
        finally:
            await p.aclose()

    if mode.startswith("a"):
        return asyncio.run(go())
    try:
        if mode == "chat":
            return p.chat(req).content
        if mode == "stream":
            return "".join(c.content or "" for c in p.stream(req))
        return p.embed(req).vectors
    except Exception as exc:
        return exc
    finally:
        p.close()


def _sent(srv: WireServer, cls: type[AzureOpenAIProvider], auth: str, mode: str, **kw: Any) -> Any:
    srv.reset()
    req = kw.pop("req", REQ)
    p = _provider(srv, cls, auth, **kw)
    assert p.direct == (cls is AzureOpenAIProvider)
    out = _run(p, mode, req)
    [r] = srv.requests
    return out, r


def _headers(r: RecordedRequest) -> list[tuple[str, str]]:
    return [(k.lower(), v) for k, v in r.headers.raw if k.lower() not in FRAMING]


@pytest.mark.parametrize("auth", sorted(AUTH))
@pytest.mark.parametrize("mode", MODES)
def test_each_mode_sends_what_the_azure_sdk_sends(srv: WireServer, mode: str, auth: str) -> None:
    kw = {"default_headers": {"X-Extra": "1"}}
    (fast_out, fast), (sdk_out, sdk) = (
        _sent(srv, AzureOpenAIProvider, auth, mode, **kw),
        _sent(srv, ViaSDK, auth, mode, **kw),
    )
    assert fast_out == sdk_out and isinstance(fast_out, str) and fast_out
    assert fast.body == sdk.body  # the same bytes, serialized as the SDK does
    assert (fast.method, fast.path, fast.query) == (sdk.method, sdk.path, sdk.query)
    assert fast.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert fast.query == {"api-version": "2025-01-01-preview"}
    # Every header the SDK sets, its per-request ones included, in the same order...
    assert _headers(fast) == _headers(sdk)
    if not mode.startswith("a"):  # ...and on httpx2 the framing ones too, in place.
        assert list(fast.headers.raw) == list(sdk.headers.raw)
    for name in ("host", "accept-encoding", "content-length"):
        assert fast.headers[name] == sdk.headers[name]
    h = fast.headers
    assert h["x-extra"] == "1"
    assert h["x-stainless-retry-count"] == "0"
    # The SDK's read timeout: timeout_s (120 s), a stream's first chunk 60 s at most.
    assert h["x-stainless-read-timeout"] == ("60.0" if "stream" in mode else "120.0")
    if auth == "api_key":
        assert h["api-key"] == "az-key-0123456789" and "authorization" not in h
    else:
        assert "api-key" not in h
        want = "Bearer ad-token-0123456789" if auth == "ad_token" else "Bearer entra-token-1"
        assert h["authorization"] == want


def test_a_user_agent_in_default_headers_wins_as_in_the_sdk(srv: WireServer) -> None:
    kw = {"default_headers": {"user-agent": "mine/1", "api-key": "not-this-one"}, "timeout_s": 33.0}
    (_, fast), (_, sdk) = (
        _sent(srv, AzureOpenAIProvider, "api_key", "chat", **kw),
        _sent(srv, ViaSDK, "api_key", "chat", **kw),
    )
    assert list(fast.headers.raw) == list(sdk.headers.raw)
    assert fast.headers["user-agent"] == "mine/1"
    assert fast.headers["x-stainless-read-timeout"] == "33.0"
    assert fast.headers["api-key"] == "az-key-0123456789"  # the credential, not the header


def test_a_subclass_making_either_sdk_client_keeps_the_sdk_path(srv: WireServer) -> None:
    class OwnAsync(AzureOpenAIProvider):
        def _new_async_client(self) -> Any:
            return super()._new_async_client()

    p = _provider(srv, OwnAsync, "api_key")
    assert not p.direct
    _run(p, "chat")
    assert srv.requests[0].headers["user-agent"].startswith("AzureOpenAI/")


def test_an_authorization_default_header_never_goes_with_azure_auth(srv: WireServer) -> None:
    """The credential is the provider's (api-key here): a hand-set Authorization header
    is dropped on the direct path and on the SDK's (the Models API), as before."""
    kw = {"default_headers": {"Authorization": "Bearer not-mine-0123"}}
    srv.enqueue(Reply.json({"object": "list", "data": []}))
    p = _provider(srv, AzureOpenAIProvider, "api_key", **kw)
    try:
        assert p.list_models() == []
        p.chat(REQ)
    finally:
        p.close()
    for r in srv.requests:
        assert "authorization" not in r.headers and r.headers["api-key"] == "az-key-0123456789"


@pytest.mark.parametrize("mode", ["embed", "aembed"])
def test_embeddings_send_what_the_sdk_sends(srv: WireServer, mode: str) -> None:
    req = EmbeddingRequest(model="text-embedding-3-small", input=("a", "b"), dimensions=8)
    (fast_out, fast), (sdk_out, sdk) = (
        _sent(srv, AzureOpenAIProvider, "api_key", mode, req=req),
        _sent(srv, ViaSDK, "api_key", mode, req=req),
    )
    assert fast_out == sdk_out and len(fast_out) == 2
    assert fast.path == sdk.path == "/openai/deployments/emb/embeddings"
    assert fast.query == sdk.query and fast.body == sdk.body
    assert _headers(fast) == _headers(sdk)


@pytest.mark.parametrize("mode", MODES)
def test_azure_errors_come_out_as_on_the_sdk_path(srv: WireServer, mode: str) -> None:
    """The content filter's 400 → ContentFilterError with its categories; a real Azure
    429 (apim-request-id, x-ms-region, the wait only in the message) → RateLimitError
    with Azure's request id and that wait."""

    def error(cls: type[AzureOpenAIProvider], fixture: str) -> Any:
        srv.reset()
        # The recorded 400 has no request id: give it Azure's, the same on both paths.
        srv.enqueue(Reply.fixture(fixture, headers={"apim-request-id": "cf-0123"}))
        return _run(_provider(srv, cls, "api_key"), mode)

    for fixture, kind in (
        ("azure/error_400_content_filter", ContentFilterError),
        ("azure/error_429_rate_limit", RateLimitError),
    ):
        fast, sdk = error(AzureOpenAIProvider, fixture), error(ViaSDK, fixture)
        assert type(fast) is type(sdk) is kind
        fields = ("status_code", "request_id", "retry_after_s", "code", "body", "retryable")
        assert [getattr(fast, f) for f in fields] == [getattr(sdk, f) for f in fields]
        assert str(fast) == str(sdk)
    assert fast.request_id == "cf-0123"  # Azure's apim-request-id
    assert fast.retry_after_s == 2.0


@pytest.mark.parametrize("mode", MODES)
def test_azures_filter_annotations_come_through_as_on_the_sdk_path(
    srv: WireServer, mode: str
) -> None:
    """Recorded Azure answers (prompt_filter_results, content_filter_results, a
    filter-only first chunk): the same responses and chunks on both paths."""
    fixture = (
        "azure/chat_stream_text_include_usage"
        if "stream" in mode
        else "azure/chat_completion_content_filter_results"
    )

    def out(cls: type[AzureOpenAIProvider]) -> Any:
        srv.reset()
        srv.enqueue(Reply.fixture(fixture))
        p = _provider(srv, cls, "api_key")

        async def go() -> Any:
            try:
                if mode == "achat":
                    return await p.achat(REQ)
                return [c async for c in p.astream(REQ)]
            finally:
                await p.aclose()

        try:
            if mode == "chat":
                return p.chat(REQ)
            if mode == "stream":
                return list(p.stream(REQ))
        finally:
            p.close()
        return asyncio.run(go())

    fast, sdk = out(AzureOpenAIProvider), out(ViaSDK)
    assert fast == sdk
    extras = [fast.extra] if "chat" in mode else [c.extra for c in fast]
    assert any("prompt_filter_results" in e for e in extras)


def test_the_token_provider_is_asked_per_request_async_in_a_worker_thread(
    srv: WireServer,
) -> None:
    """Refresh semantics: each request asks the provider (which caches and refreshes the
    token); async requests ask from a worker thread, never the event loop's; a failing or
    empty token is an AuthenticationError and nothing is sent."""
    threads: list[int] = []
    tokens = iter(["tok-1", "tok-2", "tok-3", "tok-4", ""])

    def token() -> str:
        threads.append(threading.get_ident())
        return next(tokens)

    p = AzureOpenAIProvider(
        AzureSettings(endpoint=srv.origin, api_key=None, api_version="2024-10-21"),
        token_provider=token,
    )
    p.chat(REQ)
    list(p.stream(REQ))

    async def go() -> int:
        await p.achat(REQ)
        [c async for c in p.astream(REQ)]
        with pytest.raises(AuthenticationError, match="an empty string"):
            await p.achat(REQ)
        loop_thread = threading.get_ident()
        await p.aclose()
        return loop_thread

    loop_thread = asyncio.run(go())
    assert [r.headers["authorization"] for r in srv.requests] == [
        "Bearer tok-1",
        "Bearer tok-2",
        "Bearer tok-3",
        "Bearer tok-4",
    ]
    main = threading.get_ident()
    assert threads[:2] == [main, main]
    assert all(t not in (main, loop_thread) for t in threads[2:])


def test_the_httpx_transport_keeps_the_sdk_for_async(srv: WireServer) -> None:
    import openai

    p = _provider(srv, AzureOpenAIProvider, "api_key", async_transport="httpx")
    assert p.direct  # sync calls still go direct

    async def go() -> None:
        assert (await p.achat(REQ)).content
        assert type(p.async_client()) is openai.AsyncAzureOpenAI
        assert p._aio == {}  # no aiohttp poster was made
        await p.aclose()

    asyncio.run(go())
    [r] = srv.requests
    assert r.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert r.headers["user-agent"].startswith("AsyncAzureOpenAI/")


@given(st.text(min_size=1, max_size=30))
@example(".")
@example("..")
@example("%2e")
@example("a b/c?d#e")
@example("sub-delims!$&'()*+,;=:@~")
def test_deployment_names_are_encoded_as_the_sdk_encodes_them(name: str) -> None:
    try:
        want = path_template("/deployments/{model}", model=name) + "/chat/completions"
    except ValueError:  # a dot segment: the SDK refuses it, and so does the route
        with pytest.raises(ConfigError, match="dot segment") as info:
            route("/chat/completions", name, "2024-10-21")
        assert info.value.key == "providers.azure.deployments"
        return
    got = route("/chat/completions", name, "2024-10-21")
    assert got == want.lstrip("/") + "?api-version=2024-10-21"
    # Other paths (the doctor's probes name the deployment themselves) are left alone.
    assert route("/models", name, "v") == "models?api-version=v"


CHILD = """
import asyncio, json, sys
from modelbus import Client
c = Client({"modelbus": {"provider": "azure", "cache": "none"},
            "providers": {"azure": {"endpoint": %r, "api_key": "az-test",
                                    "deployments": {"gpt-4o": "d1"}}}})
assert c.chat("hi", model="gpt-4o").content
assert "".join(x.content or "" for x in c.stream("hi", model="gpt-4o"))
async def go():
    assert (await c.achat("hi", model="gpt-4o")).content
    assert "".join([x.content or "" async for x in c.astream("hi", model="gpt-4o")])
    await c.aclose()
asyncio.run(go())
print(json.dumps([m for m in ("openai", "pydantic") if m in sys.modules]))
"""


def test_a_process_that_chats_on_azure_imports_neither_openai_nor_pydantic(
    srv: WireServer,
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD % srv.origin], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert [r.path for r in srv.requests] == ["/openai/deployments/d1/chat/completions"] * 4


def test_async_calls_with_a_key_share_one_poster_and_send_the_same_headers(
    srv: WireServer,
) -> None:
    """Without a token provider the async request headers depend only on the loop's
    poster and the timeout: built once, and every request still sends all of them."""
    p = _provider(srv, AzureOpenAIProvider, "api_key")

    async def go() -> None:
        await p.achat(REQ)
        await p.achat(REQ)
        await p.aclose()

    asyncio.run(go())
    assert len(p._aposters) == 1
    first, second = (dict(r.headers) for r in srv.requests[-2:])
    assert first == second
    assert first["api-key"] == "az-key-0123456789"
    assert first["x-stainless-retry-count"] == "0" and "x-stainless-read-timeout" in first
