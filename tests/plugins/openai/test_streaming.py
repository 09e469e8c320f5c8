"""Streaming through a real Client: tool-call fragments assemble into whole calls and the
final usage chunk lands on the aggregated response."""

from __future__ import annotations

import json

from modelbus.testing.server import Reply, WireServer
from tests.plugins.openai.conftest import MakeClient


def test_tool_call_arguments_split_across_chunks(srv: WireServer, make_client: MakeClient) -> None:
    srv.enqueue(Reply.fixture("openai/chat_stream_tool_call_include_usage"))
    stream = make_client().stream("multiply 1231 by 2331", model="gpt-4o-mini")
    chunks = list(stream)
    fragments = [d.arguments for c in chunks for d in c.tool_calls if d.arguments]
    assert len(fragments) > 5  # the recording splits the JSON at odd places
    resp = stream.response
    (call,) = resp.tool_calls
    assert call.function.name == "multiply"
    assert json.loads(call.function.arguments) == {"a": 1231, "b": 2331}
    assert call.id.startswith("call_")
    assert resp.finish_reason == "tool_calls"
    assert resp.message.content is None
    # The usage-only chunk (choices: []) comes after finish_reason; it is on the response.
    assert chunks[-1].usage is not None and chunks[-1].finish_reason is None
    assert resp.usage == chunks[-1].usage and resp.usage.total_tokens > 0
    assert resp.cost_usd is not None  # priced from the catalog with that usage


async def test_parallel_tool_calls_stream_async(srv: WireServer, make_client: MakeClient) -> None:
    client = make_client()
    try:
        srv.enqueue(Reply.fixture("openai/chat_stream_parallel_tool_calls"))
        stream = client.astream("secrets", model="gpt-4o")
        async for _ in stream:
            pass
        calls = stream.response.tool_calls
        assert [json.loads(c.function.arguments) for c in calls] == [
            {"password": "mellon"},
            {"password": "radiance"},
        ]
        assert len({c.id for c in calls}) == 2
        assert stream.response.usage.prompt_tokens > 0
    finally:
        await client.aclose()


def test_cached_tokens_in_stream_usage(srv: WireServer, make_client: MakeClient) -> None:
    srv.enqueue(Reply.fixture("openai/chat_stream_cached_tokens"))
    stream = make_client().stream("hi", model="gpt-4.1")
    list(stream)
    assert stream.response.usage.prompt_tokens == 1144
    assert stream.response.usage.cached_tokens == 1024


def test_refusal_stream(srv: WireServer, make_client: MakeClient) -> None:
    srv.enqueue(Reply.fixture("openai/chat_stream_refusal"))
    stream = make_client().stream("hi", model="gpt-4o")
    list(stream)
    assert stream.response.message.refusal
    assert stream.response.message.content is None or stream.response.message.content == ""


def test_streamed_answer_is_cached_and_replayed(srv: WireServer, make_client: MakeClient) -> None:
    """With the memory cache, a complete stream is stored; the same request replays it
    without a second HTTP request."""
    client = make_client(core={"cache": "memory"})
    first = client.stream("hi", model="gpt-4o-mini")
    text = "".join(c.content or "" for c in first)
    again = client.stream("hi", model="gpt-4o-mini")
    assert "".join(c.content or "" for c in again) == text
    assert again.response.cached and len(srv.requests) == 1
