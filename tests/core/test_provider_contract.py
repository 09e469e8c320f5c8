"""ProviderContract: the scripted FakeProvider passes it (both sides, embeddings), a
one-sided async provider passes it, and providers broken in one way each fail it,
including one that passes every behaviour check but leaks httpx errors. The core retries
a stream only before its first content."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from modelbus import ChatChunk, ChatRequest, ChatResponse, Message, adapt_provider
from modelbus.errors import ServerError
from modelbus.plugin import iter_sse, parse_chat_chunk, parse_chat_response, request_body
from modelbus.testing import FakeProvider
from modelbus.testing.contracts_provider import ProviderContract, client_for
from modelbus.testing.faults import WireFaults
from modelbus.testing.server import WireServer


class TestFakeProvider(ProviderContract):
    embeddings = True

    @pytest.fixture
    def provider(self) -> FakeProvider:
        return FakeProvider("fake")

    @pytest.fixture
    def faults(self) -> None:
        return None  # computes its replies: checked with the network off


class AsyncOnly:
    """A provider with only the async side (the core adapts the sync one)."""

    name = "async-only"

    async def achat(self, request: ChatRequest) -> ChatResponse:
        await asyncio.sleep(0)
        return ChatResponse(
            id="a1", model=request.model, message=Message("assistant", "pong"), finish_reason="stop"
        )

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        for part in ("po", "ng"):
            yield ChatChunk(model=request.model, content=part)
        yield ChatChunk(model=request.model, finish_reason="stop")


class TestAsyncOnlyProvider(ProviderContract):
    @pytest.fixture
    def provider(self) -> AsyncOnly:
        return AsyncOnly()

    @pytest.fixture
    def faults(self) -> None:
        return None


# --- the contract has teeth ----------------------------------------------------------
class RepliesAsUser(AsyncOnly):
    name = "replies-as-user"

    async def achat(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(id="u", model=request.model, message=Message("user", "x"))


class NeverFinishes:
    name = "never-finishes"

    def chat(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(
            id="n", model=request.model, message=Message("assistant", "x"), finish_reason="stop"
        )

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        yield ChatChunk(model=request.model, content="x")


class RandomReply(NeverFinishes):
    """Caching is fine for it, but its stream yields dicts instead of ChatChunk."""

    name = "dict-chunks"

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        yield {"content": "x", "finish_reason": "stop"}  # type: ignore[misc]


REQ = ChatRequest(model="m", messages=(Message("user", "hi"),))


def test_a_reply_with_the_wrong_role_fails_chat():
    with pytest.raises(AssertionError, match="role='user'"):
        ProviderContract().test_chat(adapt_provider(RepliesAsUser()), REQ)


def test_a_stream_without_finish_reason_fails():
    with pytest.raises(AssertionError, match="finish_reason"):
        ProviderContract().test_stream(adapt_provider(NeverFinishes()), REQ)


def test_a_stream_of_dicts_fails():
    with pytest.raises(AssertionError, match="dict"):
        ProviderContract().test_stream(adapt_provider(RandomReply()), REQ)


def test_an_unnamed_provider_fails_the_object_check():
    class Unnamed(NeverFinishes):
        name = ""

    with pytest.raises(AssertionError):
        ProviderContract().test_object(Unnamed())


def test_claiming_embeddings_without_them_fails():
    contract = ProviderContract()
    contract.embeddings = True
    with pytest.raises(Exception, match="embed"):
        contract.test_embeddings(adapt_provider(NeverFinishes()), "m")


def test_client_for_registers_the_provider_without_touching_the_installed_registry():
    p = NeverFinishes()
    with client_for(p) as client:
        assert client.chat("hi", model="m").provider == "never-finishes"
    import modelbus

    assert ("providers", "never-finishes") not in modelbus.load_plugins().registry


# --- the error paths have teeth ------------------------------------------------------
class LeakyHttpx:
    """Talks to the WireServer with httpx and lets httpx's own errors escape: the nine
    behaviour checks pass, the error paths must not."""

    name = "leaky-httpx"

    def __init__(self, base_url: str) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=0.25)

    def close(self) -> None:
        self._http.close()

    def chat(self, request: ChatRequest) -> ChatResponse:
        r = self._http.post("/chat/completions", json=request_body(request))
        r.raise_for_status()
        return parse_chat_response(r.json())

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        body = {**request_body(request), "stream": True}
        with self._http.stream("POST", "/chat/completions", json=body) as r:
            r.raise_for_status()
            for event in iter_sse(r.iter_bytes()):
                if event.data != "[DONE]":
                    yield parse_chat_chunk(event.json())


@pytest.fixture
def leaky(wire_server: WireServer) -> Iterator[LeakyHttpx]:
    provider = LeakyHttpx(wire_server.base_url)
    yield provider
    provider.close()  # its pooled connections, else unclosed sockets at garbage collection


def test_a_provider_leaking_httpx_errors_passes_the_behaviour_checks(leaky: LeakyHttpx) -> None:
    contract, adapted = ProviderContract(), adapt_provider(leaky)
    contract.test_object(leaky)
    contract.test_chat(adapted, REQ)
    contract.test_stream(adapted, REQ)
    with client_for(leaky) as client:
        contract.test_client_chat_and_cache_hit(client, leaky, "m", "hi")
        contract.test_client_stream(client, "m", "hi")


@pytest.mark.parametrize(
    ("kind", "leaked"),
    [
        ("rate_limit", "HTTPStatusError"),
        ("server_error", "HTTPStatusError"),
        ("reset", "RemoteProtocolError|ReadError|ConnectError"),
        ("stall", "ReadTimeout"),
    ],
)
@pytest.mark.parametrize("mode", ["chat", "stream"])
def test_a_provider_leaking_httpx_errors_fails_the_error_paths(
    leaky: LeakyHttpx,
    wire_server: WireServer,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    leaked: str,
    mode: str,
) -> None:
    with pytest.raises(AssertionError, match=rf"a modelbus ProviderError\), got httpx\.({leaked})"):
        ProviderContract().test_fault_is_a_provider_error(
            adapt_provider(leaky), REQ, WireFaults(wire_server), kind, mode, monkeypatch
        )


def test_a_leaky_provider_is_not_retried_by_the_client(
    leaky: LeakyHttpx, wire_server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        ProviderContract().test_fault_is_retried_by_the_client(
            leaky, WireFaults(wire_server), "server_error", "chat", "m", "hi", monkeypatch
        )


def test_claiming_no_network_io_while_connecting_fails(
    leaky: LeakyHttpx, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AssertionError, match="connected to a socket"):
        ProviderContract().test_fault_is_a_provider_error(
            adapt_provider(leaky), REQ, None, "reset", "chat", monkeypatch
        )


class ConnectsBySocket(NeverFinishes):
    """Opens a socket and connects it, as an HTTP library does (keeping it, to look)."""

    name = "connects-by-socket"

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []

    def chat(self, request: ChatRequest) -> ChatResponse:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sockets.append(sock)
        sock.connect(("127.0.0.1", 9))
        return super().chat(request)


def test_a_refused_connection_leaves_no_socket_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """The no-network check closes the socket whose connect it refuses: an HTTP library
    (socket.create_connection) closes it on an OSError only, so it would be left for the
    garbage collector (a ResourceWarning in a later test)."""
    p = ConnectsBySocket()
    with pytest.raises(AssertionError, match="connected to a socket"):
        ProviderContract().test_fault_is_a_provider_error(
            adapt_provider(p), REQ, None, "reset", "chat", monkeypatch
        )
    assert len(p.sockets) == 1 and p.sockets[0].fileno() == -1


class HeadThenFailure:
    """A stream that fails once: after a role-only chunk (``after_content=False``) or
    after text; then answers."""

    name = "head-then-failure"

    def __init__(self, after_content: bool) -> None:
        self.after_content = after_content
        self.calls = 0

    def chat(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(id="h", model="m", message=Message("assistant", "ok"))

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        self.calls += 1
        yield ChatChunk(id="h", model="m", role="assistant", content="")
        if self.after_content:
            yield ChatChunk(content="Hel")
        if self.calls == 1:
            raise ServerError("overloaded", provider=self.name)
        yield ChatChunk(content="lo" if self.after_content else "Hello")
        yield ChatChunk(finish_reason="stop")


@pytest.mark.parametrize("side", ["sync", "async"])
async def test_a_stream_is_retried_after_a_role_only_chunk(side: str) -> None:
    p = HeadThenFailure(after_content=False)
    with client_for(p) as client:
        if side == "sync":
            stream = client.stream("hi", model="m", cache="bypass")
            chunks = list(stream)
        else:
            stream = client.astream("hi", model="m", cache="bypass")
            chunks = [c async for c in stream]
    assert stream.response.attempts == 2 and p.calls == 2
    assert [c.role for c in chunks if c.role] == ["assistant"]  # the failed head is dropped
    assert stream.response.content == "Hello"


@pytest.mark.parametrize("side", ["sync", "async"])
async def test_a_stream_is_not_retried_after_content(side: str) -> None:
    p = HeadThenFailure(after_content=True)
    seen: list[str] = []
    with client_for(p) as client, pytest.raises(ServerError):
        if side == "sync":
            for c in client.stream("hi", model="m", cache="bypass"):
                seen.append(c.content or "")
        else:
            async for c in client.astream("hi", model="m", cache="bypass"):
                seen.append(c.content or "")
    assert "".join(seen) == "Hel" and p.calls == 1
