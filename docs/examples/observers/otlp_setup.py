"""Send modelbus's spans and metrics to an OTLP/HTTP endpoint (the observability guide).

Needs ``pip install modelbus-otel opentelemetry-sdk opentelemetry-exporter-otlp-proto-http``.
"""

from __future__ import annotations

from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def configure_otlp(service_name: str = "my-app") -> tuple[TracerProvider, MeterProvider]:
    """Export to ``$OTEL_EXPORTER_OTLP_ENDPOINT`` (default ``http://localhost:4318``) with
    the headers in ``$OTEL_EXPORTER_OTLP_HEADERS``. Call once, before building clients;
    call ``shutdown()`` on both providers before the process exits (it flushes)."""
    resource = Resource.create({"service.name": service_name})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    metrics.set_meter_provider(meter_provider)
    return tracer_provider, meter_provider


if __name__ == "__main__":
    import modelbus

    tracer_provider, meter_provider = configure_otlp()
    with modelbus.Client(observers=["otel"]) as client:
        print(client.chat("Say hello in five words.").content)
    tracer_provider.shutdown()
    meter_provider.shutdown()
