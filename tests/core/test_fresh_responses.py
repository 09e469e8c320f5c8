"""A provider's answer completed in place or copied (``fresh_responses``, see
``SyncProvider``): in place only when the provider promises the object is the call's own;
otherwise what the provider keeps is never written on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modelbus import ChatRequest, ChatResponse, Message, Usage
from modelbus.testing.contracts_provider import client_for

MODEL = "gpt-4o-mini"  # priced in the bundled catalog: cost_usd is set


def _answer() -> ChatResponse:
    return ChatResponse(
        id="r",
        model=MODEL,
        message=Message("assistant", "hi"),
        finish_reason="stop",
        usage=Usage(10, 5, 15),
    )


class Kept:
    """Hands out the one response it keeps (a canned reply): no promise."""

    name = "kept"

    def __init__(self) -> None:
        self.reply = _answer()

    def chat(self, request: ChatRequest) -> ChatResponse:
        return self.reply

    async def achat(self, request: ChatRequest) -> ChatResponse:
        return self.reply


class Fresh:
    """Builds every answer anew and keeps only its id (to check the identity)."""

    name = "fresh"
    fresh_responses = True

    def __init__(self) -> None:
        self.made: list[int] = []

    def chat(self, request: ChatRequest) -> ChatResponse:
        r = _answer()
        self.made.append(id(r))
        return r

    async def achat(self, request: ChatRequest) -> ChatResponse:
        return self.chat(request)


def _call(c: Any, mode: str, **kw: Any) -> ChatResponse:
    if mode == "chat":
        return c.chat("hello", model=MODEL, **kw)  # type: ignore[no-any-return]
    return asyncio.run(c.achat("hello", model=MODEL, **kw))  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["chat", "achat"])
@pytest.mark.parametrize("cache", ["bypass", "use"])
def test_a_kept_response_is_copied_and_never_written_on(mode: str, cache: str) -> None:
    p = Kept()
    c = client_for(p)
    first = _call(c, mode, cache="bypass")
    second = _call(c, mode, cache=cache)
    for r in (first, second):
        assert r is not p.reply
        assert r.provider == "kept" and r.attempts == 1 and r.latency_s > 0
        assert r.cost_usd is not None and r.cost_usd > 0
    # what the provider keeps is as it made it
    assert p.reply == _answer()
    assert (p.reply.provider, p.reply.cost_usd, p.reply.latency_s) == ("", None, 0.0)


@pytest.mark.parametrize("mode", ["chat", "achat"])
def test_a_fresh_response_is_completed_in_place(mode: str) -> None:
    p = Fresh()
    c = client_for(p)
    r = _call(c, mode, cache="bypass")
    assert id(r) == p.made[-1]  # the provider's object itself, completed
    assert r.provider == "fresh" and r.model == MODEL and r.attempts == 1
    assert r.cost_usd is not None and r.cost_usd > 0 and r.latency_s > 0


@pytest.mark.parametrize("mode", ["chat", "achat"])
def test_a_fresh_response_stored_in_the_cache_is_complete(mode: str) -> None:
    p = Fresh()
    c = client_for(p)
    first = _call(c, mode)
    hit = _call(c, mode)
    assert hit.cached and len(p.made) == 1
    assert (hit.provider, hit.cost_usd, hit.message) == (
        first.provider,
        first.cost_usd,
        first.message,
    )
    assert first.latency_s > 0 and not first.cached
