"""The server backend on the real recorded payloads of Ollama, llama.cpp and vLLM
(``tests/fixtures/wire``), replayed over HTTP by the WireServer and read through the
openai SDK, modelbus-openai's conversion and the ``local`` provider's fixes.

The expected values are read from the recordings themselves, so each test states what
the provider must make of a payload, not a number copied from it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import modelbus
from modelbus._wire.stream_accumulator import StreamAccumulator
from modelbus._wire.types import ChatRequest, EmbeddingRequest, Message
from modelbus.testing.server import Reply, WireServer, find_fixture, wire_fixtures
from modelbus_local._server import NO_KEY, LocalServerProvider
from modelbus_local._settings import LocalSettings

LOCAL_SERVERS = ("ollama", "llamacpp", "vllm")
JSON_FIXTURES = [f for p in LOCAL_SERVERS for f in wire_fixtures("json", provider=p)]
SSE_FIXTURES = [f for p in LOCAL_SERVERS for f in wire_fixtures("sse", provider=p)]
JSONL_FIXTURES = [f for p in LOCAL_SERVERS for f in wire_fixtures("jsonl", provider=p)]


@pytest.fixture
def srv(wire_server: WireServer) -> WireServer:
    """The shared WireServer of modelbus's pytest plugin, reset for this test."""
    return wire_server


def provider(srv: WireServer, kind: str, **kw: Any) -> LocalServerProvider:
    settings = LocalSettings(server=kind, base_url=srv.base_url, model=kw.pop("model", "m"), **kw)
    return LocalServerProvider(settings)


def ask(**kw: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", "hi"),), **kw)


def expected_choice(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    choice = body["choices"][0]
    return choice, choice["message"]


# -- recorded chat completions ------------------------------------------------------------


@pytest.mark.parametrize("fixture", JSON_FIXTURES, ids=lambda f: f.name)
def test_recorded_chat_completion_is_read(srv: WireServer, fixture: Any):
    body = json.loads(fixture.read_bytes())
    choice, msg = expected_choice(body)
    srv.set_default(Reply.fixture(fixture), path="/v1/chat/completions")
    with provider(srv, fixture.provider) as p:
        r = p.chat(ask())
    assert r.id == body["id"] and r.model == body["model"]
    assert r.content == msg.get("content") and r.finish_reason == choice["finish_reason"]
    # llama.cpp's reasoning_content and Ollama's reasoning both land in reasoning_content
    assert r.message.reasoning_content == (msg.get("reasoning_content") or msg.get("reasoning"))
    u = body["usage"]
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (
        u["prompt_tokens"],
        u["completion_tokens"],
        u["total_tokens"],
    )
    assert not r.usage.estimated and "usage_counted_by" not in r.extra  # taken as is
    for key in ("timings", "system_fingerprint"):  # llama.cpp timings, Ollama fingerprint
        assert r.extra.get(key) == body.get(key)
    calls = msg.get("tool_calls") or []
    assert [(c.id, c.function.name, c.function.arguments) for c in r.tool_calls] == [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls
    ]


@pytest.mark.parametrize("fixture", JSONL_FIXTURES, ids=lambda f: f.name)
def test_recorded_vllm_batch_responses_are_read(srv: WireServer, fixture: Any):
    lines = [json.loads(x) for x in fixture.read_bytes().splitlines() if x.strip()]
    with provider(srv, fixture.provider) as p:
        for line in lines:
            body = line["response"]
            srv.enqueue(Reply.json(body))
            r = p.chat(ask())
            choice, msg = expected_choice(body)
            assert r.id == body["id"] and r.content == msg["content"]
            assert r.extra["stop_reason"] == choice["stop_reason"]  # vLLM's per-choice field
            assert r.usage.completion_tokens == body["usage"]["completion_tokens"]


def sse_payloads(fixture: Any) -> list[dict[str, Any]]:
    out = []
    for line in fixture.read_bytes().decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[len("data: ") :]))
    return out


@pytest.mark.parametrize("fixture", SSE_FIXTURES, ids=lambda f: f.name)
def test_recorded_stream_is_read(srv: WireServer, fixture: Any):
    payloads = sse_payloads(fixture)
    srv.set_default(Reply.fixture(fixture), path="/v1/chat/completions")
    with provider(srv, fixture.provider) as p:
        chunks = list(p.stream(ask()))
    acc = StreamAccumulator()
    for c in chunks:
        acc.add(c)
    r = acc.response()
    # tool calls as streamed: the id of the first fragment (vLLM's chatcmpl-tool-<hex>),
    # the name without arguments first, then the argument fragments
    deltas = [
        tc for p_ in payloads for ch in p_["choices"] for tc in ch["delta"].get("tool_calls", [])
    ]
    if deltas:
        want_id = next(d["id"] for d in deltas if d.get("id"))
        args = "".join(d["function"].get("arguments", "") for d in deltas)
        assert [(c.id, c.function.arguments) for c in r.tool_calls] == [(want_id, args)]
        assert r.finish_reason == "tool_calls"
    # vLLM's continuous usage: every chunk has one; the last one is the whole call's
    last_usage = [p_["usage"] for p_ in payloads if p_.get("usage")][-1]
    assert r.usage.total_tokens == last_usage["total_tokens"]
    assert r.usage.completion_tokens == last_usage["completion_tokens"]
    assert not r.usage.estimated  # nothing counted: the server sent usage


def test_recorded_payloads_through_the_client(srv: WireServer):
    ollama = find_fixture("ollama/chat_completion_json_schema_reasoning")
    body = json.loads(ollama.read_bytes())
    srv.set_default(Reply.fixture(ollama), path="/v1/chat/completions")
    cfg = {
        "modelbus": {"provider": "local", "cache": "memory"},
        "providers": {"local": {"server": "ollama", "base_url": srv.base_url}},
    }
    srv.set_default(
        Reply.json(
            {
                "object": "list",
                "data": [{"id": body["model"], "object": "model", "owned_by": "library"}],
            }
        ),
        path="/v1/models",
    )
    with modelbus.Client(cfg) as client:
        r1 = client.chat("capital of France?", response_format={"type": "json_object"})
        r2 = client.chat("capital of France?", response_format={"type": "json_object"})
        stream_srv_calls = len(srv.requests)
    assert r1.model == body["model"] and r1.provider == "local" and not r1.cached
    assert json.loads(r1.content or "") == {"city": "Paris", "country": "France"}
    assert r1.message.reasoning_content == body["choices"][0]["message"]["reasoning"]
    assert r2.cached and r2.content == r1.content
    # GET /v1/models (the default model) then one chat: the second answer is the cache's
    assert [q.path for q in srv.requests[:stream_srv_calls]] == [
        "/v1/models",
        "/v1/chat/completions",
    ]


def test_vllm_stream_through_the_client_keeps_the_last_usage(srv: WireServer):
    fixture = find_fixture("vllm/chat_stream_tool_call_nim_continuous_usage")
    srv.set_default(Reply.fixture(fixture), path="/v1/chat/completions")
    cfg = {
        "modelbus": {"provider": "local", "cache": "none"},
        "providers": {"local": {"server": "vllm", "base_url": srv.base_url, "model": "m"}},
    }
    with modelbus.Client(cfg) as client:
        s = client.stream(
            "search the news",
            tools=[
                {
                    "type": "function",
                    "function": {"name": "searchGoogle", "parameters": {"type": "object"}},
                }
            ],
        )
        with s:
            n = sum(1 for _ in s)
        r = s.response
    assert n > 0 and r.finish_reason == "tool_calls"
    assert r.tool_calls[0].id.startswith("chatcmpl-tool-")
    assert json.loads(r.tool_calls[0].function.arguments) == {"query": "latest news on ai"}
    last = [p["usage"] for p in sse_payloads(fixture) if p.get("usage")][-1]
    assert r.usage.total_tokens == last["total_tokens"]
    body = srv.requests[-1].json
    assert body["tools"][0]["function"]["name"] == "searchGoogle"  # native tools on vLLM


# -- the key -------------------------------------------------------------------------------


def test_the_openai_key_is_never_sent_to_a_local_server(
    srv: WireServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-never-sent")
    with provider(srv, "ollama") as p:  # the WireServer's default chat and stream
        p.chat(ask())
        list(p.stream(ask()))
    for req in srv.requests:
        assert req.headers["authorization"] == f"Bearer {NO_KEY}"
        assert "sk-real-openai-key" not in str(req.headers.raw)


def test_a_configured_key_is_sent(srv: WireServer):
    srv.set_default(Reply.fixture("ollama/chat_completion"), path="/v1/chat/completions")
    with provider(srv, "vllm", api_key=modelbus.Secret("vllm-server-key")) as p:
        p.chat(ask())
    assert srv.requests[0].headers["authorization"] == "Bearer vllm-server-key"


# -- differences handled ------------------------------------------------------------------


def test_tool_calls_without_ids_get_ids(srv: WireServer):
    body = json.loads(find_fixture("ollama/chat_completion_tool_calls_cloud").read_bytes())
    for tc in body["choices"][0]["message"]["tool_calls"]:
        del tc["id"]  # as some servers send them
    srv.enqueue(Reply.json(body))
    chunk = {
        "id": "x",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {"index": 0, "function": {"name": "final_result", "arguments": "{}"}}
                    ]
                },
                "finish_reason": None,
            }
        ],
    }
    tail = {
        "id": "x",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ""}}]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
    srv.enqueue(Reply.sse([chunk, tail]))
    with provider(srv, "ollama") as p:
        r = p.chat(ask())
        chunks = list(p.stream(ask()))
    [call] = r.tool_calls
    assert call.id.startswith("call_") and len(call.id) == 29
    assert call.function.name == "final_result"
    first, second = (c.tool_calls[0] for c in chunks if c.tool_calls)
    assert first.id is not None and first.id.startswith("call_")
    assert second.id is None  # later fragments of the call carry no id, as on OpenAI's wire


def test_missing_stream_usage_is_counted_and_marked(srv: WireServer):
    # an OpenAI-shaped stream without any usage chunk, as llama-cpp-python's server sends
    chunks = [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "Hello "},
                    "finish_reason": None,
                }
            ],
        },
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "there"}, "finish_reason": "stop"}],
        },
    ]
    srv.set_default(Reply.sse(chunks), path="/v1/chat/completions")
    with provider(srv, "ollama") as p:  # no tokenizer route: the approximation
        out = list(p.stream(ask()))
    last = out[-1]
    assert last.usage is not None and last.content is None
    assert last.extra == {"usage_counted_by": "approximation"} and last.usage.estimated
    assert last.usage.completion_tokens == (len("Hello there") + 3) // 4
    assert not any(q.path.endswith("tokenize") for q in srv.requests)


def test_json_schema_is_sent_as_the_server_accepts_it(srv: WireServer):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    rf = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
    srv.set_default(Reply.fixture("llamacpp/chat_completion"), path="/v1/chat/completions")
    for kind, want in (
        ("llamacpp", {"type": "json_object", "schema": schema}),  # json_schema → HTTP 500
        ("ollama", rf),
        ("vllm", rf),
    ):
        srv.clear()
        with provider(srv, kind) as p:
            p.chat(ask(response_format=rf))
        assert srv.requests[0].json["response_format"] == want, kind


def test_embeddings_ask_for_json_floats(srv: WireServer):
    with provider(srv, "ollama") as p:
        e = p.embed(EmbeddingRequest(model="m", input=("a", "b")))
    assert len(e.vectors) == 2 and len(e.vectors[0]) > 0
    body = srv.requests[0].json
    assert body["input"] == ["a", "b"] and "encoding_format" not in body
