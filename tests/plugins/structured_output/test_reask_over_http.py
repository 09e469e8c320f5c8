"""Done-when of issue 17: ``response_format=`` a pydantic model, a dataclass and a
TypedDict each return a parsed value in all four call modes, through the real ``openai``
provider over HTTP to the WireServer, when the first reply is not JSON at all (cut off
mid-object): exactly one re-ask, whose feedback says the reply was not valid JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

import modelbus
from modelbus.errors import ResponseFormatError
from modelbus.testing.server import Reply, WireServer
from modelbus_structured_output import StructuredOutput

from .test_other_types import EXPECTED, KINDS, VALID

BROKEN = '{"number": "A-1", "lines": [{"item": "pen", "qty'  # cut off: not JSON
MODES = ["chat", "achat", "stream", "astream"]


def _completion(text: str) -> Reply:
    return Reply.json(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
        }
    )


def _stream(text: str) -> Reply:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    usage = {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
    return Reply.sse(
        [
            chunk({"role": "assistant", "content": ""}),
            *(chunk({"content": p}) for p in pieces),
            chunk({}, "stop"),
            {**chunk({}), "choices": [], "usage": usage},
        ]
    )


async def _call(client: modelbus.Client, mode: str, kind: Any) -> Any:
    if mode == "chat":
        return client.chat("the order", model="gpt-4o", response_format=kind).parsed
    if mode == "achat":
        return (await client.achat("the order", model="gpt-4o", response_format=kind)).parsed
    if mode == "stream":
        stream = client.stream("the order", model="gpt-4o", response_format=kind)
        values = list(stream)
    else:
        stream = client.astream("the order", model="gpt-4o", response_format=kind)
        values = [v async for v in stream]
    assert values[-1] == stream.response.parsed  # a stream's last value is the parsed one
    return stream.response.parsed


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
async def test_invalid_json_is_reasked_once_and_the_value_parsed(
    kind: type, mode: str, srv: WireServer, openai_client: modelbus.Client
) -> None:
    reply = _stream if mode.endswith("stream") else _completion
    srv.enqueue(reply(BROKEN))
    srv.enqueue(reply(json.dumps(VALID)))
    parsed = await _call(openai_client, mode, kind)
    assert parsed == EXPECTED[kind] and type(parsed) is type(EXPECTED[kind])
    assert len(srv.requests) == 2  # the first call and exactly one re-ask
    first, second = (r.json for r in srv.requests)
    assert first["response_format"]["type"] == "json_schema"
    assert second["messages"][:-2] == first["messages"]  # the question, then...
    assert second["messages"][-2] == {"role": "assistant", "content": BROKEN}  # ...the reply
    feedback = second["messages"][-1]["content"]
    assert second["messages"][-1]["role"] == "user" and "JSON" in feedback


@pytest.mark.parametrize("mode", MODES)
async def test_with_max_reasks_1_a_second_invalid_reply_is_an_error(
    mode: str, srv: WireServer, openai_client: modelbus.Client
) -> None:
    reply = _stream if mode.endswith("stream") else _completion
    srv.enqueue(reply(BROKEN))
    srv.enqueue(reply(BROKEN))
    srv.enqueue(reply(json.dumps(VALID)))  # never asked for
    with pytest.raises(ResponseFormatError):
        await _call(openai_client, mode, StructuredOutput(KINDS[0], max_reasks=1))
    assert len(srv.requests) == 2
