"""Cache values decoded once: :func:`decode_value`.

Building the objects of a response is a third of a memory-cache hit, and a hot key
returns the very same bytes again, so decoded values are kept by their bytes. Keyed by
content, a changed value is a new entry; only responses whose every part is immutable
are kept (``extra`` of str/number/bool/None values only, as OpenAI's
``system_fingerprint`` and ``service_tier``; no ``logprobs``): they are never handed out
as they are, since ``Engine.done`` copies each (with its latency and a fresh ``extra``
dict). Bounded: at most 256 values of at most 16 KiB.
"""

from __future__ import annotations

from .._wire.converter import loads_response
from .._wire.types import ChatResponse

__all__ = ["decode_value"]

_DECODED: dict[bytes, ChatResponse] = {}
_DECODED_MAX = 256
_DECODED_MAX_BYTES = 16 * 1024
_SCALARS = (str, int, float, bool, type(None))


def decode_value(data: bytes) -> ChatResponse:
    """A cached value (``dumps_response``'s bytes) as a hit: ``cached=True``,
    ``attempts=0``. Raises what ``loads_response`` raises on a value it cannot read. A
    cache handing back another bytes-like type is decoded every time (not kept: it may
    be mutable)."""
    if type(data) is bytes:
        known = _DECODED.get(data)
        if known is not None:
            return known
    resp = loads_response(data, cached=True)
    if (
        type(data) is bytes
        and resp.logprobs is None
        and len(data) <= _DECODED_MAX_BYTES
        and all(type(v) in _SCALARS for v in resp.extra.values())
    ):
        if len(_DECODED) >= _DECODED_MAX:
            _DECODED.clear()  # atomic, unlike evicting one by one across threads
        _DECODED[data] = resp
    return resp
