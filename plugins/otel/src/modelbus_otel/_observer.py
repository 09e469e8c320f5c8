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
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

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

# modelbus provider names → the conventions' well-known gen_ai.provider.name values.
_PROVIDERS = {"openai": "openai", "azure": "azure.ai.openai"}
_OPERATION = {"chat": "chat", "embeddings": "embeddings", "tool_loop": "invoke_agent"}


def provider_name(provider: str) -> str:
    """``gen_ai.provider.name`` for a modelbus provider: the well-known value where one
    applies (``openai``, ``azure.ai.openai``), else the modelbus name (``local``...)."""
    return _PROVIDERS.get(provider, provider)


_SERVERS: dict[str, dict[str, Any]] = {}


def _server(endpoint: str | None) -> dict[str, Any]:
    """``server.address`` / ``server.port`` of a provider's endpoint (memoized: a client
    has a handful of endpoints and this runs on every call)."""
    if not endpoint:
        return {}
    known = _SERVERS.get(endpoint)
    if known is None:
        known = _parse_server(endpoint)
        if len(_SERVERS) < 256:
            _SERVERS[endpoint] = known
    return known


def _parse_server(endpoint: str) -> dict[str, Any]:
    if "://" not in endpoint:
        return {}
    try:
        u = urlsplit(endpoint.split()[0])
        host, port = u.hostname, u.port
    except ValueError:
        return {}
    if not host:
        return {}
    port = port or {"https": 443, "http": 80}.get(u.scheme)
    return {"server.address": host, "server.port": port} if port else {"server.address": host}


def _request_attributes(req: ChatRequest, out: dict[str, Any]) -> dict[str, Any]:
    """``out`` with the request's ``gen_ai.request.*`` attributes added."""
    # Unrolled: this runs on every chat call, and most requests set one or two of these.
    if req.temperature is not None:
        out["gen_ai.request.temperature"] = req.temperature
    if req.top_p is not None:
        out["gen_ai.request.top_p"] = req.top_p
    if req.seed is not None:
        out["gen_ai.request.seed"] = req.seed
    if req.frequency_penalty is not None:
        out["gen_ai.request.frequency_penalty"] = req.frequency_penalty
    if req.presence_penalty is not None:
        out["gen_ai.request.presence_penalty"] = req.presence_penalty
    max_tokens = req.max_completion_tokens if req.max_tokens is None else req.max_tokens
    if max_tokens is not None:
        out["gen_ai.request.max_tokens"] = max_tokens
    if req.stop is not None:
        out["gen_ai.request.stop_sequences"] = (
            (req.stop,) if isinstance(req.stop, str) else req.stop
        )
    if req.n is not None and req.n != 1:
        out["gen_ai.request.choice.count"] = req.n
    return out


_MEMO_MAX = 256  # distinct routes (or response models of one) kept; beyond that, rebuilt


class _Route:
    """What every call of one (operation, provider, model, endpoint) shares: the span's
    name, kind and start attributes, and the metrics' attribute sets, built once rather
    than per call. The dicts are handed to the SDK, which copies them (spans and
    measurements both clean their attributes into new dicts); they are never mutated."""

    __slots__ = ("_finished", "attrs", "kind", "name")

    def __init__(self, operation: str, provider: str, model: str, endpoint: str | None) -> None:
        op = _OPERATION[operation]
        self.attrs: dict[str, Any] = {
            "gen_ai.operation.name": op,
            "gen_ai.provider.name": provider_name(provider),
            "gen_ai.request.model": model,
            **_server(endpoint),
        }
        if operation == "tool_loop":
            self.name, self.kind = op, SpanKind.INTERNAL  # no agent name: "invoke_agent" alone
        else:
            self.name, self.kind = f"{op} {model}", SpanKind.CLIENT
        self._finished: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {}

    def finished(self, response_model: str) -> tuple[dict[str, Any], ...]:
        """The attribute sets of a finished call's duration, input-token and output-token
        records, for the model that answered (``""``: not reported)."""
        known = self._finished.get(response_model)
        if known is None:
            base = self.attrs
            if response_model:
                base = {**base, "gen_ai.response.model": response_model}
            known = (
                base,
                {**base, "gen_ai.token.type": "input"},
                {**base, "gen_ai.token.type": "output"},
            )
            if len(self._finished) < _MEMO_MAX:
                self._finished[response_model] = known
        return known


class _Call:
    __slots__ = ("recording", "route", "span")

    def __init__(self, span: Span, route: _Route) -> None:
        self.span = span
        self.route = route
        # A span the sampler dropped records nothing: skip building what it would drop.
        self.recording = span.is_recording()


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
        self._routes: dict[tuple[str, str, str, str | None], _Route] = {}
        # Calls and tool executions in flight. Events of concurrent calls arrive on many
        # threads; each touches these with one store, get or pop, which is atomic.
        self._calls: dict[int, _Call] = {}
        self._tools: dict[tuple[int, str], Span] = {}
        self._handlers: dict[type, Any] = {
            CallStarted: self._started,
            RetryScheduled: self._retry,
            CacheHit: self._cache,
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
    def _route(self, key: tuple[str, str, str, str | None]) -> _Route:
        route = _Route(*key)
        if len(self._routes) < _MEMO_MAX:
            self._routes[key] = route
        return route

    def _started(self, e: CallStarted) -> None:
        key = (e.operation, e.provider, e.model, e.endpoint)
        route = self._routes.get(key) or self._route(key)
        attrs = route.attrs
        req = e.request
        if isinstance(req, ChatRequest):
            attrs = _request_attributes(req, dict(attrs))
            if self.capture_content:
                attrs["gen_ai.input.messages"] = input_messages(req.messages)
                system = system_instructions(req.messages)
                if system is not None:
                    attrs["gen_ai.system_instructions"] = system
        elif req is not None and getattr(req, "dimensions", None) is not None:
            attrs = {**attrs, "gen_ai.embeddings.dimension.count": req.dimensions}
        parent = None
        if e.parent_id is not None:
            outer = self._calls.get(e.parent_id)
            if outer is not None:
                parent = trace.set_span_in_context(outer.span)
        span = self._tracer.start_span(
            route.name, context=parent, kind=route.kind, attributes=attrs
        )
        self._calls[e.call_id] = _Call(span, route)

    def _retry(self, e: RetryScheduled) -> None:
        call = self._calls.get(e.call_id)
        if call is not None and call.recording:
            call.span.add_event(
                "modelbus.retry",
                {
                    "modelbus.retry.attempt": e.attempt,
                    "modelbus.retry.delay_s": e.delay_s,
                    "error.type": e.error.type,
                },
            )

    def _cache(self, e: CacheHit | CacheMissed | CacheStored) -> None:
        call = self._calls.get(e.call_id)
        if call is None or not call.recording:
            return
        if type(e) is CacheHit:
            # The hot path: the hit's key is the one its miss stored; no attributes to
            # validate keeps a hit's span cheap.
            call.span.add_event("modelbus.cache.hit")
            return
        what = "miss" if type(e) is CacheMissed else "stored"
        call.span.add_event(f"modelbus.cache.{what}", {"modelbus.cache.key": e.key})

    def _fallback(self, e: FallbackTaken) -> None:
        call = self._calls.get(e.call_id)
        if call is not None and call.recording:
            call.span.add_event(
                "modelbus.fallback",
                {
                    "modelbus.fallback.from_model": e.from_model,
                    "modelbus.fallback.to_provider": e.to_provider,
                    "modelbus.fallback.to_model": e.to_model,
                    "modelbus.fallback.reason": e.reason,
                    "error.type": e.error.type,
                },
            )

    def _first_chunk(self, e: FirstChunk) -> None:
        call = self._calls.get(e.call_id)
        if call is None:
            return
        call.span.set_attribute("gen_ai.response.time_to_first_chunk", e.time_to_first_chunk_s)
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
        ctx = None if call is None else trace.set_span_in_context(call.span)
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
        span = call.span
        if call.recording:
            self._end(span, e)
        else:
            span.end()
        if not self._metrics:
            return
        duration, tokens_in, tokens_out = call.route.finished(e.response.model or "")
        self._duration.record(e.latency_s, duration)
        if e.billed:
            self._tokens.record(e.usage.prompt_tokens, tokens_in)
            if e.operation != "embeddings":
                self._tokens.record(e.usage.completion_tokens, tokens_out)

    def _end(self, span: Span, e: CallFinished) -> None:
        resp = e.response
        values: dict[str, Any] = {
            "gen_ai.response.model": resp.model,
            "gen_ai.usage.input_tokens": e.usage.prompt_tokens,
            "gen_ai.usage.output_tokens": e.usage.completion_tokens,
            "modelbus.attempts": e.attempts,
        }
        if e.cache:
            values["modelbus.cache"] = e.cache
        if e.cost_usd is not None:
            values["modelbus.cost_usd"] = e.cost_usd
        if isinstance(resp, ChatResponse):
            if resp.id:
                values["gen_ai.response.id"] = resp.id
            if resp.finish_reason:
                values["gen_ai.response.finish_reasons"] = (resp.finish_reason,)
            if self.capture_content:
                values["gen_ai.output.messages"] = output_messages(resp)
        span.set_attributes(values)
        span.end()

    def _failed(self, e: CallFailed) -> None:
        call = self._calls.pop(e.call_id, None)
        if call is None:
            return
        call.span.set_attribute("error.type", e.error.type)
        call.span.set_status(Status(StatusCode.ERROR, e.error.message))
        call.span.end()
        if self._metrics:
            attrs = {**call.route.attrs, "error.type": e.error.type}
            self._duration.record(e.latency_s, attrs)
