"""Prompt-mode replies that only repeat an answered call are asked again without tools,
and native tools are refused where llama-cpp-python would ignore them: the server
backend against the WireServer (the real model is in test_smollm2.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelbus._wire.types import (
    ChatRequest,
    FunctionCall,
    FunctionSpec,
    Message,
    ToolCall,
    ToolSpec,
)
from modelbus.errors import BadRequestError
from modelbus.testing.server import Reply, WireServer
from modelbus_local._prompt_tools import repeated_calls
from modelbus_local._server import LocalServerProvider
from modelbus_local._settings import LocalSettings

from .test_server_modes import completion, models

WEATHER = ToolSpec(
    FunctionSpec(
        "get_weather",
        "Weather of a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
)
PARIS = ToolCall("c1", FunctionCall("get_weather", '{"city":"Paris"}'))
HISTORY = (
    Message("user", "weather in Paris?"),
    Message("assistant", None, tool_calls=(PARIS,)),
    Message("tool", "sunny, 21 C", tool_call_id="c1"),
)
AGAIN = json.dumps({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]})
SUNNY = json.dumps({"content": "It is sunny."})
ROME = json.dumps({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]})


@pytest.fixture
def srv(wire_server: WireServer) -> WireServer:
    return wire_server


def provider(srv: WireServer, **kw: Any) -> LocalServerProvider:
    settings = LocalSettings(server="ollama", base_url=srv.base_url, model="m", **kw)
    return LocalServerProvider(settings)


def ask(**kw: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=HISTORY, tools=(WEATHER,), **kw)


def sse(text: str, usage: dict[str, int] | None) -> Reply:
    chunks: list[dict[str, Any]] = [
        {
            "id": "s",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}],
        }
    ]
    if usage:
        chunks.append({"id": "s", "object": "chat.completion.chunk", "model": "m", "choices": []})
        chunks[-1]["usage"] = usage
    return Reply.sse(chunks)


def call(name: str, args: str, id_: str = "x") -> ToolCall:
    return ToolCall(id_, FunctionCall(name, args))


def test_repeated_calls_are_equal_calls_already_answered():
    assert repeated_calls([call("get_weather", '{ "city": "Paris" }')], HISTORY)
    assert not repeated_calls([call("get_weather", '{"city": "Rome"}')], HISTORY)
    both = [call("get_weather", '{"city":"Paris"}'), call("get_weather", '{"city":"Rome"}')]
    assert not repeated_calls(both, HISTORY)  # one new call: the reply is passed on
    assert not repeated_calls([], HISTORY)
    unanswered = HISTORY[:2]  # the call made but no result yet
    assert not repeated_calls([call("get_weather", '{"city":"Paris"}')], unanswered)


def test_a_repeated_call_is_asked_again_without_tools(srv: WireServer):
    srv.enqueue(
        Reply.json(completion(AGAIN, prompt_tokens=90, completion_tokens=20, total_tokens=110)),
        Reply.json(completion(SUNNY, prompt_tokens=40, completion_tokens=5, total_tokens=45)),
    )
    with provider(srv, tool_calling="prompt") as p:
        r = p.chat(ask())
    assert r.content == "It is sunny." and not r.tool_calls
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (130, 25)  # both generations
    first, second = (q.json for q in srv.requests)
    assert "get_weather" in first["messages"][0]["content"]  # tools in the system prompt
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assert "tools" not in second  # and the reply is held to an answer, {"content": ...}
    schema = second["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["content"] and list(schema["properties"]) == ["content"]


def test_an_answer_cut_by_max_tokens_is_unwrapped_not_passed_on_as_json(srv: WireServer):
    cut = completion('{"content": "It is sunny and 21 deg')  # max_tokens ended the string
    cut["choices"][0]["finish_reason"] = "length"
    srv.enqueue(Reply.json(completion(AGAIN)), Reply.json(cut))
    with provider(srv, tool_calling="prompt") as p:
        r = p.chat(ask())
    assert r.content == "It is sunny and 21 deg" and r.finish_reason == "length"
    assert not r.tool_calls


def test_a_new_call_is_passed_on(srv: WireServer):
    srv.enqueue(Reply.json(completion(ROME)))
    with provider(srv, tool_calling="prompt") as p:
        r = p.chat(ask())
    assert json.loads(r.tool_calls[0].function.arguments) == {"city": "Rome"}
    assert len(srv.requests) == 1


def test_streamed_repeat_gives_the_answer_asked_again(srv: WireServer):
    srv.enqueue(
        sse(AGAIN, {"prompt_tokens": 90, "completion_tokens": 20, "total_tokens": 110}),
        Reply.json(completion(SUNNY, prompt_tokens=40, completion_tokens=5, total_tokens=45)),
    )
    with provider(srv, tool_calling="prompt") as p:
        out = list(p.stream(ask()))
    assert "".join(c.content or "" for c in out) == "It is sunny."
    assert not any(c.tool_calls for c in out)
    [usage] = [c.usage for c in out if c.usage is not None]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (130, 25, False)


async def test_async_stream_and_chat_ask_again_too(srv: WireServer):
    srv.enqueue(
        sse(AGAIN, None),  # no usage: counted (approximately, Ollama has no tokenizer route)
        Reply.json(completion(SUNNY, prompt_tokens=40, completion_tokens=2, total_tokens=42)),
        Reply.json(completion(AGAIN, prompt_tokens=90, completion_tokens=20, total_tokens=110)),
        Reply.json(completion(SUNNY, prompt_tokens=40, completion_tokens=2, total_tokens=42)),
    )
    with provider(srv, tool_calling="prompt") as p:
        out = [c async for c in p.astream(ask())]
        r = await p.achat(ask())
        await p.aclose()
    assert "".join(c.content or "" for c in out) == "It is sunny." == r.content
    [usage] = [c.usage for c in out if c.usage is not None]
    assert usage.prompt_tokens > 40 and usage.estimated  # the first part was counted
    assert r.usage.total_tokens == 152 and not r.usage.estimated


def test_native_tools_on_llama_cpp_python_are_refused_before_sending(srv: WireServer):
    srv.set_default(models("me", "m"), path="/v1/models")
    srv.set_default(Reply.json(completion("{}")), path="/v1/chat/completions")
    settings = LocalSettings(server="llamacpp", base_url=srv.base_url, tool_calling="native")
    with LocalServerProvider(settings) as p:
        with pytest.raises(BadRequestError, match="ignores tools") as info:
            p.chat(ask())
        assert info.value.code == "unsupported_parameter" and not info.value.retryable
        named = {"type": "function", "function": {"name": "get_weather"}}
        p.chat(ask(tool_choice=named))  # its chat handler reads a named function
        p.chat(ask(tool_choice="none"))
    sent = [q.json for q in srv.requests if q.path.endswith("/chat/completions")]
    assert len(sent) == 2 and sent[0]["tools"][0]["function"]["name"] == "get_weather"
