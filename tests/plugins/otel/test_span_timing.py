"""A cache hit's span is handed to the SDK when the call ends (one attribute pass), so
its times must still be the call's: it starts when the call started, its events carry
the times they happened, its parent is the context the call started in. A call that goes
on to a provider opens its span before the provider is called (span processors see it in
flight), and a span a child needs as its parent (the tool loop's) is opened early and
still gets its end attributes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import StatusCode

from modelbus.errors import ServerError
from modelbus.testing import FakeProvider, make_client
from tests.plugins.otel.conftest import Telemetry, _tracer_provider

OTEL = {"modelbus": {"observers": ["otel"]}}
NO_CACHE = {"modelbus": {"observers": ["otel"], "cache": "none"}}


class _Starts(SpanProcessor):
    """When the SDK's span processors were told each span started (``on_start``)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started.append((span.name, time.time_ns()))


_STARTS = _Starts()
_tracer_provider.add_span_processor(_STARTS)


def _timed(provider: FakeProvider) -> list[int]:
    """When each attempt reached ``provider`` (its sync ``chat``), in ns."""
    sent: list[int] = []
    chat = provider.chat

    def timed(request: Any) -> Any:
        sent.append(time.time_ns())
        return chat(request)

    provider.chat = timed  # type: ignore[method-assign]
    return sent


def _within(span: Any, *times_ns: int) -> None:
    assert span.start_time <= min(times_ns) and max(times_ns) <= span.end_time


@pytest.mark.parametrize("is_async", [False, True])
def test_a_streams_span_starts_when_the_stream_does_not_when_it_ends(
    otel: Telemetry, is_async: bool
) -> None:
    marks: list[int] = []
    with make_client(FakeProvider(), NO_CACHE) as client:
        before = time.time_ns()
        if is_async:

            async def go() -> None:
                async for _ in client.astream("one two three four"):
                    marks.append(time.time_ns())

            asyncio.run(go())
        else:
            for _ in client.stream("one two three four"):
                marks.append(time.time_ns())
        after = time.time_ns()
    span = otel.span("chat fake-model")
    assert len(marks) > 1
    assert before <= span.start_time < marks[0] and marks[-1] <= span.end_time <= after
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0


def test_events_carry_the_time_they_happened_in_order(otel: Telemetry) -> None:
    provider = FakeProvider()
    provider.enqueue_error(503, "busy")
    provider.enqueue_error(503, "busy")
    sent = _timed(provider)
    with make_client(provider, OTEL) as client:
        client.chat("hi")
        between = time.time_ns()
        client.chat("hi")  # a hit
    miss, hit = otel.spans()
    names = [e.name for e in miss.events]
    assert names == [
        "modelbus.cache.miss",
        "modelbus.retry",
        "modelbus.retry",
        "modelbus.cache.stored",
    ]
    looked_up, retry1, retry2, stored = (e.timestamp for e in miss.events)
    assert len(sent) == 3
    assert miss.start_time <= looked_up < sent[0] < retry1 < sent[1] < retry2 < sent[2] < stored
    assert stored <= miss.end_time <= between <= hit.start_time
    (event,) = hit.events
    _within(hit, event.timestamp)


def test_a_stream_read_on_outside_its_callers_span_keeps_it_as_parent(
    otel: Telemetry, tracer: Any
) -> None:
    with make_client(FakeProvider(), NO_CACHE) as client:
        with tracer.start_as_current_span("app") as app:
            chunks = iter(client.stream("one two three"))
            next(chunks)  # the call starts here, inside "app"
        with tracer.start_as_current_span("elsewhere"):
            list(chunks)  # and ends here
    call = otel.span("chat fake-model")
    assert call.parent is not None and call.parent.span_id == app.get_span_context().span_id


def test_a_failed_streams_span_has_its_error_and_its_first_chunk(otel: Telemetry) -> None:
    provider = FakeProvider()
    with make_client(provider, NO_CACHE) as client:
        s = client.stream("one two three")
        next(iter(s))
        s.close()
    span = otel.span("chat fake-model")
    assert span.attributes["error.type"] == "GeneratorExit"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    provider.enqueue_error(500, "down", headers={"x-should-retry": "false"})
    with make_client(provider, NO_CACHE) as client, pytest.raises(ServerError):
        client.chat("hi")
    failed = [s for s in otel.spans() if s.attributes.get("error.type") == "ServerError"]
    assert len(failed) == 1 and failed[0].start_time <= failed[0].end_time


def test_the_loop_span_opened_for_its_children_spans_them_and_gets_its_end(
    otel: Telemetry,
) -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    provider = FakeProvider()
    provider.enqueue_tool_calls([("c1", "add", '{"a": 1, "b": 2}')])
    provider.enqueue_text("3")
    with make_client(provider, OTEL) as client:
        resp = client.chat("sum?", tools=[add])
    agent = otel.span("invoke_agent")
    children = [s for s in otel.spans() if s is not agent]
    assert len(children) == 3  # two rounds and the tool
    for child in children:
        assert child.parent is not None and child.parent.span_id == agent.context.span_id
        _within(agent, child.start_time, child.end_time)
    assert agent.attributes["gen_ai.usage.input_tokens"] == resp.usage.prompt_tokens
    assert agent.attributes["modelbus.attempts"] == resp.attempts


def test_a_call_that_goes_to_the_provider_shows_in_flight_before_it_is_sent(
    otel: Telemetry,
) -> None:
    provider = FakeProvider()
    sent = _timed(provider)
    _STARTS.started.clear()
    with make_client(provider, OTEL) as client:
        client.chat("hi")  # a miss: the span opens at the lookup's miss
        client.chat("hi")  # a hit: handed over when it ends
    (at,) = sent
    (miss_started, _), (hit_started, _) = ((t, n) for n, t in _STARTS.started)
    assert miss_started < at
    miss, hit = otel.spans()
    assert miss.start_time < at < miss.end_time
    assert hit.start_time < hit_started  # opened at its end, with its own start time
    assert [e.name for e in miss.events] == ["modelbus.cache.miss", "modelbus.cache.stored"]
    assert miss.attributes["gen_ai.response.model"] == hit.attributes["gen_ai.response.model"]
