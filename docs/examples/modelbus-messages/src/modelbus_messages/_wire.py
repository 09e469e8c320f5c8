"""The Messages wire format ↔ modelbus types, without I/O.

Request: ``system`` messages become the top-level ``system`` string; the others keep
their role and their text as ``content``; ``max_tokens`` is required; ``stop`` becomes
``stop_sequences``. Reply: the ``text`` blocks of ``content`` are joined, ``stop_reason``
maps to OpenAI's ``finish_reason``, ``usage.input_tokens``/``output_tokens`` to
``prompt_tokens``/``completion_tokens``, ``cache_read_input_tokens`` and
``cache_creation_input_tokens`` to ``cached_tokens`` and ``cache_write_tokens`` (which
the API counts apart from ``input_tokens`` and OpenAI's ``prompt_tokens`` includes, so
they are added to it). Streams: ``message_start`` (id, model, role, the prompt's
usage), ``content_block_delta`` (``text_delta``), ``message_delta`` (stop reason, output
tokens), ``message_stop`` (the end), ``ping``, and ``error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelbus.plugin import (
    BadRequestError,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Message,
    ServerError,
    ServerSentEvent,
    Usage,
    error_from_http,
    request_id_from,
)

__all__ = ["END", "chunk_from_event", "request_body", "response_from_body"]

# stop_reason → finish_reason (Anthropic's "Handling stop reasons" guide).
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
END = object()  # message_stop: the stream is complete


def request_body(req: ChatRequest, default_max_tokens: int, provider: str) -> dict[str, Any]:
    """The JSON body of ``POST /v1/messages`` for ``req``.

    Raises:
        BadRequestError: ``req`` asks for tools or a response format, which this example
            does not translate (the provider's ``capabilities`` say so).
    """
    if req.tools or req.response_format:
        raise BadRequestError(
            "tools and response_format are not supported", provider=provider, code="unsupported"
        )
    system = "\n\n".join(m.text for m in req.messages if m.role in ("system", "developer"))
    body: dict[str, Any] = {
        "model": req.model,
        "max_tokens": req.max_completion_tokens or req.max_tokens or default_max_tokens,
        "messages": [
            {"role": m.role, "content": m.text}
            for m in req.messages
            if m.role not in ("system", "developer")
        ],
    }
    if system:
        body["system"] = system
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop is not None:
        body["stop_sequences"] = [req.stop] if isinstance(req.stop, str) else list(req.stop)
    if req.stream:
        body["stream"] = True
    return body


def _usage(u: Mapping[str, Any], start: Mapping[str, Any] | None = None) -> Usage:
    """``u`` as Usage; the prompt's counts from ``start`` (a stream's ``message_start``
    usage) when given."""
    prompt = u if start is None else start
    read = int(prompt.get("cache_read_input_tokens") or 0)
    written = int(prompt.get("cache_creation_input_tokens") or 0)
    p = int(prompt.get("input_tokens") or 0) + read + written
    c = int(u.get("output_tokens") or 0)
    return Usage(
        prompt_tokens=p,
        completion_tokens=c,
        total_tokens=p + c,
        cached_tokens=read,
        cache_write_tokens=written,
    )


def response_from_body(body: Mapping[str, Any]) -> ChatResponse:
    """A decoded ``message`` object → ChatResponse."""
    text = "".join(b.get("text", "") for b in body.get("content") or () if b.get("type") == "text")
    return ChatResponse(
        id=body.get("id", ""),
        model=body.get("model", ""),
        message=Message("assistant", text),
        finish_reason=FINISH.get(body.get("stop_reason") or "", body.get("stop_reason")),
        usage=_usage(body.get("usage") or {}),
    )


def chunk_from_event(
    event: ServerSentEvent, headers: Mapping[str, str], provider: str, start: dict[str, Any]
) -> ChatChunk | object | None:
    """One stream event → a ChatChunk, :data:`END` or ``None`` (nothing to yield).

    ``start`` carries ``message_start``'s usage (the prompt's counts) to ``message_delta``.

    Raises:
        ProviderError: an ``error`` event (the class from its ``error.type``, the request
            id from the response ``headers``); ServerError for an event that is not JSON.
    """
    try:
        data = event.json()
    except ValueError:
        raise ServerError(
            f"a stream event is not JSON: {event.data[:200]!r}",
            provider=provider,
            request_id=request_id_from(headers),
        ) from None
    kind = data.get("type", event.event)
    if kind == "error":
        raise error_from_http(None, headers, data, provider=provider)
    if kind == "message_start":
        msg = data.get("message") or {}
        start.update(msg.get("usage") or {})
        return ChatChunk(id=msg.get("id", ""), model=msg.get("model", ""), role="assistant")
    if kind == "content_block_delta":
        delta = data.get("delta") or {}
        return ChatChunk(content=delta["text"]) if delta.get("type") == "text_delta" else None
    if kind == "message_delta":
        reason = (data.get("delta") or {}).get("stop_reason") or ""
        usage = _usage(data.get("usage") or {}, start)
        return ChatChunk(finish_reason=FINISH.get(reason, reason or None), usage=usage)
    if kind == "message_stop":
        return END
    return None  # ping, content_block_start/stop, and event types added later
