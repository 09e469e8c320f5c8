"""A third-party provider may implement only one side; the core adapts it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from modelbus import ChatChunk, ChatRequest, ChatResponse, Message, Usage, adapt_provider
from modelbus.errors import PluginError
from modelbus.testing import FakeProvider, make_client


def _resp(text: str) -> ChatResponse:
    return ChatResponse(
        id="r",
        model="m",
        message=Message("assistant", text),
        finish_reason="stop",
        usage=Usage(1, 1, 2),
    )


class SyncOnly:
    name = "sync-only"

    def __init__(self) -> None:
        self.threads: list[str] = []

    def chat(self, request: ChatRequest) -> ChatResponse:
        self.threads.append(threading.current_thread().name)
        return _resp("sync:" + request.messages[-1].text)

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        for word in request.messages[-1].text.split():
            yield ChatChunk(content=word)
        yield ChatChunk(finish_reason="stop", usage=Usage(1, 2, 3))


class AsyncOnly:
    name = "async-only"

    def __init__(self) -> None:
        self.loops: set[int] = set()

    async def achat(self, request: ChatRequest) -> ChatResponse:
        self.loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0)
        return _resp("async:" + request.messages[-1].text)

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        for word in request.messages[-1].text.split():
            await asyncio.sleep(0)
            yield ChatChunk(content=word)
        yield ChatChunk(finish_reason="stop")


def _req(text: str) -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", text),))


def test_sync_only_provider_gets_async_side_in_a_worker_thread() -> None:
    inner = SyncOnly()
    p = adapt_provider(inner)

    async def go() -> tuple[str, list[str]]:
        r = await p.achat(_req("hi"))
        chunks = [c.content async for c in p.astream(_req("a b c"))]
        return r.content or "", [c for c in chunks if c]

    text, words = asyncio.run(go())
    assert text == "sync:hi"
    assert words == ["a", "b", "c"]
    assert inner.threads and inner.threads[0] != "MainThread"


def test_async_only_provider_gets_sync_side_on_one_background_loop() -> None:
    inner = AsyncOnly()
    p = adapt_provider(inner)
    assert p.chat(_req("x")).content == "async:x"
    assert p.chat(_req("y")).content == "async:y"
    assert len(inner.loops) == 1  # one loop reused, not asyncio.run per call
    assert [c.content for c in p.stream(_req("one two")) if c.content] == ["one", "two"]


def test_provider_without_chat_is_rejected_by_name() -> None:
    class Nothing:
        name = "empty"

    with pytest.raises(PluginError, match="'empty'.*neither chat nor achat"):
        adapt_provider(Nothing())


def test_missing_embeddings_name_provider_and_method() -> None:
    p = adapt_provider(SyncOnly())
    with pytest.raises(PluginError, match="'sync-only' does not implement 'embed'"):
        p.embed(None)  # type: ignore[arg-type]


def test_one_sided_providers_work_through_the_client() -> None:
    c = make_client(FakeProvider("fake"))
    c.registry.add(_registration("sync-only", SyncOnly))
    c.registry.add(_registration("async-only", AsyncOnly))
    assert c.chat("hello", model="sync-only/m").content == "sync:hello"
    assert c.chat("hello", model="async-only/m").content == "async:hello"
    assert asyncio.run(c.achat("yo", model="sync-only/m")).content == "sync:yo"
    s = c.stream("a b", model="async-only/m")
    assert [ch.content for ch in s if ch.content] == ["a", "b"]
    assert s.response.content == "ab"


def _registration(name: str, factory: type) -> object:
    from modelbus._plugins.registry import Registration

    return Registration("providers", name, factory, plugin="tests")
