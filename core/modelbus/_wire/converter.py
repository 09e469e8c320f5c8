"""The one converter between modelbus types and OpenAI JSON.

``converter`` is a :class:`cattrs.Converter` that structures and unstructures every type in
``_types`` in the OpenAI wire shape (``None`` fields omitted). The functions below are the
hot-path entry points the providers and caches use:

- :func:`request_body` — ChatRequest → the ``/chat/completions`` JSON body.
- :func:`parse_chat_response` / :func:`parse_chat_chunk` — a decoded response body /
  ``chat.completion.chunk`` → ChatResponse / ChatChunk. Unknown top-level fields that
  servers add (``timings``, ``prompt_filter_results``, ``system_fingerprint``...) land in
  ``extra``; non-standard reasoning fields (``reasoning_content``, Ollama's ``reasoning``)
  land in ``Message.reasoning_content``.
- :func:`chat_response_to_openai` — the inverse of :func:`parse_chat_response`.
- :func:`parse_embedding_response` — float lists or base64 little-endian float32 vectors.
- :func:`dumps_response` / :func:`loads_response` — cache values (JSON bytes, never pickle).
"""

from __future__ import annotations

import base64
import json
import operator
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import cattrs
import jiter

from .message_memo import derived
from .types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ContentPart,
    EmbeddingRequest,
    EmbeddingResponse,
    FunctionCall,
    ImagePart,
    ImageURL,
    Message,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)

__all__ = [
    "chat_response_to_openai",
    "converter",
    "dumps_response",
    "embedding_body",
    "loads_response",
    "message_from_openai",
    "message_to_openai",
    "parse_chat_chunk",
    "parse_chat_response",
    "parse_embedding_response",
    "parse_usage",
    "prompt_details",
    "request_body",
]

converter = cattrs.Converter(omit_if_default=True)


def _structure_part(obj: Any, _t: Any) -> ContentPart:
    if not isinstance(obj, Mapping):
        raise ValueError(f"a content part is an object with a 'type', got {type(obj).__name__}")
    kind = obj.get("type")
    if kind == "text":
        return TextPart(obj["text"])
    if kind == "image_url":
        iu = obj["image_url"]
        if isinstance(iu, str):
            return ImagePart(ImageURL(iu))
        return ImagePart(ImageURL(iu["url"], iu.get("detail")))
    raise ValueError(f"unsupported content part type {kind!r} (expected 'text' or 'image_url')")


def _structure_content(obj: Any, _t: Any) -> Any:
    if obj is None or isinstance(obj, str):
        return obj
    if not isinstance(obj, list | tuple):
        raise ValueError(
            f"content is a string, a list of content parts or null, got {type(obj).__name__}"
        )
    return tuple(_structure_part(p, ContentPart) for p in obj)


def _unstructure_part(p: ContentPart) -> dict[str, Any]:
    if isinstance(p, TextPart):
        return {"type": "text", "text": p.text}
    iu: dict[str, Any] = {"url": p.image_url.url}
    if p.image_url.detail is not None:
        iu["detail"] = p.image_url.detail
    return {"type": "image_url", "image_url": iu}


def message_to_openai(m: Message, *, for_request: bool = True) -> dict[str, Any]:
    """A Message as an entry of ``messages``. ``for_request`` drops ``reasoning_content``,
    which no OpenAI-compatible API accepts back."""
    d: dict[str, Any] = {"role": m.role}
    c = m.content
    if c is None or isinstance(c, str):
        d["content"] = c
    else:
        d["content"] = [_unstructure_part(p) for p in c]
    if m.name is not None:
        d["name"] = m.name
    if m.tool_calls is not None:
        d["tool_calls"] = [
            {
                "id": tc.id,
                "type": tc.type,
                "function": {"name": tc.function.name, "arguments": tc.function.arguments},
            }
            for tc in m.tool_calls
        ]
    if m.tool_call_id is not None:
        d["tool_call_id"] = m.tool_call_id
    if m.refusal is not None:
        d["refusal"] = m.refusal
    if not for_request and m.reasoning_content is not None:
        d["reasoning_content"] = m.reasoning_content
    return d


def _tool_calls_from(raw: Any) -> tuple[ToolCall, ...] | None:
    if not raw:
        return None
    out = []
    for tc in raw:
        fn = tc.get("function") or {}
        out.append(
            ToolCall(
                tc.get("id") or "", FunctionCall(fn.get("name") or "", fn.get("arguments") or "")
            )
        )
    return tuple(out)


_TEXT_MESSAGE_KEYS = frozenset(("role", "content", "refusal", "annotations"))


def message_from_openai(d: Mapping[str, Any]) -> Message:
    """An OpenAI message dict → Message (accepts ``reasoning`` as ``reasoning_content``)."""
    # The hot path: text and nothing else a Message keeps ({"role", "content"} prompts;
    # replies with ``refusal: null`` and ``annotations``, which Message does not hold).
    if len(d) == 2 or d.keys() <= _TEXT_MESSAGE_KEYS:
        role, content = d.get("role"), d.get("content")
        if role and type(content) is str and d.get("refusal") is None:
            return Message(role, content)
    return Message(
        d.get("role") or "assistant",
        _structure_content(d.get("content"), None),
        d.get("name"),
        _tool_calls_from(d.get("tool_calls")),
        d.get("tool_call_id"),
        d.get("refusal"),
        d.get("reasoning_content") or d.get("reasoning"),
    )


def _tool_spec_to_openai(t: ToolSpec) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": t.function.name, "parameters": dict(t.function.parameters)}
    if t.function.description is not None:
        fn["description"] = t.function.description
    if t.function.strict is not None:
        fn["strict"] = t.function.strict
    return {"type": "function", "function": fn}


_SCALAR_PARAMS = tuple(
    a.name
    for a in attrs.fields(ChatRequest)
    if a.name not in ("model", "messages", "tools", "stop", "modalities", "extra_body", "stream")
)
# Their values in one C call, and the value types sent as they are without the ABC check
# (a Mapping is copied): two dozen getattr calls per body cost a quarter more.
_scalar_values = operator.attrgetter(*_SCALAR_PARAMS)
_PLAIN = frozenset((str, int, float, bool))


def _wire_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    # A long conversation sent again is turned into wire dicts once (_message_memo);
    # every body gets its own copies (plain messages only there: no nested values).
    wire = derived(messages, "wire", _to_openai, messages)
    return list(map(dict.copy, wire))


def _to_openai(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    return [message_to_openai(m) for m in messages]


def request_body(req: ChatRequest) -> dict[str, Any]:
    """The JSON body for ``POST /chat/completions`` (``None`` parameters omitted;
    ``extra_body`` merged last; ``stream_options.include_usage`` set for streams)."""
    body: dict[str, Any] = {"model": req.model, "messages": _wire_messages(req.messages)}
    for name, v in zip(_SCALAR_PARAMS, _scalar_values(req), strict=True):
        if v is not None:
            body[name] = v if type(v) in _PLAIN else dict(v) if isinstance(v, Mapping) else v
    if req.stop is not None:
        body["stop"] = req.stop if isinstance(req.stop, str) else list(req.stop)
    if req.modalities is not None:
        body["modalities"] = list(req.modalities)
    if req.tools is not None:
        body["tools"] = [_tool_spec_to_openai(t) for t in req.tools]
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if req.extra_body:
        body.update(req.extra_body)
    return body


def embedding_body(req: EmbeddingRequest) -> dict[str, Any]:
    """The JSON body for ``POST /embeddings``."""
    body: dict[str, Any] = {"model": req.model, "input": list(req.input)}
    if req.dimensions is not None:
        body["dimensions"] = req.dimensions
    if req.user is not None:
        body["user"] = req.user
    if req.extra_body:
        body.update(req.extra_body)
    return body


def parse_usage(u: Mapping[str, Any] | None) -> Usage | None:
    """``usage`` → Usage; details missing (Ollama, llama.cpp) or ``null`` (vLLM) count as 0.
    Cache reads and writes come from ``prompt_tokens_details.cached_tokens`` and
    ``.cache_write_tokens`` (OpenAI; both part of ``prompt_tokens``)."""
    if not u:
        return None
    ptd = u.get("prompt_tokens_details") or {}
    ctd = u.get("completion_tokens_details") or {}
    prompt = u.get("prompt_tokens") or 0
    completion = u.get("completion_tokens") or 0
    # Positional, as ChatResponse below: prompt, completion, total, cached, reasoning,
    # estimated (never on the wire), cache_write.
    return Usage(
        prompt,
        completion,
        u.get("total_tokens") or (prompt + completion),
        ptd.get("cached_tokens") or 0,
        ctd.get("reasoning_tokens") or 0,
        False,
        ptd.get("cache_write_tokens") or 0,
    )


def prompt_details(u: Usage) -> dict[str, int]:
    """``usage.prompt_tokens_details`` for ``u`` (``cache_write_tokens`` only when some
    were written, so bodies without writes stay as they were)."""
    details = {"cached_tokens": u.cached_tokens}
    if u.cache_write_tokens:
        details["cache_write_tokens"] = u.cache_write_tokens
    return details


_RESPONSE_KEYS = frozenset(("id", "object", "created", "model", "choices", "usage"))
# Per-choice fields some servers add (Azure's content filter, vLLM's stop token id). They
# are kept in ChatResponse.extra under the same name and put back in the choice on output.
CHOICE_EXTENSIONS = ("content_filter_results", "stop_reason")


def parse_chat_response(body: Mapping[str, Any], provider: str = "") -> ChatResponse:
    """A decoded ``chat.completion`` body → ChatResponse (first choice)."""
    return _chat_response(body, provider, raw=body)


def _chat_response(
    body: Mapping[str, Any],
    provider: str,
    *,
    raw: Any,
    cost_usd: float | None = None,
    cached: bool = False,
    attempts: int = 1,
) -> ChatResponse:
    choices = body.get("choices") or ()
    choice = choices[0] if choices else {}
    # (a body of only the standard keys, as every cache value, skips the filtering)
    extra = (
        {}
        if body.keys() <= _RESPONSE_KEYS
        else {k: v for k, v in body.items() if k not in _RESPONSE_KEYS}
    )
    for k in CHOICE_EXTENSIONS:
        if k in choice:
            extra[k] = choice[k]
    if len(choices) > 1:
        extra["choices"] = [dict(c) for c in choices[1:]]
    # Positional (a quarter cheaper than keywords on every call and cache hit), in the
    # order of ChatResponse's fields: id, model, message, finish_reason, usage, provider,
    # cost_usd, cached, attempts, latency_s, created, logprobs, extra, raw.
    return ChatResponse(
        body.get("id") or "",
        body.get("model") or "",
        message_from_openai(choice.get("message") or {}),
        choice.get("finish_reason"),
        parse_usage(body.get("usage")) or Usage(),
        provider,
        cost_usd,
        cached,
        attempts,
        0.0,
        body.get("created"),
        choice.get("logprobs"),
        extra,
        raw,
    )


def chat_response_to_openai(resp: ChatResponse) -> dict[str, Any]:
    """ChatResponse → a ``chat.completion`` body (the inverse of parse_chat_response)."""
    choice: dict[str, Any] = {
        "index": 0,
        "message": message_to_openai(resp.message, for_request=False),
        "finish_reason": resp.finish_reason,
    }
    if resp.logprobs is not None:
        choice["logprobs"] = resp.logprobs
    extra = dict(resp.extra)
    for k in CHOICE_EXTENSIONS:
        if k in extra:
            choice[k] = extra.pop(k)
    more = extra.pop("choices", [])
    u = resp.usage
    body: dict[str, Any] = {
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created,
        "model": resp.model,
        "choices": [choice, *more],
        "usage": {
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens,
            "prompt_tokens_details": prompt_details(u),
            "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        },
    }
    body.update(extra)
    return body


_CHUNK_KEYS = frozenset(("id", "object", "created", "model", "choices", "usage"))


def parse_chat_chunk(body: Mapping[str, Any]) -> ChatChunk:
    """A decoded ``chat.completion.chunk`` → ChatChunk (first choice; ``choices: []``
    chunks — usage-only or Azure's filter-only first chunk — give an empty delta)."""
    choices = body.get("choices") or ()
    choice = choices[0] if choices else {}
    delta = choice.get("delta") or {}
    deltas: tuple[ToolCallDelta, ...] = ()
    raw_tc = delta.get("tool_calls")
    if raw_tc:
        deltas = tuple(
            ToolCallDelta(
                tc.get("index", i),
                tc.get("id"),
                (tc.get("function") or {}).get("name"),
                (tc.get("function") or {}).get("arguments"),
            )
            for i, tc in enumerate(raw_tc)
        )
    extra = {k: v for k, v in body.items() if k not in _CHUNK_KEYS and k != "obfuscation"}
    for k in CHOICE_EXTENSIONS:
        v = choice.get(k)
        if v is not None and v != {}:
            extra[k] = v
    return ChatChunk(
        id=body.get("id") or "",
        model=body.get("model") or "",
        role=delta.get("role"),
        content=delta.get("content"),
        refusal=delta.get("refusal"),
        reasoning_content=delta.get("reasoning_content") or delta.get("reasoning"),
        tool_calls=deltas,
        finish_reason=choice.get("finish_reason"),
        usage=parse_usage(body.get("usage")),
        extra=extra,
    )


def _vector(v: Any) -> tuple[float, ...]:
    if isinstance(v, str):  # encoding_format=base64: little-endian float32
        raw = base64.b64decode(v)
        return struct.unpack(f"<{len(raw) // 4}f", raw)
    return tuple(float(x) for x in v)


def parse_embedding_response(body: Mapping[str, Any], provider: str = "") -> EmbeddingResponse:
    """A decoded ``/embeddings`` body → EmbeddingResponse, vectors sorted by ``index``."""
    data: Sequence[Mapping[str, Any]] = sorted(body.get("data") or (), key=lambda d: d["index"])
    return EmbeddingResponse(
        model=body.get("model") or "",
        vectors=tuple(_vector(d["embedding"]) for d in data),
        usage=parse_usage(body.get("usage")) or Usage(),
        provider=provider,
    )


# Cache values: the wire JSON of the response plus the modelbus-only fields.
def dumps_response(resp: ChatResponse) -> bytes:
    """ChatResponse → cache value bytes (UTF-8 JSON; ``raw`` is not stored)."""
    body = chat_response_to_openai(resp)
    meta: dict[str, Any] = {"provider": resp.provider, "cost_usd": resp.cost_usd}
    if resp.usage.estimated:  # not a wire field: kept beside the body
        meta["usage_estimated"] = True
    body["_modelbus"] = meta
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def loads_response(data: bytes, *, cached: bool = False) -> ChatResponse:
    """Cache value bytes → ChatResponse; raises ``ValueError`` on anything malformed.
    ``cached=True`` marks it as served from a cache (``cached=True``, ``attempts=0``)."""
    # jiter parses the UTF-8 bytes directly, at half the cost of json.loads: this runs on
    # every cache hit. It rejects trailing data and invalid UTF-8 with ValueError too.
    body = jiter.from_json(data)
    if type(body) is not dict or type(body.get("_modelbus")) is not dict:
        raise ValueError("not a modelbus cache value")
    meta = body.pop("_modelbus")
    resp = _chat_response(
        body,
        meta.get("provider", ""),
        raw=None,
        cost_usd=meta.get("cost_usd"),
        cached=cached,
        attempts=0 if cached else 1,
    )
    if meta.get("usage_estimated") is True:
        resp = attrs.evolve(resp, usage=attrs.evolve(resp.usage, estimated=True))
    return resp


def _register_hooks(c: cattrs.Converter) -> None:
    c.register_structure_hook(Message, lambda o, _t: message_from_openai(o))
    c.register_unstructure_hook(Message, lambda m: message_to_openai(m, for_request=False))
    c.register_structure_hook(ChatResponse, lambda o, _t: parse_chat_response(o))
    c.register_unstructure_hook(ChatResponse, chat_response_to_openai)
    c.register_structure_hook(ChatChunk, lambda o, _t: parse_chat_chunk(o))
    c.register_unstructure_hook(ChatRequest, request_body)
    c.register_unstructure_hook(EmbeddingRequest, embedding_body)
    c.register_unstructure_hook(ToolSpec, _tool_spec_to_openai)


_register_hooks(converter)
