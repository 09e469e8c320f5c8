"""The ``otel`` observer: modelbus call events → OpenTelemetry spans and metrics.

Follows the OpenTelemetry semantic conventions v1.41.0, ``docs/gen-ai/gen-ai-spans.md``,
``gen-ai-agent-spans.md`` and ``gen-ai-metrics.md`` (status: Development):

- a span per call, kind CLIENT, named ``{gen_ai.operation.name} {gen_ai.request.model}``
  (``chat gpt-4o``, ``embeddings text-embedding-3-small``; streams are ``chat`` too),
  with ``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
  ``gen_ai.request.temperature`` / ``max_tokens`` / ``top_p`` / ``seed`` /
  ``frequency_penalty`` / ``presence_penalty`` / ``stop_sequences`` /
  ``choice.count``, ``gen_ai.response.id`` / ``model`` / ``finish_reasons``,
  ``gen_ai.usage.input_tokens`` / ``output_tokens``, ``server.address`` /
  ``server.port``, ``error.type`` (the modelbus error class: ``RateLimitError``,
  ``ServerError``, ``APITimeoutError``... see ``modelbus.errors``);
- the tool loop is an ``invoke_agent`` span (kind INTERNAL) whose children are the
  ``chat`` span of each round and an ``execute_tool {gen_ai.tool.name}`` span per tool
  execution (``gen_ai.tool.name``, ``gen_ai.tool.call.id``, ``gen_ai.tool.type``);
- retries, fallbacks and the cache are span events on the call's span:
  ``modelbus.retry`` (``modelbus.retry.attempt``, ``modelbus.retry.delay_s``,
  ``error.type``), ``modelbus.fallback`` (``modelbus.fallback.to_model``...),
  ``modelbus.cache.hit`` / ``modelbus.cache.miss`` / ``modelbus.cache.stored`` (the
  last two with ``modelbus.cache.key``); the span's
  ``modelbus.cache`` attribute says where the answer came from (``hit``, ``miss``,
  ``bypass``, ``shared``) and ``modelbus.attempts`` / ``modelbus.cost_usd`` what it took;
- histograms ``gen_ai.client.operation.duration`` (s), ``gen_ai.client.token.usage``
  ({token}, one record per ``gen_ai.token.type``: ``input`` and ``output``; only for
  tokens a provider call spent, so not for cache hits, answers shared by single-flight,
  or a tool loop's sums) and ``gen_ai.client.operation.time_to_first_chunk`` (s, streams
  only), with the conventions' bucket boundaries.

The call span's parent is the span current where the call was made (``chat``, ``achat``,
or the first iteration of ``stream`` / ``astream``); a tool-loop round's is the loop's.

When a call's span starts: a call answered from the cache (the shortest call, where an
observer's cost shows most) is handed to the SDK when it ends, with its start time and
its events' timestamps as they happened, so the SDK validates its attributes in one
pass (a span opened at the start and completed at the end pays a second pass, with a
lock and a check per attribute, for the response's). Any other call's span opens as soon
as the call is known to go on to a provider (its cache lookup missed, an attempt is
retried, a fallback is taken) or a call made inside it needs it as a parent (a tool
loop's rounds and tools), with the call's start time: span processors that show spans
in flight (``on_start``) see it while the provider works. A call that consults no cache
(``cache = "none"``, a call's ``cache="bypass"`` or ``"refresh"``, embeddings) and
succeeds at once is handed over when it ends, like a hit.
"""

from __future__ import annotations

import threading
from time import time_ns
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from modelbus import ChatRequest, ChatResponse
from modelbus.events import (
    CacheHit,
    CacheMissed,
    CacheStored,
    CallEvent,
    CallFailed,
    CallFinished,
    CallStarted,
    FallbackTaken,
    FirstChunk,
    RetryScheduled,
    ToolFinished,
    ToolStarted,
)

from ._attributes import MEMO_MAX, Route, provider_name, request_attributes
from ._content import input_messages, output_messages, system_instructions
from ._settings import SEMCONV_VERSION, OtelSettings, content_from_env

__all__ = ["OtelObserver", "provider_name"]

# gen-ai-metrics.md: ExplicitBucketBoundaries advised per metric.
_DURATION_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
_TOKEN_BUCKETS = tuple(4**i for i in range(14))  # 1, 4, 16, ... 67108864
_SCOPE = "modelbus_otel"
_SCHEMA = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
_TTFC = "gen_ai.response.time_to_first_chunk"
_current_context = otel_context.get_current


class _Call:
    """One call in flight: what its span will be made of (start attributes, parent
    context, start time in ns since the epoch, events as ``(name, attributes,
    timestamp)``), and the span once opened."""

    __slots__ = ("attrs", "events", "parent", "route", "span", "start_ns", "ttfc")

    def __init__(
        self, route: Route, attrs: dict[str, Any], parent: otel_context.Context | None
    ) -> None:
        self.route = route
        self.attrs = attrs  # this call's own dict: the end's attributes are added to it
        self.parent = parent
        self.start_ns = time_ns()
        self.events: list[tuple[str, dict[str, Any] | None, int]] = []
        self.span: Span | None = None
        self.ttfc: float | None = None


class OtelObserver:
    """Records each call's events as spans and metrics (see the module doc). Uses the
    global tracer and meter providers (``opentelemetry.trace.set_tracer_provider``...),
    looked up when the client is built; without an SDK they are no-ops."""

    def __init__(self, settings: OtelSettings | None = None) -> None:
        settings = settings or OtelSettings()
        self.capture_content = settings.capture_message_content or content_from_env()
        self._tracer = trace.get_tracer(_SCOPE, schema_url=_SCHEMA)
        self._metrics = settings.metrics
        meter = metrics.get_meter(_SCOPE, schema_url=_SCHEMA)
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self._ttfc = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streamed response",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._routes: dict[tuple[str, str, str, str | None], Route] = {}
        # Calls and tool executions in flight. Events of concurrent calls arrive on many
        # threads; each touches these with one store, get or pop, which is atomic.
        self._calls: dict[int, _Call] = {}
        self._tools: dict[tuple[int, str], Span] = {}
        # Opening a call's span: at its end, or earlier for a child on another thread.
        self._opening = threading.Lock()
        self._handlers: dict[type, Any] = {
            CallStarted: self._started,
            RetryScheduled: self._retry,
            CacheHit: self._cache_hit,
            CacheMissed: self._cache,
            CacheStored: self._cache,
            FallbackTaken: self._fallback,
            FirstChunk: self._first_chunk,
            ToolStarted: self._tool_started,
            ToolFinished: self._tool_finished,
            CallFinished: self._finished,
            CallFailed: self._failed,
        }

    def on_event(self, event: CallEvent) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    # --- spans --------------------------------------------------------------------------
    def _route(self, key: tuple[str, str, str, str | None]) -> Route:
        route = Route(*key)
        if len(self._routes) < MEMO_MAX:
            self._routes[key] = route
        return route

    def _started(self, e: CallStarted) -> None:
        key = (e.operation, e.provider, e.model, e.endpoint)
        route = self._routes.get(key) or self._route(key)
        req = e.request
        if isinstance(req, ChatRequest):
            attrs = request_attributes(req, dict(route.attrs))
            if self.capture_content:
                attrs["gen_ai.input.messages"] = input_messages(req.messages)
                system = system_instructions(req.messages)
                if system is not None:
                    attrs["gen_ai.system_instructions"] = system
        else:
            attrs = dict(route.attrs)
            if req is not None and getattr(req, "dimensions", None) is not None:
                attrs["gen_ai.embeddings.dimension.count"] = req.dimensions
        outer = None if e.parent_id is None else self._calls.get(e.parent_id)
        if outer is not None:
            parent = trace.set_span_in_context(self._open(outer))
        else:
            # The caller's context now: by the call's end it may be another (a stream is
            # read on, and its span ended, wherever its last chunk is pulled).
            parent = _current_context()
        self._calls[e.call_id] = _Call(route, attrs, parent)

    def _open(self, call: _Call) -> Span:
        """``call``'s span, opened now if it is not yet (a child needs it as parent)."""
        with self._opening:
            if call.span is None:
                call.span = self._start_span(call)
            return call.span

    def _start_span(self, call: _Call) -> Span:
        return self._tracer.start_span(
            call.route.name,
            context=call.parent,
            kind=call.route.kind,
            attributes=call.attrs,
            start_time=call.start_ns,
        )

    def _close(self, call: _Call, end: dict[str, Any], status: Status | None = None) -> None:
        """End ``call``'s span with its ``end`` attributes: added to its start attributes
        when it opens now (the usual case), or set on it if a child opened it earlier."""
        with self._opening:
            span = call.span
            if span is None:
                call.attrs.update(end)
                span = call.span = self._start_span(call)
                end = {}
        if end:
            span.set_attributes(end)
        for name, attrs, ts in call.events:
            span.add_event(name, attrs, ts)
        if status is not None:
            span.set_status(status)
        span.end()

    def _event(self, call_id: int, name: str, attrs: dict[str, Any]) -> None:
        """An event of a call that is going to a provider: buffered with its time, and
        the call's span opened now (if not yet) so that it shows while in flight."""
        call = self._calls.get(call_id)
        if call is not None:
            call.events.append((name, attrs, time_ns()))
            if call.span is None:
                self._open(call)

    def _retry(self, e: RetryScheduled) -> None:
        attrs = {
            "modelbus.retry.attempt": e.attempt,
            "modelbus.retry.delay_s": e.delay_s,
            "error.type": e.error.type,
        }
        self._event(e.call_id, "modelbus.retry", attrs)

    def _cache_hit(self, e: CacheHit) -> None:
        # The hot path (so _event inlined): the hit's key is the one its miss stored, so
        # no attributes.
        call = self._calls.get(e.call_id)
        if call is not None:
            call.events.append(("modelbus.cache.hit", None, time_ns()))

    def _cache(self, e: CacheMissed | CacheStored) -> None:
        what = "miss" if type(e) is CacheMissed else "stored"
        self._event(e.call_id, f"modelbus.cache.{what}", {"modelbus.cache.key": e.key})

    def _fallback(self, e: FallbackTaken) -> None:
        attrs = {
            "modelbus.fallback.from_model": e.from_model,
            "modelbus.fallback.to_provider": e.to_provider,
            "modelbus.fallback.to_model": e.to_model,
            "modelbus.fallback.reason": e.reason,
            "error.type": e.error.type,
        }
        self._event(e.call_id, "modelbus.fallback", attrs)

    def _first_chunk(self, e: FirstChunk) -> None:
        call = self._calls.get(e.call_id)
        if call is None:
            return
        call.ttfc = e.time_to_first_chunk_s
        if self._metrics:
            self._ttfc.record(e.time_to_first_chunk_s, call.route.attrs)

    def _tool_started(self, e: ToolStarted) -> None:
        call = self._calls.get(e.call_id)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": e.name,
            "gen_ai.tool.call.id": e.tool_call_id,
            "gen_ai.tool.type": "function",
        }
        if self.capture_content:
            attrs["gen_ai.tool.call.arguments"] = e.arguments
        ctx = None if call is None else trace.set_span_in_context(self._open(call))
        span = self._tracer.start_span(
            f"execute_tool {e.name}", context=ctx, kind=SpanKind.INTERNAL, attributes=attrs
        )
        self._tools[(e.call_id, e.tool_call_id)] = span

    def _tool_finished(self, e: ToolFinished) -> None:
        span = self._tools.pop((e.call_id, e.tool_call_id), None)
        if span is None:
            return
        if self.capture_content:
            span.set_attribute("gen_ai.tool.call.result", e.result)
        if e.failed:
            span.set_attribute("error.type", "tool_error")
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    def _finished(self, e: CallFinished) -> None:
        call = self._calls.pop(e.call_id, None)
        if call is None:
            return
        resp = e.response
        end: dict[str, Any] = {
            "gen_ai.response.model": resp.model,
            "gen_ai.usage.input_tokens": e.usage.prompt_tokens,
            "gen_ai.usage.output_tokens": e.usage.completion_tokens,
            "modelbus.attempts": e.attempts,
        }
        if e.cache:
            end["modelbus.cache"] = e.cache
        if e.cost_usd is not None:
            end["modelbus.cost_usd"] = e.cost_usd
        if call.ttfc is not None:
            end[_TTFC] = call.ttfc
        if isinstance(resp, ChatResponse):
            if resp.id:
                end["gen_ai.response.id"] = resp.id
            if resp.finish_reason:
                end["gen_ai.response.finish_reasons"] = (resp.finish_reason,)
            if self.capture_content:
                end["gen_ai.output.messages"] = output_messages(resp)
        self._close(call, end)
        if not self._metrics:
            return
        route = call.route
        model = resp.model or ""
        duration, tokens_in, tokens_out = route.sets.get(model) or route.finished(model)
        self._duration.record(e.latency_s, duration)
        if e.billed:
            self._tokens.record(e.usage.prompt_tokens, tokens_in)
            if e.operation != "embeddings":
                self._tokens.record(e.usage.completion_tokens, tokens_out)

    def _failed(self, e: CallFailed) -> None:
        call = self._calls.pop(e.call_id, None)
        if call is None:
            return
        end: dict[str, Any] = {"error.type": e.error.type}
        if call.ttfc is not None:
            end[_TTFC] = call.ttfc
        self._close(call, end, Status(StatusCode.ERROR, e.error.message))
        if self._metrics:
            attrs = {**call.route.attrs, "error.type": e.error.type}
            self._duration.record(e.latency_s, attrs)
