"""``[observers.otel]``: what the OpenTelemetry observer records."""

from __future__ import annotations

import os

from attrs import frozen

__all__ = ["CONTENT_ENV", "SEMCONV_VERSION", "OtelSettings", "content_from_env"]

#: The OpenTelemetry semantic conventions release whose GenAI pages (``gen-ai-spans.md``,
#: ``gen-ai-metrics.md``, ``gen-ai-agent-spans.md``) this plugin follows.
SEMCONV_VERSION = "1.41.0"

#: The environment variable of OpenTelemetry's Python GenAI instrumentations
#: (``opentelemetry-instrumentation-openai-v2``) that opts in to content capture.
CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_ON = ("true", "1", "span_only", "span_and_event")


def content_from_env() -> bool:
    """Whether ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` opts in: ``true``
    (the instrumentations' original value), ``SPAN_ONLY`` or ``SPAN_AND_EVENT`` (their
    later values), any case."""
    return os.environ.get(CONTENT_ENV, "").strip().lower() in _ON


@frozen
class OtelSettings:
    """``[observers.otel]``: spans and metrics after the OpenTelemetry GenAI semantic
    conventions (v1.41.0), sent through the application's OpenTelemetry SDK.

    - ``capture_message_content``: record prompts, replies, tool arguments and tool results
      on the spans (``gen_ai.input.messages``, ``gen_ai.output.messages``,
      ``gen_ai.system_instructions``, ``gen_ai.tool.call.arguments`` /
      ``gen_ai.tool.call.result``). Off by default: the conventions make these attributes
      opt-in, since they may hold personal data. The environment variable
      ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` turns it on as well.
    - ``metrics``: record the histograms ``gen_ai.client.operation.duration``,
      ``gen_ai.client.token.usage`` and ``gen_ai.client.operation.time_to_first_chunk``
      (default true; ``false`` records spans only).
    """

    capture_message_content: bool = False
    metrics: bool = True
