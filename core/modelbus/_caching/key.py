"""The response cache key.

Recipe (key version ``1``): the SHA-256, as 64 lowercase hex characters, of the UTF-8
bytes of the canonical JSON of this document::

    {"endpoint": provider.cache_identity   (base URL; for Azure endpoint + deployment +
                                             api-version; then "|credential=" and an
                                             HMAC fingerprint of the key, never the
                                             key itself),
     "ns":       the client's namespace,
     "provider": the registered provider name,
     "request":  the /chat/completions body: model, messages and every parameter that can
                 change the output (temperature, top_p, max_tokens, max_completion_tokens,
                 stop, seed, n, tools, tool_choice, parallel_tool_calls, response_format,
                 logit_bias, presence_penalty, frequency_penalty, logprobs, top_logprobs,
                 reasoning_effort, verbosity, modalities, prediction,
                 web_search_options, and every extra_body key, which is merged last as
                 on the wire) — without "stream", "stream_options", "user",
                 "service_tier", "prompt_cache_key", "store", "metadata" and
                 "safety_identifier" (billing, storage and tracking, not the reply),
     "v":        1}

Canonical JSON here means: object keys sorted (by code point), no whitespace
(``separators=(",", ":")``), non-ASCII characters written as themselves
(``ensure_ascii=False``), and one number format: a float with an integral value is
written as that integer (``1.0`` → ``1``, so ``temperature=1`` and ``temperature=1.0``
share a key; ``-0.0`` → ``0``), any other float as the shortest decimal that round-trips
(Python's ``repr``: ``0.1``, ``1e-07``). NaN and infinities are not JSON and raise
``ValueError``. A ``stop`` string is written as a one-element list (the API treats both
alike); mapping keys that are not strings (``logit_bias={50256: -100}``) are written as
strings, as JSON does.

So keyword order never matters (objects are sorted) while message order does. A secret
can never be in the key: API keys live in provider settings, never in a request, and
``cache_identity`` holds only a one-way fingerprint of them
(``modelbus.plugin.identity_with_credential``), so clients with different keys never
share cached answers. A streamed and a non-streamed request share a key, so either can
serve the other.

:func:`key_document` and :func:`canonical_json` spell the recipe out plainly;
:func:`cache_key` computes the same digest faster (it is on the path of every cache hit)
by writing the common shapes — plain text messages, scalar parameters — directly. A
property test holds the two equal.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
from collections.abc import Mapping
from typing import Any

import attrs

from .._wire.converter import _tool_spec_to_openai, message_to_openai, request_body
from .._wire.message_memo import derived
from .._wire.types import ChatRequest, Message

__all__ = ["KEY_VERSION", "cache_key", "canonical_json", "key_document"]

KEY_VERSION = 1
_VERSION = str(KEY_VERSION)
# Parameters that do not change the reply: billing, storage, routing and abuse tracking.
_NOT_OUTPUT = frozenset(
    (
        "stream",
        "stream_options",
        "user",
        "service_tier",
        "prompt_cache_key",
        "store",
        "metadata",
        "safety_identifier",
    )
)
# Body fields in canonical (sorted) order, read in one attrgetter call; extra_body apart.
_FIELDS = tuple(
    sorted(a.name for a in attrs.fields(ChatRequest) if a.name not in _NOT_OUTPUT | {"extra_body"})
)
_get_fields = operator.attrgetter(*_FIELDS)
_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    check_circular=False,
)
_encode = _ENCODER.encode
_string: Any = json.encoder.encode_basestring  # the C escaper json uses with ensure_ascii=False
_PREFIXED = tuple((name, _string(name) + ":") for name in _FIELDS)


def _number(v: float) -> int | float:
    if v.is_integer():
        return int(v)
    if math.isfinite(v):
        return v
    raise ValueError(f"{v!r} is not a JSON number; no API accepts NaN or Infinity")


def _normalized(v: Any) -> Any:
    """``v`` with floats in the one number format and mapping keys as strings."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if t is float:
        return _number(v)
    if isinstance(v, Mapping):
        return {k if type(k) is str else str(k): _normalized(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_normalized(x) for x in v]
    return v


def canonical_json(obj: Any) -> str:
    """``obj`` as canonical JSON (see the module doc). Raises ``ValueError`` for NaN or
    infinity, ``TypeError`` for a value JSON cannot hold."""
    return _encode(_normalized(obj))


def key_document(
    request: ChatRequest, *, provider: str, endpoint: str = "", namespace: str = ""
) -> dict[str, Any]:
    """The document whose canonical JSON :func:`cache_key` hashes (the plain recipe)."""
    body = request_body(request)
    for k in _NOT_OUTPUT:
        body.pop(k, None)
    if isinstance(body.get("stop"), str):
        body["stop"] = [body["stop"]]
    return {
        "v": KEY_VERSION,
        "ns": namespace,
        "provider": provider,
        "endpoint": endpoint,
        "request": body,
    }


def _param(name: str, v: Any) -> str:
    t = type(v)
    if t is str:
        return "[" + _string(v) + "]" if name == "stop" else _string(v)  # type: ignore[no-any-return]
    if t is float:
        return repr(_number(v))
    if t is int:
        return str(v)
    if t is bool:
        return "true" if v else "false"
    return _encode(_normalized(v))


def _message(m: Message) -> str:
    c = m.content
    if (
        type(c) is str
        and m.name is None
        and m.tool_calls is None
        and m.tool_call_id is None
        and m.refusal is None
    ):
        # '"content"' sorts before '"role"': the canonical order of this shape.
        return '{"content":' + _string(c) + ',"role":' + _string(m.role) + "}"  # type: ignore[no-any-return]
    return _encode(_normalized(message_to_openai(m)))


def cache_key(
    request: ChatRequest, *, provider: str, endpoint: str = "", namespace: str = ""
) -> str:
    """The 64-hex-char cache key of ``request`` sent to ``provider`` at ``endpoint``
    (``cache_identity``) for clients of ``namespace``; see the module doc for the recipe.
    A request sent again (``_message_memo``) has its key remembered.

    Raises ``ValueError`` for a NaN or infinite parameter."""
    what = ("cache-key", provider, endpoint, namespace)
    return derived(request, what, _key, request, provider, endpoint, namespace)


def _key(request: ChatRequest, provider: str, endpoint: str, namespace: str) -> str:
    names: list[str] = []
    parts: list[str] = []
    for (name, prefix), v in zip(_PREFIXED, _get_fields(request)):  # noqa: B905 (same length)
        if v is None:
            continue
        if name == "messages":
            frag = "[" + ",".join([_message(m) for m in v]) + "]"
        elif name == "tools":
            frag = _encode([_normalized(_tool_spec_to_openai(t)) for t in v])
        else:
            frag = _param(name, v)
        names.append(name)
        parts.append(prefix + frag)
    extra = request.extra_body
    if extra:  # merged last, as request_body does on the wire; then sorted again
        merged = {n: p for n, p in zip(names, parts)}  # noqa: B905
        for k, v in extra.items():
            if k not in _NOT_OUTPUT:
                merged[k] = _string(k) + ":" + _param(k, v)
        parts = [merged[k] for k in sorted(merged)]
    text = (
        '{"endpoint":'
        + _string(endpoint)
        + ',"ns":'
        + _string(namespace)
        + ',"provider":'
        + _string(provider)
        + ',"request":{'
        + ",".join(parts)
        + '},"v":'
        + _VERSION
        + "}"
    )
    return hashlib.sha256(text.encode()).hexdigest()
