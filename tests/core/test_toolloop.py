"""The tool loop (core/modelbus/_tools/loop.py and loop_stream.py) end to end through a
real Client and the FakeProvider, plus streamed tool-call assembly from real recorded SSE
payloads."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from modelbus import ChatResponse, Message, StreamAccumulator, ToolRegistry, Usage, tool
from modelbus._plugins.registry import Registration
from modelbus._wire.converter import parse_chat_chunk
from modelbus.errors import ToolError
from modelbus.testing import FakeClock, FakeProvider, make_client
from tests.conftest import wire_dir


@tool
def get_weather(city: str, days: int = 1) -> str:
    """Weather for a city.

    Args:
        city: City name.
        days: Days of forecast.
    """
    return f"{city}: sunny for {days} day(s)"


@tool
def fail(reason: str) -> str:
    """Always fails."""
    raise LookupError(reason)


PRICED = {"catalog": {"fake-model": {"input_per_1m": 1.0, "output_per_1m": 2.0}}}


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider("fake", clock=FakeClock())


def test_sync_loop_end_to_end(fake: FakeProvider) -> None:
    fake.enqueue_tool_call("get_weather", '{"city": "Paris", "days": null}', call_id="c1")
    fake.enqueue_text("Sunny in Paris.", usage=Usage(30, 7, 37))
    with make_client(fake, PRICED) as client:
        resp = client.chat("Weather in Paris?", tools=[get_weather], system="Be brief.")
        totals = client.usage_totals
    assert resp.content == "Sunny in Paris."
    assert resp.usage == Usage(40, 12, 52)  # 10+30 prompt, 5+7 completion
    assert resp.cost_usd == pytest.approx((40 * 1.0 + 12 * 2.0) / 1e6)
    assert resp.attempts == 2 and resp.cached is False
    assert [m.role for m in resp.transcript] == ["system", "user", "assistant", "tool", "assistant"]
    assert resp.transcript[3] == Message("tool", "Paris: sunny for 1 day(s)", tool_call_id="c1")
    # what the provider saw: the tool spec both rounds, the tool result in round two
    first, second = fake.requests
    assert first.tools is not None and first.tools[0].function.name == "get_weather"
    assert first.tools[0].function.strict is True
    assert second.messages == resp.transcript[:4]
    assert totals.requests == 2 and totals.usage == Usage(40, 12, 52)


async def test_async_loop_end_to_end(fake: FakeProvider) -> None:
    fake.enqueue_tool_call("get_weather", '{"city": "Oslo", "days": 2}')
    fake.enqueue_text("Sunny in Oslo.")
    client = make_client(fake)
    resp = await client.achat("Weather in Oslo?", tools=ToolRegistry([get_weather]))
    await client.aclose()
    assert resp.content == "Sunny in Oslo."
    assert resp.transcript[2].content == "Oslo: sunny for 2 day(s)"
    assert resp.usage == Usage(20, 10, 30)


async def test_parallel_calls_run_concurrently_under_async(fake: FakeProvider) -> None:
    a_started, b_started = asyncio.Event(), asyncio.Event()

    @tool
    async def tool_a() -> str:
        a_started.set()
        await b_started.wait()  # never returns if tool_b only starts after tool_a ends
        return "a"

    @tool
    async def tool_b() -> str:
        b_started.set()
        await a_started.wait()
        return "b"

    fake.enqueue_tool_calls([("ca", "tool_a", "{}"), ("cb", "tool_b", "{}")])
    fake.enqueue_text("both done")
    client = make_client(fake)
    # the timeout only turns a deadlock (sequential calls) into a failure
    resp = await asyncio.wait_for(client.achat("go", tools=[tool_a, tool_b]), timeout=10)
    assert resp.content == "both done"
    assert [(m.tool_call_id, m.content) for m in resp.transcript[2:4]] == [("ca", "a"), ("cb", "b")]


async def test_sync_tools_run_on_threads_under_async(fake: FakeProvider) -> None:
    barrier = threading.Barrier(2, timeout=10)  # broken (error message) if run one by one

    @tool
    def meet(tag: str) -> str:
        barrier.wait()
        return tag

    fake.enqueue_tool_calls([("c1", "meet", '{"tag": "x"}'), ("c2", "meet", '{"tag": "y"}')])
    fake.enqueue_text("met")
    resp = await make_client(fake).achat("go", tools=[meet])
    assert [m.content for m in resp.transcript[2:4]] == ["x", "y"]


def test_parallel_calls_use_the_thread_pool_in_sync_code(fake: FakeProvider) -> None:
    barrier = threading.Barrier(2, timeout=10)

    @tool
    def meet(tag: str) -> str:
        barrier.wait()
        return tag

    fake.enqueue_tool_calls([("c1", "meet", '{"tag": "x"}'), ("c2", "meet", '{"tag": "y"}')])
    fake.enqueue_text("met")
    resp = make_client(fake).chat("go", tools=[meet])
    assert [m.content for m in resp.transcript[2:4]] == ["x", "y"]


@pytest.mark.parametrize("limit", [0, 1, 3])
def test_round_limit_raises_with_transcript(fake: FakeProvider, limit: int) -> None:
    for i in range(limit + 1):
        fake.enqueue_tool_call("get_weather", '{"city": "Rome", "days": 1}', call_id=f"c{i}")
    fake.enqueue_text("never reached")
    with pytest.raises(
        ToolError, match=rf"after {limit} rounds \(max_tool_rounds={limit}\)"
    ) as info:
        make_client(fake).chat("loop", tools=[get_weather], max_tool_rounds=limit)
    t = info.value.transcript
    assert len(t) == 1 + 2 * limit + 1  # user, (assistant + tool) per round, last assistant
    assert t[-1].tool_calls is not None and t[-1].tool_calls[0].id == f"c{limit}"
    assert fake.calls == limit + 1


async def test_round_limit_async(fake: FakeProvider) -> None:
    fake.enqueue_tool_call("get_weather", '{"city": "Rome", "days": 1}')
    fake.enqueue_tool_call("get_weather", '{"city": "Rome", "days": 1}')
    with pytest.raises(ToolError) as info:
        await make_client(fake).achat("loop", tools=[get_weather], max_tool_rounds=1)
    assert [m.role for m in info.value.transcript] == ["user", "assistant", "tool", "assistant"]


def test_tool_exception_goes_back_to_the_model(fake: FakeProvider) -> None:
    fake.enqueue_tool_calls(
        [
            ("c1", "fail", '{"reason": "no such city"}'),
            ("c2", "get_weather", '{"city": 5, "days": 1}'),
            ("c3", "missing_tool", "{}"),
        ]
    )
    fake.enqueue_text("Sorry.")
    resp = make_client(fake).chat("go", tools=[fail, get_weather])
    results = {m.tool_call_id: m.content for m in resp.transcript if m.role == "tool"}
    assert results["c1"] == "Error: LookupError: no such city"
    assert results["c2"] == (
        "Error: invalid arguments for 'get_weather': $.city: expected str, got int 5"
    )
    assert results["c3"] == "Error: unknown tool 'missing_tool'; available: fail, get_weather"
    assert resp.content == "Sorry."


def test_forcing_tool_choice_is_reset_after_the_first_round(fake: FakeProvider) -> None:
    fake.enqueue_tool_call("get_weather", '{"city": "Nice", "days": 1}')
    fake.enqueue_text("done")
    forced = {"type": "function", "function": {"name": "get_weather"}}
    make_client(fake).chat("go", tools=[get_weather], tool_choice=forced)
    assert [r.tool_choice for r in fake.requests] == [forced, "auto"]


def test_specs_only_pass_through_without_loop(fake: FakeProvider) -> None:
    fake.enqueue_tool_call("get_weather", '{"city": "Bern"}')
    spec = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    resp = make_client(fake).chat("go", tools=[spec])
    assert resp.tool_calls[0].function.name == "get_weather"
    assert resp.transcript == () and fake.calls == 1


def test_bad_tool_arguments_to_chat(fake: FakeProvider) -> None:
    client = make_client(fake)
    spec = {"type": "function", "function": {"name": "x", "parameters": {}}}
    with pytest.raises(TypeError, match="mixes functions with a plain tool spec"):
        client.chat("go", tools=[get_weather, spec])
    with pytest.raises(TypeError, match="max_tool_rounds needs runnable tools"):
        client.chat("go", max_tool_rounds=2)
    with pytest.raises(ValueError, match="max_tool_rounds must be an int >= 0"):
        client.chat("go", tools=[get_weather], max_tool_rounds=-1)
    assert fake.calls == 0


def test_plugin_tools_by_name(fake: FakeProvider) -> None:
    def shout(text: str) -> str:
        """Upper-case a text."""
        return text.upper()

    client = make_client(fake)
    client.registry.add(Registration("tools", "shout", shout, plugin="test-plugin"))
    fake.enqueue_tool_call("shout", '{"text": "hi"}')
    fake.enqueue_text("HI it is")
    resp = client.chat("go", tools=["shout"])
    assert resp.transcript[2].content == "HI"
    with pytest.raises(ToolError, match="no tool named 'whisper'.*registered: shout"):
        client.chat("go", tools=["whisper"])


def test_every_round_goes_through_cache_and_retry(fake: FakeProvider) -> None:
    calls: list[str] = []

    @tool
    def count(tag: str) -> str:
        calls.append(tag)
        return tag

    fake.enqueue_error(503)  # retried by the normal pipeline
    fake.enqueue_tool_call("count", '{"tag": "t"}')
    fake.enqueue_text("counted")
    client = make_client(fake)
    first = client.chat("go", tools=[count])
    assert first.attempts == 3 and fake.calls == 3  # 503 + retry, then round two
    again = client.chat("go", tools=[count])  # both rounds now served by the cache
    assert again.cached is True and again.attempts == 0 and fake.calls == 3
    assert again.content == "counted" and calls == ["t", "t"]
    assert client.usage_totals.cache_hits == 2


def test_unpriced_round_makes_the_cost_unknown(fake: FakeProvider) -> None:
    fake.enqueue_tool_call("get_weather", '{"city": "Lima", "days": 1}')
    fake.enqueue_text("ok")
    resp = make_client(fake).chat("go", tools=[get_weather])
    assert resp.cost_usd is None


# --- streamed tool calls from real recorded payloads -----------------------------------


def _sse_chunks(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[len("data: ") :]))
    return out


def _assemble(name: str) -> ChatResponse:
    acc = StreamAccumulator()
    for body in _sse_chunks(wire_dir() / "openai" / name):
        acc.add(parse_chat_chunk(body))
    return acc.response("openai")


def test_stream_parallel_tool_calls_assembled() -> None:
    resp = _assemble("chat_stream_parallel_tool_calls.sse")
    assert resp.finish_reason == "tool_calls" and resp.content is None
    assert [
        (tc.id, tc.function.name, json.loads(tc.function.arguments)) for tc in resp.tool_calls
    ] == [
        ("call_M26z19sncd7b4LBgzKRRbaUE", "secret_retrieval_tool", {"password": "mellon"}),
        ("call_KPXe5NX7IcKkaBUhc6dto2QV", "secret_retrieval_tool", {"password": "radiance"}),
    ]
    assert resp.usage == Usage(75, 53, 128)


def test_stream_tool_call_with_usage_assembled() -> None:
    resp = _assemble("chat_stream_tool_call_include_usage.sse")
    (tc,) = resp.tool_calls
    assert (tc.id, tc.function.name) == ("call_1EYWDzueHEp8OsB8jJSEp7WB", "multiply")
    assert json.loads(tc.function.arguments) == {"a": 1231, "b": 2331}
    assert resp.usage == Usage(54, 20, 74)


async def test_recorded_stream_calls_drive_the_loop(fake: FakeProvider) -> None:
    secrets = {"mellon": "Moria", "radiance": "Lothlorien"}

    @tool
    async def secret_retrieval_tool(password: str) -> str:
        """Look up the secret behind a password."""
        return secrets[password]

    @tool
    def multiply(a: int, b: int) -> int:
        return a * b

    fake.enqueue_response(_assemble("chat_stream_parallel_tool_calls.sse"))
    fake.enqueue_response(_assemble("chat_stream_tool_call_include_usage.sse"))
    fake.enqueue_text("Moria, Lothlorien, 2869461")
    resp = await make_client(fake).achat("go", tools=[secret_retrieval_tool, multiply])
    tool_msgs = [(m.tool_call_id, m.content) for m in resp.transcript if m.role == "tool"]
    assert tool_msgs == [
        ("call_M26z19sncd7b4LBgzKRRbaUE", "Moria"),
        ("call_KPXe5NX7IcKkaBUhc6dto2QV", "Lothlorien"),
        ("call_1EYWDzueHEp8OsB8jJSEp7WB", str(1231 * 2331)),
    ]
    assert resp.usage == Usage(75 + 54 + 10, 53 + 20 + 5, 128 + 74 + 15)
