"""The observability guide's OTLP set-up (``docs/examples/observers/otlp_setup.py``), run
as an application would in its own process, exports to an OTLP/HTTP endpoint: here a
loopback server that decodes what it receives with the OTLP protobuf definitions."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parents[3]
APP = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location(
    "otlp_setup", {str(ROOT / "docs/examples/observers/otlp_setup.py")!r}
)
guide = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guide)
from modelbus.testing import FakeProvider, make_client

tracer_provider, meter_provider = guide.configure_otlp("guide-test")
with make_client(FakeProvider(), {{"modelbus": {{"observers": ["otel"]}}}}) as client:
    print(client.chat("hello").content)
tracer_provider.shutdown()
meter_provider.shutdown()
"""


@pytest.fixture
def collector() -> Iterator[tuple[str, dict[str, list[bytes]]]]:
    received: dict[str, list[bytes]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.setdefault(self.path, []).append(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_the_guides_setup_exports_spans_and_metrics_over_otlp_http(
    collector: tuple[str, dict[str, list[bytes]]],
) -> None:
    endpoint, received = collector
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
    env.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
    run = subprocess.run(
        [sys.executable, "-c", APP], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "echo: hello"

    spans = []
    for body in received["/v1/traces"]:
        for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
            service = {a.key: a.value.string_value for a in rs.resource.attributes}
            assert service["service.name"] == "guide-test"
            spans += [s for ss in rs.scope_spans for s in ss.spans]
    (span,) = spans
    attrs = {a.key: a.value for a in span.attributes}
    assert span.name == "chat fake-model"
    assert attrs["gen_ai.operation.name"].string_value == "chat"
    assert attrs["gen_ai.usage.input_tokens"].int_value == 10
    assert attrs["gen_ai.usage.output_tokens"].int_value == 5

    names = set()
    for body in received["/v1/metrics"]:
        for rm in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            names |= {m.name for sm in rm.scope_metrics for m in sm.metrics}
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"} <= names
