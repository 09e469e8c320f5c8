"""Structured streams: partial values as fragments arrive (content, tool-call arguments, a
fenced block), re-asks, caching and list roots."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelbus._wire.types import Usage
from modelbus.errors import ResponseFormatError
from modelbus.testing import make_client
from modelbus.testing.server import Reply, WireServer
from modelbus_structured_output import StructuredOutput, partial_type

from .models import Invoice, Line

VALID = {"number": "A-1", "total_eur": 12.5, "lines": [{"item": "pen", "qty": 2}], "issued": None}
INVOICE = Invoice("A-1", 12.5, [Line("pen", 2)])


def pieces(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage_chunk() -> dict[str, Any]:
    return {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
    }


def test_tools_mode_partials_from_argument_fragments(srv: WireServer, openai_client):
    args = json.dumps(VALID)
    events = [
        chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "Invoice", "arguments": ""}}]}),
        *(chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces(args)),
        chunk({}, "stop"),
        usage_chunk(),
    ]  # fmt: skip
    srv.enqueue(Reply.sse(events))
    stream = openai_client.stream(
        "x", model="gpt-4o-mini", response_format=StructuredOutput(Invoice, mode="tools")
    )
    values = list(stream)
    *partials, last = values
    assert last == INVOICE and stream.response.parsed == INVOICE
    assert stream.response.content == args and not stream.response.tool_calls
    assert stream.response.usage == Usage(50, 20, 70)
    pinv = partial_type(Invoice)
    assert [type(p) for p in partials] == [pinv] * len(partials)
    assert partials[0].number == "A-1"
    assert partials[-1].lines[0].qty == 2 and partials[-1].total_eur == 12.5
    sent = srv.requests[0].json
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "Invoice"}}
    assert sent["tools"][0]["function"]["strict"] is True


def test_md_json_partials_from_the_fenced_block(srv: WireServer, openai_client):
    text = "Here you are:\n```json\n" + json.dumps(VALID, indent=1) + "\n```\nBye."
    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": p}) for p in pieces(text, 5)]
    events += [chunk({}, "stop")]
    srv.enqueue(Reply.sse(events))
    so = StructuredOutput(Invoice, mode="md_json")
    values = list(openai_client.stream("x", model="gpt-4o-mini", response_format=so))
    assert values[-1] == INVOICE
    numbers = [v.number for v in values[:-1]]
    assert numbers and set(numbers) == {"A-1"}  # nothing before the fence was taken as JSON
    assert "response_format" not in srv.requests[0].json


def test_stream_reask_starts_over_and_sums_usage(fake):
    fake.enqueue_text(json.dumps({**VALID, "lines": "pen"}), usage=Usage(10, 5, 15))
    fake.enqueue_text(json.dumps(VALID), usage=Usage(20, 5, 25))
    with make_client(fake, {"modelbus": {"cache": "none"}}) as c:
        stream = c.stream("x", response_format=Invoice)
        values = list(stream)
    assert values[-1] == INVOICE
    assert stream.response.usage == Usage(30, 10, 40) and stream.response.attempts == 2
    assert fake.requests[1].stream is True
    assert "$.lines: expected a JSON array" in fake.requests[1].messages[-1].text


def test_stream_gives_up_after_max_reasks(fake):
    fake.enqueue_text("{}").enqueue_text("{}")
    with make_client(fake, {"modelbus": {"cache": "none"}}) as c:
        stream = c.stream("x", response_format=StructuredOutput(Invoice, max_reasks=1))
        with pytest.raises(ResponseFormatError) as info:
            list(stream)
    assert len(info.value.attempts) == 2
    with pytest.raises(RuntimeError, match="has not finished"):
        _ = stream.response


async def test_async_stream_of_a_list_root_with_cache(fake):
    body = json.dumps({"items": [VALID, {**VALID, "number": "A-2"}]})
    fake.enqueue_text(body)
    with make_client(fake, {"modelbus": {"cache": "memory"}}) as c:
        first = [v async for v in c.astream("x", response_format=list[Invoice])]
        again = c.astream("x", response_format=list[Invoice])
        second = [v async for v in again]
    assert first[-1] == second[-1] == [INVOICE, Invoice("A-2", 12.5, [Line("pen", 2)])]
    assert again.response.cached and fake.calls == 1
    assert isinstance(first[0], list) and type(first[0][0]) is partial_type(Invoice)
