"""What a recorded wire payload must turn into, read straight from the recording.

The expectations here are computed from the fixture files with plain ``json`` — never
through modelbus's converter — so a parsing bug in the plugin cannot hide behind the same
bug in the expectation. Shared by the openai and azure fixture tests.
"""

from __future__ import annotations

import json
from typing import Any

from modelbus import errors
from modelbus.testing.server import FixtureFile

# Explicit outcomes for the recorded error bodies: (class, code, retryable, retry_after_s).
# A new error_* file without an entry is still checked: its class must match its status.
EXPECTED_ERRORS: dict[str, tuple[type[errors.ProviderError], str | None, bool, float | None]] = {
    "openai/error_400_context_length_exceeded": (
        errors.ContextLengthExceededError,
        "context_length_exceeded",
        False,
        None,
    ),
    "openai/error_400_unsupported_parameter": (
        errors.BadRequestError,
        "unsupported_parameter",
        False,
        None,
    ),
    "openai/error_400_unsupported_parameter_max_tokens": (
        errors.BadRequestError,
        "unsupported_parameter",
        False,
        None,
    ),
    "openai/error_401_invalid_api_key": (
        errors.AuthenticationError,
        "invalid_api_key",
        False,
        None,
    ),
    "openai/error_404_model_not_found": (errors.NotFoundError, "model_not_found", False, None),
    "openai/error_429_insufficient_quota": (
        errors.RateLimitError,
        "insufficient_quota",
        False,
        None,
    ),
    # "Please try again in 114h18m0s." = 411480 s.
    "openai/error_429_rate_limit_tokens": (
        errors.RateLimitError,
        "rate_limit_exceeded",
        True,
        411480.0,
    ),
    # A request larger than the whole per-minute budget never fits: not retryable.
    "openai/error_429_request_too_large": (
        errors.RateLimitError,
        "rate_limit_exceeded",
        False,
        None,
    ),
    "openai/error_429_responses_api": (errors.RateLimitError, None, True, None),
    "openai/error_500_server_error": (errors.ServerError, "server_error", True, None),
    "openai/error_5xx_model_overloaded_fields": (errors.ServerError, "server_error", True, None),
    "azure/error_400_content_filter": (errors.ContentFilterError, "content_filter", False, None),
    "azure/error_400_content_filter_legacy_2023": (
        errors.ContentFilterError,
        "content_filter",
        False,
        None,
    ),
    # "Try again in 2 seconds." / "Please retry after 86400 seconds."
    "azure/error_429_rate_limit": (errors.RateLimitError, "429", True, 2.0),
    "azure/error_429_token_rate_limit": (errors.RateLimitError, "429", True, 86400.0),
}


def kind(f: FixtureFile) -> str:
    """``chat``, ``stream``, ``embeddings`` or ``error`` from the file name and type."""
    stem = f.name.rsplit("/", 1)[-1]
    if stem.startswith("error_"):
        return "error"
    if f.kind in ("sse", "chunks"):
        return "stream"
    if stem.startswith("embeddings"):
        return "embeddings"
    if stem.startswith("chat_completion"):
        return "chat"
    raise AssertionError(f"no rule for fixture {f.name}; add one to wirecheck.kind")


def body(f: FixtureFile) -> Any:
    return json.loads(f.read_bytes())


def stream_payloads(f: FixtureFile) -> list[dict[str, Any]]:
    """The JSON chunk payloads of a recorded stream, ``[DONE]`` excluded."""
    text = f.read_bytes().decode()
    if f.kind == "chunks":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(
            line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")
        )
        if data and data != "[DONE]":
            out.append(json.loads(data))
    return out


def expected_stream(f: FixtureFile) -> dict[str, Any]:
    """Aggregated content, refusal, tool calls (by index), finish_reason and final usage."""
    content, refusal = [], []
    tools: dict[int, dict[str, Any]] = {}
    finish = None
    usage = None
    for p in stream_payloads(f):
        if p.get("usage"):
            usage = p["usage"]
        for ch in p.get("choices") or []:
            if ch.get("index", 0) != 0:
                continue
            d = ch.get("delta") or {}
            content.append(d.get("content") or "")
            refusal.append(d.get("refusal") or "")
            for tc in d.get("tool_calls") or []:
                slot = tools.setdefault(tc["index"], {"id": None, "name": None, "args": ""})
                slot["id"] = slot["id"] or tc.get("id")
                fn = tc.get("function") or {}
                slot["name"] = slot["name"] or fn.get("name")
                slot["args"] += fn.get("arguments") or ""
            finish = ch.get("finish_reason") or finish
    return {
        "content": "".join(content),
        "refusal": "".join(refusal) or None,
        "tools": [tools[i] for i in sorted(tools)],
        "finish_reason": finish,
        "usage": usage,
    }


def check_usage(got: Any, usage: dict[str, Any] | None) -> None:
    if usage is None:
        return
    assert got.prompt_tokens == usage["prompt_tokens"]
    assert got.completion_tokens == usage.get("completion_tokens", 0)
    assert got.total_tokens == usage["total_tokens"]
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)
    assert got.cached_tokens == cached
    assert got.reasoning_tokens == reasoning


def check_chat(resp: Any, raw: dict[str, Any]) -> None:
    choice = raw["choices"][0]
    msg = choice["message"]
    assert resp.id == raw["id"]
    assert resp.finish_reason == choice["finish_reason"]
    assert resp.message.content == msg.get("content")
    assert resp.message.refusal == msg.get("refusal")
    calls = msg.get("tool_calls") or []
    assert [(c.id, c.function.name, c.function.arguments) for c in resp.tool_calls] == [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls
    ]
    check_usage(resp.usage, raw.get("usage"))


def check_stream(chunks: list[Any], resp: Any, f: FixtureFile) -> None:
    exp = expected_stream(f)
    assert "".join(c.content or "" for c in chunks) == exp["content"]
    assert (resp.message.content or "") == exp["content"]
    assert resp.message.refusal == exp["refusal"]
    assert [(c.id, c.function.name, c.function.arguments) for c in resp.tool_calls] == [
        (t["id"], t["name"], t["args"]) for t in exp["tools"]
    ]
    assert resp.finish_reason == exp["finish_reason"]
    check_usage(resp.usage, exp["usage"])


def check_embeddings(resp: Any, raw: dict[str, Any]) -> None:
    import base64
    import struct

    data = sorted(raw["data"], key=lambda d: d["index"])
    assert len(resp.vectors) == len(data)
    for got, d in zip(resp.vectors, data, strict=True):
        e = d["embedding"]
        if isinstance(e, str):
            b = base64.b64decode(e)
            e = list(struct.unpack(f"<{len(b) // 4}f", b))
        assert len(got) == len(e)
        assert all(abs(a - b) < 1e-6 for a, b in zip(got, e, strict=True))
    check_usage(resp.usage, raw.get("usage"))


def check_error(exc: errors.ProviderError, f: FixtureFile) -> None:
    status = f.status_code
    assert exc.status_code == status
    assert exc.provider
    raw = f.read_bytes()
    assert exc.body == (json.loads(raw) if raw else "")
    recorded = {k.lower(): v for k, v in f.response_headers}
    if "x-request-id" in recorded:
        assert exc.request_id == recorded["x-request-id"]
    else:
        assert exc.request_id  # the server's own x-request-id (or Azure's apim-request-id)
    expected = EXPECTED_ERRORS.get(f.name)
    if expected is None:
        assert isinstance(exc, errors.error_for_status(status)), (f.name, type(exc))
        return
    cls, code, retryable, retry_after = expected
    assert type(exc) is cls, (f.name, type(exc))
    assert exc.code == code
    assert exc.retryable is retryable
    assert exc.retry_after_s == retry_after
    if cls is errors.ContentFilterError:
        inner = json.loads(raw)["error"].get("innererror", {})
        assert exc.categories == inner.get("content_filter_result", {})
