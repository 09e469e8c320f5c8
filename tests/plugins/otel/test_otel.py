"""modelbus-otel against the OpenTelemetry SDK's in-memory exporter and metric reader:
a client configured with ``observers = ["otel"]`` makes a chat, a stream, a retried
call, a cached call, a tool-loop call and an embedding, and the spans and metrics are
checked against the GenAI semantic conventions (v1.41.0): names, attributes, parent
links, token counts equal to the response's usage."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from modelbus_otel import SEMCONV_VERSION
from opentelemetry.trace import SpanKind, StatusCode

import modelbus
from modelbus.errors import AuthenticationError
from modelbus.testing import FakeClock, FakeProvider, make_client
from modelbus.testing.server import Reply, WireServer
from tests.plugins.otel.conftest import Telemetry

OTEL = {"modelbus": {"observers": ["otel"]}}
NO_CACHE = {"modelbus": {"observers": ["otel"], "cache": "none"}}


def assert_usage(span: Any, resp: modelbus.ChatResponse) -> None:
    assert span.attributes["gen_ai.usage.input_tokens"] == resp.usage.prompt_tokens
    assert span.attributes["gen_ai.usage.output_tokens"] == resp.usage.completion_tokens


def by_type(points: list[Any]) -> dict[str, int]:
    return {p.attributes["gen_ai.token.type"]: int(p.sum) for p in points}


def test_a_chat_is_one_client_span_with_the_conventions_attributes(otel: Telemetry) -> None:
    provider = FakeProvider()
    provider.enqueue_text("hello there")
    with make_client(provider, NO_CACHE) as client:
        resp = client.chat("hi", temperature=0.2, max_tokens=50, top_p=0.9, seed=7)
    span = otel.span("chat fake-model")
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.schema_url.endswith(SEMCONV_VERSION)
    a = span.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "fake"
    assert a["gen_ai.request.model"] == "fake-model"
    assert (a["gen_ai.request.temperature"], a["gen_ai.request.max_tokens"]) == (0.2, 50)
    assert (a["gen_ai.request.top_p"], a["gen_ai.request.seed"]) == (0.9, 7)
    assert a["gen_ai.response.id"] == resp.id
    assert a["gen_ai.response.model"] == resp.model
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert_usage(span, resp)
    assert a["modelbus.cache"] == "bypass" and a["modelbus.attempts"] == 1
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
    assert "error.type" not in a and span.status.status_code is StatusCode.UNSET

    m = otel.metrics()
    (duration,) = m["gen_ai.client.operation.duration"]
    assert duration.count == 1 and duration.sum == pytest.approx(resp.latency_s)
    assert duration.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "fake",
        "gen_ai.request.model": "fake-model",
        "gen_ai.response.model": "fake-model",
    }
    assert duration.explicit_bounds[:3] == (0.01, 0.02, 0.04)
    tokens = m["gen_ai.client.token.usage"]
    assert by_type(tokens) == {
        "input": resp.usage.prompt_tokens,
        "output": resp.usage.completion_tokens,
    }
    assert "gen_ai.client.operation.time_to_first_chunk" not in m  # streams only


@pytest.mark.parametrize("is_async", [False, True])
def test_a_stream_records_time_to_first_chunk_and_its_usage(
    otel: Telemetry, is_async: bool
) -> None:
    with make_client(FakeProvider(), NO_CACHE) as client:
        if is_async:

            async def go() -> modelbus.ChatResponse:
                s = client.astream("hi")
                _ = [c async for c in s]
                return s.response

            resp = asyncio.run(go())
        else:
            s = client.stream("hi")
            list(s)
            resp = s.response
    span = otel.span("chat fake-model")
    ttfc = span.attributes["gen_ai.response.time_to_first_chunk"]
    assert 0 <= ttfc <= resp.latency_s
    assert_usage(span, resp)
    m = otel.metrics()
    (point,) = m["gen_ai.client.operation.time_to_first_chunk"]
    assert point.count == 1 and point.sum == pytest.approx(ttfc)
    assert by_type(m["gen_ai.client.token.usage"]) == {"input": 10, "output": 5}


def test_a_retried_call_shows_each_retry_as_a_span_event(otel: Telemetry) -> None:
    provider = FakeProvider()
    provider.enqueue_error(429, "slow down", headers={"retry-after": "1"})
    provider.enqueue_error(503, "busy")
    with make_client(provider, NO_CACHE) as client:
        resp = client.chat("hi")
    span = otel.span("chat fake-model")
    retries = [e for e in span.events if e.name == "modelbus.retry"]
    assert [e.attributes["modelbus.retry.attempt"] for e in retries] == [1, 2]
    assert [e.attributes["error.type"] for e in retries] == ["RateLimitError", "ServerError"]
    assert retries[0].attributes["modelbus.retry.delay_s"] >= 1.0
    assert span.attributes["modelbus.attempts"] == resp.attempts == 3
    assert_usage(span, resp)


def test_a_cache_hit_is_marked_and_spends_no_tokens(otel: Telemetry) -> None:
    with make_client(FakeProvider(), OTEL) as client:
        first = client.chat("hi")
        otel.metrics()  # the miss's points
        second = client.chat("hi")
    miss, hit = otel.spans()
    assert [e.name for e in miss.events] == ["modelbus.cache.miss", "modelbus.cache.stored"]
    assert [e.name for e in hit.events] == ["modelbus.cache.hit"]
    keys = {e.attributes["modelbus.cache.key"] for e in miss.events}
    assert len(keys) == 1 and len(keys.pop()) == 64  # the digest looked up, then stored
    assert (miss.attributes["modelbus.cache"], hit.attributes["modelbus.cache"]) == ("miss", "hit")
    assert_usage(miss, first)
    assert_usage(hit, second)  # the reply's usage, as cached
    m = otel.metrics()
    assert len(m["gen_ai.client.operation.duration"]) == 1
    assert "gen_ai.client.token.usage" not in m  # a hit bills no tokens


@pytest.mark.parametrize("is_async", [False, True])
def test_the_tool_loop_is_an_agent_span_over_its_rounds_and_tools(
    otel: Telemetry, tracer: Any, is_async: bool
) -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    provider = FakeProvider()
    provider.enqueue_tool_calls([("c1", "add", '{"a": 1, "b": 2}'), ("c2", "add", '{"a": 3}')])
    provider.enqueue_text("3, and the second failed")
    with make_client(provider, OTEL) as client, tracer.start_as_current_span("app") as app:
        if is_async:
            resp = asyncio.run(client.achat("sums?", tools=[add]))
        else:
            resp = client.chat("sums?", tools=[add])
    agent = otel.span("invoke_agent")
    rounds = [s for s in otel.spans() if s.name == "chat fake-model"]
    tools = sorted(
        (s for s in otel.spans() if s.name == "execute_tool add"),
        key=lambda s: s.attributes["gen_ai.tool.call.id"],
    )
    assert agent.parent is not None and agent.parent.span_id == app.get_span_context().span_id
    assert agent.kind is SpanKind.INTERNAL
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert len(rounds) == 2 and len(tools) == 2
    for child in (*rounds, *tools):
        assert child.parent is not None and child.parent.span_id == agent.context.span_id
        assert child.context.trace_id == app.get_span_context().trace_id
    ok, failed = tools
    assert ok.attributes["gen_ai.operation.name"] == "execute_tool"
    assert ok.attributes["gen_ai.tool.call.id"] == "c1"
    assert ok.attributes["gen_ai.tool.type"] == "function"
    assert ok.status.status_code is StatusCode.UNSET
    assert failed.attributes["error.type"] == "tool_error"
    assert failed.status.status_code is StatusCode.ERROR
    assert "gen_ai.tool.call.arguments" not in ok.attributes
    # The loop's span carries the summed usage; the token metric counts each round once.
    assert_usage(agent, resp)
    tokens = otel.metrics()["gen_ai.client.token.usage"]
    round_input = sum(s.attributes["gen_ai.usage.input_tokens"] for s in rounds)
    assert by_type(tokens)["input"] == round_input == resp.usage.prompt_tokens


@pytest.mark.parametrize("mode", ["chat", "achat", "stream", "astream"])
def test_the_call_span_is_a_child_of_the_callers_span(
    otel: Telemetry, tracer: Any, mode: str
) -> None:
    async def acall(client: modelbus.Client) -> None:
        with tracer.start_as_current_span("app"):
            if mode == "achat":
                await client.achat("hi")
            else:
                _ = [c async for c in client.astream("hi")]

    with make_client(FakeProvider(), NO_CACHE) as client:
        if mode.startswith("a"):
            asyncio.run(acall(client))
        else:
            with tracer.start_as_current_span("app"):
                if mode == "chat":
                    client.chat("hi")
                else:
                    list(client.stream("hi"))
    app, call = otel.span("app"), otel.span("chat fake-model")
    assert call.parent is not None and call.parent.span_id == app.context.span_id


def test_a_failed_call_ends_its_span_with_the_error(otel: Telemetry) -> None:
    provider = FakeProvider()
    provider.enqueue_error(401, "Incorrect API key provided: sk-abcdefghijklmnopqrst")
    with make_client(provider, NO_CACHE) as client, pytest.raises(AuthenticationError):
        client.chat("hi")
    span = otel.span("chat fake-model")
    assert span.attributes["error.type"] == "AuthenticationError"
    assert span.status.status_code is StatusCode.ERROR
    assert "sk-abcdefghijklmnopqrst" not in (span.status.description or "")
    (duration,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "AuthenticationError"


def test_a_fallback_is_a_span_event(otel: Telemetry) -> None:
    provider = FakeProvider()
    provider.enqueue_error(503, "down", headers={"x-should-retry": "false"})
    config = {
        **NO_CACHE,
        "models": {"main": {"provider": "fake", "model": "m1", "fallbacks": ["fake/m2"]}},
    }
    with make_client(provider, config) as client:
        client.chat("hi", model="main")
    span = otel.span("chat m1")
    (fb,) = [e for e in span.events if e.name == "modelbus.fallback"]
    assert fb.attributes["modelbus.fallback.to_model"] == "m2"
    assert span.attributes["gen_ai.response.model"] == "m2"


def test_an_embedding_is_an_embeddings_span(otel: Telemetry) -> None:
    with make_client(FakeProvider(), OTEL) as client:
        resp = client.embed(["one two", "three"], model="emb", dimensions=4)
    span = otel.span("embeddings emb")
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 4
    assert span.attributes["gen_ai.usage.input_tokens"] == resp.usage.prompt_tokens == 3
    assert by_type(otel.metrics()["gen_ai.client.token.usage"]) == {"input": 3}


CONTENT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]


@pytest.mark.parametrize("how", ["settings", "env"])
def test_message_content_is_recorded_only_when_opted_in(
    otel: Telemetry, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    config: dict[str, Any] = {**NO_CACHE}
    if how == "settings":
        config["observers"] = {"otel": {"capture_message_content": True}}
    else:
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    with make_client(FakeProvider(), config) as client:
        client.chat(CONTENT)
    a = otel.span("chat fake-model").attributes
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "echo: hi"}],
            "finish_reason": "stop",
        }
    ]


def test_over_http_the_span_names_the_server_and_retries(otel: Telemetry) -> None:
    with WireServer() as srv:
        port = srv.port
        srv.enqueue(Reply.error(500, "upstream failed"))
        cfg = {
            "modelbus": {"provider": "openai", "cache": "none", "observers": ["otel"]},
            "providers": {"openai": {"base_url": srv.base_url, "api_key": "sk-test"}},
        }
        with modelbus.Client(cfg, clock=FakeClock().as_clock()) as client:
            resp = client.chat("hi", model="gpt-4o-mini")
    span = otel.span("chat gpt-4o-mini")
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert span.attributes["server.address"] == "127.0.0.1"
    assert span.attributes["server.port"] == port
    assert [e.name for e in span.events] == ["modelbus.retry"]
    assert_usage(span, resp)
    assert resp.usage.prompt_tokens > 0


def test_without_an_sdk_nothing_breaks(otel: Telemetry) -> None:
    """The observer only uses the API; with the SDK's providers in place here, a client
    whose metrics are off records spans only."""
    config = {**NO_CACHE, "observers": {"otel": {"metrics": False}}}
    with make_client(FakeProvider(), config) as client:
        client.chat("hi")
    assert otel.span("chat fake-model")
    assert otel.metrics() == {}


def _reply(model: str) -> modelbus.ChatResponse:
    message = modelbus.Message("assistant", "ok")
    return modelbus.ChatResponse(
        id=model,
        model=model,
        message=message,
        finish_reason="stop",
        usage=modelbus.Usage(10, 5, 15),
    )


def test_calls_on_one_route_keep_their_own_request_and_response_attributes(
    otel: Telemetry,
) -> None:
    """A route's span name and attribute sets are built once and shared by its calls: no
    call's parameters or answering model may show in another call's span or points."""
    provider = FakeProvider()
    for model in ("fake-model-v1", "fake-model-v2", "fake-model-v1"):
        provider.enqueue_response(_reply(model))
    with make_client(provider, NO_CACHE) as client:
        client.chat("a", temperature=0.2, stop=["x"])
        client.chat("b")
        client.chat("c", seed=3)
    a, b, c = otel.spans()

    def request_keys(span: Any) -> set[str]:
        return {k for k in span.attributes if k.startswith("gen_ai.request.")}

    assert request_keys(a) == {
        "gen_ai.request.model",
        "gen_ai.request.temperature",
        "gen_ai.request.stop_sequences",
    }
    assert a.attributes["gen_ai.request.stop_sequences"] == ("x",)
    assert request_keys(b) == {"gen_ai.request.model"}
    assert request_keys(c) == {"gen_ai.request.model", "gen_ai.request.seed"}
    assert [s.attributes["gen_ai.response.model"] for s in (a, b, c)] == [
        "fake-model-v1",
        "fake-model-v2",
        "fake-model-v1",
    ]
    m = otel.metrics()
    durations = m["gen_ai.client.operation.duration"]
    assert {p.attributes["gen_ai.response.model"]: p.count for p in durations} == {
        "fake-model-v1": 2,
        "fake-model-v2": 1,
    }
    tokens = {
        (p.attributes["gen_ai.response.model"], p.attributes["gen_ai.token.type"]): int(p.sum)
        for p in m["gen_ai.client.token.usage"]
    }
    assert tokens == {
        ("fake-model-v1", "input"): 20,
        ("fake-model-v1", "output"): 10,
        ("fake-model-v2", "input"): 10,
        ("fake-model-v2", "output"): 5,
    }


def test_concurrent_calls_on_many_threads_each_get_their_own_whole_span(
    otel: Telemetry,
) -> None:
    models = ["m0", "m1", "m2", "m3"]

    def one(i: int) -> modelbus.ChatResponse:
        return client.chat(f"q{i}", model=f"fake/{models[i % 4]}", seed=i)

    with make_client(FakeProvider(), NO_CACHE) as client, ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(200)))
    spans = otel.spans()
    assert len(spans) == 200
    for s in spans:
        model = s.attributes["gen_ai.request.model"]
        assert s.name == f"chat {model}" and s.attributes["gen_ai.response.model"] == model
        assert s.attributes["gen_ai.request.seed"] % 4 == models.index(model)
    assert sorted(s.attributes["gen_ai.request.seed"] for s in spans) == list(range(200))
    durations = otel.metrics()["gen_ai.client.operation.duration"]
    assert {p.attributes["gen_ai.request.model"]: p.count for p in durations} == {
        m: 50 for m in models
    }
