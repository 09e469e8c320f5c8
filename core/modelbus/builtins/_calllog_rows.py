"""A finished call's events as a row of the call log (on the writer thread, never the
caller's): JSON text for the messages, parameters, reply, usage and error, secrets
masked, inline images shortened."""

from __future__ import annotations

import json
from typing import Any

import attrs

from .._logging import redact
from .._wire.types import ChatRequest, ChatResponse, EmbeddingRequest
from ..events import CallFailed, CallFinished, CallStarted
from ._calllog_store import texts

__all__ = ["row"]

# Parameters that are the call's identity or transport, not its settings.
_NOT_PARAMS = ("model", "messages", "input", "stream", "stream_options")


def _dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, default=str)


def _slim(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with inline (``data:``) images replaced by their length: a log is for
    reading and searching, not for keeping megabytes of base64 per call."""
    out = []
    for m in messages:
        c = m.get("content")
        if isinstance(c, list):
            parts = []
            for p in c:
                url = (p.get("image_url") or {}).get("url", "") if isinstance(p, dict) else ""
                if isinstance(url, str) and url.startswith("data:"):
                    head = url.split(",", 1)[0]
                    p = {**p, "image_url": {**p["image_url"], "url": f"{head},<{len(url)} chars>"}}
                parts.append(p)
            m = {**m, "content": parts}
        out.append(m)
    return out


def _request(req: Any) -> tuple[list[dict[str, Any]] | None, dict[str, Any], str]:
    """(messages, parameters, prompt text) of a chat or embeddings request."""
    from .._wire.converter import embedding_body, request_body

    if isinstance(req, ChatRequest):
        body = request_body(req)
        messages = redact(_slim(body["messages"]))
        params = {k: v for k, v in body.items() if k not in _NOT_PARAMS}
        return messages, redact(params), texts(messages)
    if isinstance(req, EmbeddingRequest):
        body = embedding_body(req)
        params = {k: v for k, v in body.items() if k not in _NOT_PARAMS}
        return None, redact(params), redact("\n".join(req.input))
    return None, {}, ""


def row(item: tuple[Any, ...]) -> tuple[tuple[Any, ...], str, str] | None:
    """``(CallStarted, cid, ts, retries, CallFinished | CallFailed)`` as the values of
    :data:`~modelbus.builtins._calllog_store.COLUMNS`, the prompt text and the reply
    text; ``None`` for anything else."""
    from .._wire.converter import message_to_openai

    started, cid, ts, retries, end = item
    if not isinstance(started, CallStarted):
        return None
    messages, params, prompt = _request(started.request)
    response = usage = error = cost = None
    reply = ""
    latency = end.latency_s
    if isinstance(end, CallFinished):
        resp = end.response
        if isinstance(resp, ChatResponse):
            msg = redact(message_to_openai(resp.message, for_request=False))
            response = _dumps(msg)
            reply = texts([msg])
        u = end.usage
        usage = attrs.asdict(u)
        cost, attempts, cache = end.cost_usd, end.attempts, end.cache
    elif isinstance(end, CallFailed):
        error = _dumps(attrs.asdict(end.error))
        attempts, cache = retries + 1, None
    else:
        return None
    values = (
        ts,
        cid,
        started.operation,
        started.provider,
        started.model,
        int(started.stream),
        None if messages is None else _dumps(messages),
        _dumps(params),
        response,
        None if usage is None else usage["prompt_tokens"],
        None if usage is None else usage["completion_tokens"],
        None if usage is None else usage["total_tokens"],
        None if usage is None else _dumps(usage),
        cost,
        latency,
        attempts,
        cache,
        error,
    )
    return values, prompt, reply
