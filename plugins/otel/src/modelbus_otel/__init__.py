"""modelbus-otel: OpenTelemetry traces and metrics for every modelbus call.

Configure with ``[modelbus] observers = ["otel"]`` (options in ``[observers.otel]``, see
:class:`OtelSettings`). Spans and metrics follow the OpenTelemetry GenAI semantic
conventions, version :data:`SEMCONV_VERSION`; they go wherever the application's
OpenTelemetry SDK sends them (no SDK: nothing is recorded).
"""

from __future__ import annotations

from ._settings import SEMCONV_VERSION, OtelSettings

__all__ = ["SEMCONV_VERSION", "OtelObserver", "OtelSettings"]


def __getattr__(name: str) -> object:
    # The observer imports opentelemetry; plugin discovery imports this package only.
    if name == "OtelObserver":
        from ._observer import OtelObserver

        return OtelObserver
    raise AttributeError(name)
