"""ProviderContract: the scripted FakeProvider passes it (both sides, embeddings), a
one-sided async provider passes it, and providers broken in one way each fail it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from modelbus import ChatChunk, ChatRequest, ChatResponse, Message, adapt_provider
from modelbus.testing import FakeProvider
from modelbus.testing.contracts_provider import ProviderContract, client_for


class TestFakeProvider(ProviderContract):
    embeddings = True

    @pytest.fixture
    def provider(self) -> FakeProvider:
        return FakeProvider("fake")


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
