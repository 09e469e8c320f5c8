"""What observing a call costs: memory-cache hits through ``Client.chat`` (the shortest
call path, where an overhead shows most) with no observer, with one observer that does
nothing, and with ``modelbus-otel`` on the OpenTelemetry SDK whose exporters discard
everything (a batch span processor and a metric reader, as an application would run
them), and with the built-in call log (``log``: a SQLite file in a temporary folder,
written by its background thread, whose work on the GIL counts against the caller). The
clients take turns call by call."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from ._context import Context
from ._harness import Check, Row, interleave, measures, row, single
from .rows_cache import _hit

TARGET_OTEL_S = 15e-6  # issue 16: otel adds at most 15 µs per call
TARGET_LOG_S = 100e-6  # issue 16: the call log adds at most 100 µs per call


class _NoOp:
    def on_event(self, event: Any) -> None:
        pass


def _client(ctx: Context, url: str, observers: list[str], log_dir: str | None = None) -> Any:
    import modelbus
    from modelbus._registry import Registration

    cfg = ctx.config(url, cache="memory")
    cfg["modelbus"]["observers"] = observers
    if log_dir is not None:
        cfg["log"] = {"path": f"{log_dir}/calls.sqlite3"}
    registry = modelbus.load_plugins().registry.copy()
    registry.add(Registration("observers", "noop", _NoOp, plugin="benchmarks"))
    c = modelbus.Client(cfg, registry=registry)
    ctx.stack.callback(c.close)
    return c


def _otel_sdk() -> str | None:
    """Install the SDK with discarding exporters as the global providers; the reason it
    cannot, or ``None``."""
    try:
        import modelbus_otel  # noqa: F401
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError as exc:
        return f"modelbus-otel or opentelemetry-sdk not installed ({exc.name or exc})"

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    return None


def _sdk_floor() -> Callable[[], None]:
    """What any instrumentation pays the SDK per call: a span with the attributes of a
    hit, ended, and one duration record."""
    from opentelemetry import metrics, trace

    tracer = trace.get_tracer("benchmarks")
    hist = metrics.get_meter("benchmarks").create_histogram("bench.duration", unit="s")
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}

    def call() -> None:
        tracer.start_span("chat gpt-4o-mini", attributes=attrs).end()
        hist.record(0.001, attrs)

    return call


@row("observers", "memory-cache hit with call observers")
def observers_row(ctx: Context) -> list[Row]:
    url = ctx.server()
    log_dir = ctx.stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-log-"))
    calllog = "call log (SQLite, writer thread)"
    cases: dict[str, Callable[[], float]] = {
        "no observer": single(_hit(_client(ctx, url, []))),
        "one no-op observer": single(_hit(_client(ctx, url, ["noop"]))),
        calllog: single(_hit(_client(ctx, url, ["log"], log_dir))),
    }
    absent: dict[str, str] = {}
    otel = "modelbus-otel (SDK, discarding exporter)"
    why = _otel_sdk()
    floor = "OTel SDK floor: one span, one histogram record"
    if why is None:
        cases[otel] = single(_hit(_client(ctx, url, ["otel"])))
        cases[floor] = single(_sdk_floor())
    else:
        absent[otel] = absent[floor] = why
    samples = interleave(cases, ctx.scale(4000, 400), warmup=200)
    roles: dict[str, Any] = {
        "no observer": "baseline",
        "one no-op observer": "subject",
        calllog: "subject",
        otel: "subject",
        floor: "reference",
    }
    r = Row(
        "observers",
        "memory-cache hit with call observers",
        "s",
        "per call",
        "no observer",
        measures(samples, roles, absent),
    )
    base = r.get("no observer").median
    noop = r.get("one no-op observer").median - base
    r.notes.append(f"one no-op observer adds {noop * 1e6:.1f} µs per call (3 events a hit)")
    logged = r.get(calllog).median - base
    r.checks.append(
        Check("call log adds ≤ 100 µs per call", f"{logged * 1e6:.1f} µs", logged <= TARGET_LOG_S)
    )
    if why is None:
        extra = r.get(otel).median - base
        r.checks.append(
            Check("otel adds ≤ 15 µs per call", f"{extra * 1e6:.1f} µs", extra <= TARGET_OTEL_S)
        )
    else:
        r.checks.append(Check("otel adds ≤ 15 µs per call", why, None))
    return [r]
