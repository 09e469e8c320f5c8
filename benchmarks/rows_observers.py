"""What observing a call costs: memory-cache hits through ``Client.chat`` (the shortest
call path, where an overhead shows most) with no observer, with one observer that does
nothing, and with ``modelbus-otel`` on the OpenTelemetry SDK as an application would run
it (a ``BatchSpanProcessor`` whose exporter discards the spans, a ``MeterProvider`` with
a metric reader). Beside them, the SDK floor: the same span (name, kind, attributes,
events) and the same histogram record made straight on the SDK, without modelbus, so
that ``otel - no observer - floor`` is what modelbus itself adds; and an observer that
makes exactly the floor's calls from inside the call, computing nothing from the events:
the least an observer can add there (the call path's events, and the SDK's work done in
the middle of a call rather than alone). And the built-in call log (``log``: a SQLite
file in a temporary folder, written by its background thread; its work on the GIL counts
against the caller only as far as it lands in the caller's CPU time).

The contenders take turns call by call. A sample is this thread's CPU time for one call
(``time.thread_time``): the batch processor's export thread works beside the caller, not
in its call, and a machine shared with other work shows less in CPU time than in wall
time. The load average at the row's start and end goes into its notes."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

from ._context import Context
from ._harness import Check, Row, interleave, measures, row, single
from ._machine import load_average
from .rows_cache import _hit

TARGET_OTEL_S = 15e-6  # issue 16: otel adds at most 15 µs per call
TARGET_LOG_S = 100e-6  # issue 16: the call log adds at most 100 µs per call
# The SDK's own work for the span and record (the floor) is above TARGET_OTEL_S by
# itself, so issue 16's target cannot be met with the SDK included; what modelbus can
# answer for is its share over that floor, held to the same 15 µs (medians and minima),
# and the call path's events, held to 5 µs with an observer that does nothing.
TARGET_SHARE_S = 15e-6
TARGET_NOOP_S = 5e-6

NO_OBSERVER = "no observer"
NOOP = "one no-op observer"
OTEL = "modelbus-otel on the OTel SDK"
FLOOR = "OTel SDK alone: same span and record"
REPLAY = "the floor's calls made by an observer"
CALLLOG = "call log (SQLite, writer thread)"


class _NoOp:
    def on_event(self, event: Any) -> None:
        pass


def _client(
    ctx: Context,
    url: str,
    observers: list[str],
    replay: _Replay | None = None,
    log_dir: str | None = None,
) -> Any:
    import modelbus
    from modelbus._plugins.registry import Registration

    cfg = ctx.config(url, cache="memory")
    cfg["modelbus"]["observers"] = observers
    if log_dir is not None:
        cfg["log"] = {"path": f"{log_dir}/calls.sqlite3"}
    registry = modelbus.load_plugins().registry.copy()
    registry.add(Registration("observers", "noop", _NoOp, plugin="benchmarks"))
    if replay is not None:
        registry.add(Registration("observers", "replay", replay.observer, plugin="benchmarks"))
    c = modelbus.Client(cfg, registry=registry)
    ctx.stack.callback(c.close)
    return c


class _Sdk:
    """The SDK installed as the global providers: spans through a batch processor to an
    exporter that discards them (keeping the last one exported, so the floor can copy
    it), metrics to an in-memory reader."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        class Discard(SpanExporter):
            last: Any = None

            def export(self, spans: Any) -> SpanExportResult:
                if spans:
                    self.last = spans[-1]
                return SpanExportResult.SUCCESS

        self.exporter = Discard()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(BatchSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[self.reader]))

    def last_span(self) -> Any:
        self.tracer_provider.force_flush()
        span = self.exporter.last
        assert span is not None, "nothing exported a span"
        return span

    def replay(self) -> _Replay:
        """The span and duration record of the last call the observer recorded (a hit: no
        token records), to be made again straight on the SDK."""
        from opentelemetry import metrics, trace

        span = self.last_span()
        (point,) = _points(self.reader, "gen_ai.client.operation.duration")
        hist = metrics.get_meter("benchmarks").create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            explicit_bucket_boundaries_advisory=point.explicit_bounds,
        )
        replay = _Replay(trace.get_tracer("benchmarks"), hist, span, dict(point.attributes))
        replay.call()  # it must export what the observer exported
        copy = self.last_span()
        assert (copy.name, copy.kind, copy.attributes) == (span.name, span.kind, span.attributes)
        assert [(e.name, e.attributes) for e in copy.events] == [
            (e.name, e.attributes) for e in span.events
        ]
        return replay


class _Replay:
    """One recorded span and duration record, made again in the cheapest way the SDK
    allows: every attribute at the span's start, then its events, its end, the record."""

    def __init__(self, tracer: Any, hist: Any, span: Any, metric_attrs: dict[str, Any]) -> None:
        self.tracer, self.hist, self.metric_attrs = tracer, hist, metric_attrs
        self.name, self.kind, self.attrs = span.name, span.kind, dict(span.attributes)
        self.events = [(e.name, dict(e.attributes) or None) for e in span.events]

    def call(self) -> None:
        """The floor: the SDK's work for one call, without modelbus."""
        t0 = time.perf_counter()
        s = self.tracer.start_span(self.name, kind=self.kind, attributes=self.attrs)
        for event, event_attrs in self.events:
            s.add_event(event, event_attrs)
        s.end()
        self.hist.record(time.perf_counter() - t0, self.metric_attrs)

    def observer(self) -> Any:
        """An observer that makes the floor's SDK calls from inside the call (the span at
        CallStarted, its events at CacheHit, the end and the record at CallFinished) with
        nothing computed from the events: the least any observer can cost there."""
        from modelbus.events import CacheHit, CallFinished, CallStarted

        replay = self

        class Replaying:
            span: Any = None

            def on_event(self, e: Any) -> None:
                t = type(e)
                if t is CallStarted:
                    self.span = replay.tracer.start_span(
                        replay.name, kind=replay.kind, attributes=replay.attrs
                    )
                elif t is CacheHit:
                    for event, event_attrs in replay.events:
                        self.span.add_event(event, event_attrs)
                elif t is CallFinished:
                    self.span.end()
                    replay.hist.record(e.latency_s, replay.metric_attrs)

        return Replaying()


def _points(reader: Any, metric: str) -> list[Any]:
    data = reader.get_metrics_data()
    return [
        p
        for rm in (data.resource_metrics if data else ())
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == metric
        for p in m.data.data_points
    ]


def _install_sdk() -> _Sdk | str:
    """The SDK installed, or why it cannot be."""
    try:
        import modelbus_otel  # noqa: F401
        import opentelemetry.sdk  # noqa: F401
    except ImportError as exc:
        return f"modelbus-otel or opentelemetry-sdk not installed ({exc.name or exc})"
    return _Sdk()


@row("observers", "memory-cache hit with call observers")
def observers_row(ctx: Context) -> list[Row]:
    load_start = load_average()
    url = ctx.server()
    clock = time.thread_time
    cases: dict[str, Callable[[], float]] = {
        NO_OBSERVER: single(_hit(_client(ctx, url, [])), clock),
        NOOP: single(_hit(_client(ctx, url, ["noop"])), clock),
    }
    log_dir = ctx.stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-log-"))
    cases[CALLLOG] = single(_hit(_client(ctx, url, ["log"], log_dir=log_dir)), clock)
    absent: dict[str, str] = {}
    sdk = _install_sdk()
    if isinstance(sdk, _Sdk):
        cases[OTEL] = single(_hit(_client(ctx, url, ["otel"])), clock)
        replay = sdk.replay()
        cases[FLOOR] = single(replay.call, clock)
        cases[REPLAY] = single(_hit(_client(ctx, url, ["replay"], replay)), clock)
    else:
        absent[OTEL] = absent[FLOOR] = absent[REPLAY] = sdk
    samples = interleave(cases, ctx.scale(4000, 400), warmup=200)
    roles: dict[str, Any] = {NO_OBSERVER: "baseline", NOOP: "subject", OTEL: "subject"}
    roles[CALLLOG] = "subject"
    roles[FLOOR], roles[REPLAY] = "floor", "reference"
    r = Row(
        "observers",
        "memory-cache hit with call observers",
        "s",
        "per call, CPU time of the calling thread",
        NO_OBSERVER,
        measures(samples, roles, absent),
    )
    base = r.get(NO_OBSERVER).median
    noop = r.get(NOOP).median - base
    r.checks.append(
        Check(
            "one no-op observer adds ≤ 5 µs per call",
            f"{noop * 1e6:.1f} µs",
            noop <= TARGET_NOOP_S,
        )
    )
    r.notes.append(f"one no-op observer adds {noop * 1e6:.1f} µs per call (3 events a hit)")
    logged = r.get(CALLLOG).median - base
    r.checks.append(
        Check("call log adds ≤ 100 µs per call", f"{logged * 1e6:.1f} µs", logged <= TARGET_LOG_S)
    )
    if isinstance(sdk, _Sdk):
        _otel_checks(r)
    else:
        r.checks.append(Check("otel adds ≤ 15 µs per call", sdk, None))
        r.checks.append(Check(SHARE_TARGET, sdk, None))
    r.notes.append(f"load average at the row's start {load_start}, end {load_average()}")
    return [r]


SHARE_TARGET = "modelbus's share of otel (over no observer and the SDK alone) ≤ 15 µs"


def _otel_checks(r: Row) -> None:
    """Issue 16's otel target, and modelbus's share over the SDK's floor, on medians and
    on minima (other work on the machine stretches every median alike; minima hold
    steadier)."""
    med = {m.name: m.median * 1e6 for m in r.measures if m.samples}
    low = {m.name: min(m.samples) * 1e6 for m in r.measures if m.samples}
    extra = med[OTEL] - med[NO_OBSERVER]
    floor = med[FLOOR]
    reachable = floor <= TARGET_OTEL_S * 1e6
    r.checks.append(
        Check(
            "otel adds ≤ 15 µs per call",
            f"{extra:.1f} µs"
            + ("" if reachable else f" (the SDK alone takes {floor:.1f}: out of reach)"),
            extra <= TARGET_OTEL_S * 1e6,
        )
    )
    share = {k: v[OTEL] - v[NO_OBSERVER] - v[FLOOR] for k, v in (("median", med), ("min", low))}
    r.checks.append(
        Check(
            SHARE_TARGET,
            f"{share['median']:.1f} µs median, {share['min']:.1f} µs min",
            max(share.values()) <= TARGET_SHARE_S * 1e6,
        )
    )
    least = {k: v[REPLAY] - v[NO_OBSERVER] - v[FLOOR] for k, v in (("median", med), ("min", low))}
    r.notes.append(
        f"the SDK alone takes {floor:.1f} µs for this call's span and record, "
        f"{'more' if not reachable else 'less'} than the 15 µs of issue 16"
    )
    r.notes.append(
        f"modelbus's share (otel - no observer - SDK alone): {share['median']:.1f} µs, of "
        f"which {least['median']:.1f} µs are paid by an observer that only makes the floor's "
        "calls"
    )
    r.notes.append(
        f"on minima: otel adds {low[OTEL] - low[NO_OBSERVER]:.1f} µs, the SDK alone "
        f"takes {low[FLOOR]:.1f}, modelbus's share {share['min']:.1f}"
        f" ({least['min']:.1f} for the replaying observer)"
    )
