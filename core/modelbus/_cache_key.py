"""The response cache key.

Recipe (key version ``v1``): SHA-256, hex, over the canonical JSON (``sort_keys=True``,
``separators=(",", ":")``, ``ensure_ascii=False``, floats by ``repr``, which round-trips)
of the object::

    {"v": 1, "ns": namespace, "provider": provider name,
     "endpoint": provider.cache_identity (base URL; Azure endpoint+deployment+api-version),
     "request": the request body (model, messages and every parameter that can change
                the output), without "stream", "stream_options" and "user"}

Keyword order never matters (JSON objects are sorted); message order does. A secret can
never be in it: API keys live in provider settings, never in a request or the identity.
A streamed and a non-streamed request share a key, so either can serve the other.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ._converter import request_body
from ._types import ChatRequest

__all__ = ["KEY_VERSION", "cache_key"]

KEY_VERSION = 1
_NOT_OUTPUT = ("stream", "stream_options", "user")


def cache_key(
    request: ChatRequest, *, provider: str, endpoint: str = "", namespace: str = ""
) -> str:
    """The 64-hex-char cache key of ``request`` sent to ``provider`` at ``endpoint``."""
    body: dict[str, Any] = request_body(request)
    for k in _NOT_OUTPUT:
        body.pop(k, None)
    doc = {"v": KEY_VERSION, "ns": namespace, "provider": provider, "endpoint": endpoint,
           "request": body}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
