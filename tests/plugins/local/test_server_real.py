"""The ``local`` provider's server backend against a real server: llama-cpp-python's
OpenAI-compatible server (started by the ``llama_server`` fixture) running the tiny
model. Chat, streams (whose usage the server does not send), prompt-mode tool calling
forced well-formed by a llama.cpp grammar, tokenizing, models and embeddings — through
the provider object and through ``modelbus.Client``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import jsonschema
import pytest

import modelbus
from modelbus._wire.stream_accumulator import StreamAccumulator
from modelbus._wire.types import (
    ChatRequest,
    EmbeddingRequest,
    FunctionSpec,
    Message,
    ToolSpec,
)
from modelbus_local._server import LocalServerProvider
from modelbus_local._settings import LocalSettings

from .conftest import SERVER_MODEL

CITY = {"type": "string", "enum": ["Paris", "Rome", "Oslo"]}
WEATHER = ToolSpec(
    FunctionSpec(
        "get_weather",
        "Weather of a city.",
        {
            "type": "object",
            "properties": {"city": CITY},
            "required": ["city"],
            "additionalProperties": False,
        },
    )
)
TIME = ToolSpec(
    FunctionSpec(
        "get_time",
        None,
        {
            "type": "object",
            "properties": {"zone": {"type": "string", "maxLength": 6}},
            "required": ["zone"],
            "additionalProperties": False,
        },
    )
)
HELLO = (Message("user", "hello world"),)


@pytest.fixture(scope="module")
def settings(llama_server: str, tiny_model_path: Path) -> LocalSettings:
    # model_path: the file the server runs, so prompt token counts are exact
    return LocalSettings(server="llamacpp", base_url=llama_server, model_path=str(tiny_model_path))


@pytest.fixture(scope="module")
def p(settings: LocalSettings) -> Iterator[LocalServerProvider]:
    with LocalServerProvider(settings) as prov:
        yield prov


def ask(messages: tuple[Message, ...] = HELLO, **kw: Any) -> ChatRequest:
    kw.setdefault("max_tokens", 8)
    kw.setdefault("seed", 5)
    return ChatRequest(model=SERVER_MODEL, messages=messages, **kw)


def test_the_server_is_found_as_llama_cpp_python(p: LocalServerProvider):
    assert (p.kind, p.flavour, p.default_model) == ("llamacpp", "llama-cpp-python", SERVER_MODEL)
    assert [m["id"] for m in p.list_models()] == [SERVER_MODEL]
    assert p.tool_mode(SERVER_MODEL) == "prompt"  # it ignores tools with a plain template


def test_chat_usage_is_the_servers(p: LocalServerProvider):
    r = p.chat(ask())
    assert r.provider == "local" and r.model == SERVER_MODEL and r.finish_reason == "length"
    assert r.content and r.usage.completion_tokens == 8
    assert r.usage.prompt_tokens == p.token_counter.count_messages(HELLO)
    assert r.usage.estimated is False and "usage_counted_by" not in r.extra


def test_stream_matches_chat_and_gets_a_counted_usage(p: LocalServerProvider):
    whole = p.chat(ask(seed=9))
    chunks = list(p.stream(ask(seed=9)))
    acc = StreamAccumulator()
    for c in chunks:
        acc.add(c)
    r = acc.response("local")
    assert r.content == whole.content and r.finish_reason == "length"
    last = chunks[-1]
    assert last.extra == {"usage_counted_by": "server-tokenizer"}
    assert last.usage is not None and last.usage.estimated
    # the prompt is counted exactly; the reply re-tokenized, close to the 8 sampled tokens
    assert r.usage.prompt_tokens == whole.usage.prompt_tokens
    assert r.usage.completion_tokens == p.token_counter.count_text(whole.content or "")
    assert 1 <= r.usage.completion_tokens <= 2 * 8


async def test_async_chat_and_stream(p: LocalServerProvider):
    r = await p.achat(ask(seed=2))
    text = []
    usage = None
    async for c in p.astream(ask(seed=2)):
        text.append(c.content or "")
        usage = c.usage or usage
    assert "".join(text) == r.content
    assert usage is not None and usage.prompt_tokens == r.usage.prompt_tokens
    await p.aclose()


def test_tokenize_routes(p: LocalServerProvider, llama_server: str, settings: LocalSettings):
    c = p.token_counter
    assert c.route() == "llama-cpp-python" and c.exact
    root = llama_server.removesuffix("/v1")
    for text in ("hello the world", "<|im_start|>", "x y z 123"):
        n = httpx.post(f"{root}/extras/tokenize/count", json={"input": text}).json()["count"]
        assert c.count_text(text) == n
    # without the model file, text is still the server's tokenizer; messages estimated
    with LocalServerProvider(LocalSettings(server="llamacpp", base_url=llama_server)) as q:
        assert not q.token_counter.exact
        assert q.token_counter.count_text("hello the world") == 3
        billed = p.chat(ask()).usage.prompt_tokens
        estimate = q.token_counter.count_messages(HELLO)
        assert estimate != billed and abs(estimate - billed) <= billed


def test_embeddings(p: LocalServerProvider):
    e = p.embed(EmbeddingRequest(model=SERVER_MODEL, input=("hello world", "the model")))
    assert [len(v) for v in e.vectors] == [64, 64] and e.usage.prompt_tokens == 4
    assert e.vectors[0] != e.vectors[1]


def test_json_schema_response_format_works_despite_the_servers_500(p: LocalServerProvider):
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    rf = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
    r = p.chat(ask(max_tokens=40, response_format=rf))
    assert r.finish_reason == "stop"
    jsonschema.validate(json.loads(r.content or ""), schema)


# -- prompt-mode tool calling, grammar-forced --------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_required_tool_call_is_well_formed(p: LocalServerProvider, seed: int):
    r = p.chat(
        ask(
            (Message("user", "weather in Paris?"),),
            tools=(WEATHER, TIME),
            tool_choice="required",
            max_tokens=200,
            seed=seed,
        )
    )
    assert r.finish_reason == "tool_calls" and r.content is None and r.tool_calls
    for call in r.tool_calls:
        spec = {"get_weather": WEATHER, "get_time": TIME}[call.function.name]
        jsonschema.validate(json.loads(call.function.arguments), dict(spec.function.parameters))
        assert call.id.startswith("call_")
    assert r.usage.completion_tokens > 0  # billed by the server for the JSON it wrote


def test_named_tool_call_streamed(p: LocalServerProvider):
    named = {"type": "function", "function": {"name": "get_weather"}}
    req = ask(
        (Message("user", "weather?"),),
        tools=(WEATHER, TIME),
        tool_choice=named,
        parallel_tool_calls=False,
        max_tokens=200,
        seed=4,
    )
    chunks = list(p.stream(req))
    acc = StreamAccumulator()
    for c in chunks:
        acc.add(c)
    r = acc.response()
    [call] = r.tool_calls
    assert call.function.name == "get_weather" and r.finish_reason == "tool_calls"
    assert json.loads(call.function.arguments)["city"] in CITY["enum"]
    assert r.usage.prompt_tokens == p.chat(req).usage.prompt_tokens  # counted exactly


def test_tool_result_round_trip(p: LocalServerProvider):
    q = (Message("user", "weather in Rome?"),)
    first = p.chat(ask(q, tools=(WEATHER,), tool_choice="required", max_tokens=200, seed=1))
    [call] = first.tool_calls
    city = json.loads(call.function.arguments)["city"]
    history = (*q, first.message, Message("tool", f"sunny in {city}", tool_call_id=call.id))
    # "none": the model must answer; the earlier call and its result go as text
    final = p.chat(ask(history, tools=(WEATHER,), tool_choice="none", max_tokens=10))
    assert final.content and not final.tool_calls and final.usage.completion_tokens == 10
    # the prompt billed by the server is the rewritten history, as the counter sees it
    assert final.usage.prompt_tokens == p.token_counter.count_messages(history)


def test_tool_loop_through_the_client(llama_server: str, tiny_model_path: Path):
    calls: list[str] = []

    def get_weather(city: Literal["Paris", "Rome", "Oslo"]) -> str:
        """Weather of a city.

        Args:
            city: the city.
        """
        calls.append(city)
        return f"sunny in {city}"

    cfg = {
        "modelbus": {"provider": "local", "cache": "none"},
        "providers": {
            "local": {
                "server": "llamacpp",
                "base_url": llama_server,
                "model_path": str(tiny_model_path),
            }
        },
    }
    with modelbus.Client(cfg) as client:
        r = client.chat(
            "weather in Paris?", tools=[get_weather], tool_choice="required", max_tokens=160, seed=1
        )
    assert calls and set(calls) <= {"Paris", "Rome", "Oslo"}
    roles = [m.role for m in r.transcript]
    assert roles[:3] == ["user", "assistant", "tool"] and roles[-1] == "assistant"
    assert r.transcript[2].content == f"sunny in {calls[0]}"
    assert not r.tool_calls  # the loop ended on an answer


# -- through modelbus.Client --------------------------------------------------------------------


def test_through_the_client(llama_server: str, tiny_model_path: Path):
    cfg = {
        "modelbus": {"provider": "local", "cache": "memory"},
        "providers": {
            "local": {
                "base_url": llama_server,  # server = "auto": probes it
                "model_path": str(tiny_model_path),
            }
        },
    }
    with modelbus.Client(cfg) as client:
        r = client.chat("hello world", max_tokens=6, seed=1)
        again = client.chat("hello world", max_tokens=6, seed=1)
        s = client.stream("hello there", max_tokens=6, seed=1)
        with s:
            streamed = "".join(c.content or "" for c in s)
        e = client.embed(["hello"])
        n = client.count_tokens("hello world")
        assert client.token_counter(SERVER_MODEL, "local").exact
    assert r.provider == "local" and r.model == SERVER_MODEL and r.usage.completion_tokens == 6
    assert again.cached and again.content == r.content
    assert streamed == s.response.content and s.response.usage.prompt_tokens > 0
    assert s.response.usage.estimated is True
    assert len(e.vectors[0]) == 64
    assert n == r.usage.prompt_tokens
