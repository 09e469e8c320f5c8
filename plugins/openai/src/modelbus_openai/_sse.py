"""Reading a ``text/event-stream`` chat completion into :class:`modelbus.ChatChunk`.

The SSE framing (lines, ``data:`` fields joined by newlines, ``:`` comment lines ignored,
CR/LF/CRLF line ends — WHATWG HTML "Server-sent events", §9.2.6) is decoded by the
core's :func:`modelbus.plugin.iter_sse`; this module decides what each event means:

- ``data: [DONE]`` ends the stream (OpenAI's terminator);
- an ``error`` event, or a payload with an ``error`` object (OpenAI sends errors that
  happen after the 200 this way) → the mapped :class:`~modelbus.errors.ProviderError`;
- a payload that is not JSON → a retryable ``ServerError``;
- the body ending without ``[DONE]`` (connection cut mid-way, a proxy timeout) →
  :class:`~modelbus.errors.APIConnectionError`, so a truncated answer is never taken for a
  complete one;
- anything else → :func:`modelbus.plugin.parse_chat_chunk`.

The chunks are parsed from the raw JSON; no SDK pydantic model is built.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from modelbus.errors import APIConnectionError
from modelbus.plugin import ChatChunk, aiter_sse, iter_sse, parse_chat_chunk

from ._errors import error_from_body, invalid_body_error, map_openai_error
from ._limits import DEFAULT_MAX_RESPONSE_BYTES, SseGuard

__all__ = ["aiter_chunks", "iter_chunks"]

_SKIP = object()
_DONE = object()


def _event(event: str | None, data: str, headers: Mapping[str, str], provider: str) -> Any:
    if data.startswith("[DONE]"):
        return _DONE
    if not data:  # an event carrying only ``event:``/``id:``/``retry:`` fields
        return _SKIP
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):  # (nested deeper than the decoder goes)
        raise invalid_body_error(provider, 200, headers, "a stream event", data) from None
    if event == "error" or (isinstance(obj, Mapping) and obj.get("error")):
        raise error_from_body(
            provider=provider,
            status=None,
            headers=headers,
            body=obj,
            message="the server reported an error during the stream",
        )
    if not isinstance(obj, Mapping):
        raise invalid_body_error(provider, 200, headers, "a stream event", data)
    return parse_chat_chunk(obj)


def _cut(provider: str, headers: Mapping[str, str]) -> APIConnectionError:
    h = {k.lower(): v for k, v in headers.items()}
    return APIConnectionError(
        "the stream ended before 'data: [DONE]': the connection was closed mid-answer",
        provider=provider,
        request_id=h.get("x-request-id") or h.get("apim-request-id"),
    )


def iter_chunks(
    response: Any,
    provider: str,
    max_event_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    first_by: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[ChatChunk]:
    """The chunks of a streamed ``httpx2.Response`` (closed when done or abandoned); an
    event over ``max_event_bytes`` raises (``_limits``) before it is buffered whole, and
    so does a first chunk not there by ``first_by`` (seconds on ``clock``).

    Raises :class:`~modelbus.errors.ProviderError` subclasses as described in the module
    docstring; transport errors while reading become APITimeoutError/APIConnectionError.
    """
    from ._errors import sdk_error_types

    transport_errors = sdk_error_types()
    headers = response.headers
    try:
        guard = SseGuard(provider, max_event_bytes, headers, first_by, clock)
        events = iter_sse(guard.watch(response.iter_bytes()))
        while True:
            try:
                sse = next(events, None)
            except transport_errors as exc:
                raise map_openai_error(exc, provider) from exc
            if sse is None:
                raise _cut(provider, headers)
            item = _event(sse.event, sse.data, headers, provider)
            if item is _DONE:
                # Read the chunked terminator so the connection goes back to the pool.
                with contextlib.suppress(*transport_errors):
                    for _ in events:
                        pass
                return
            if item is not _SKIP:
                guard.delivered()
                yield item
    finally:
        response.close()


async def aiter_chunks(
    response: Any,
    provider: str,
    max_event_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    first_by: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[ChatChunk]:
    """The async twin of :func:`iter_chunks`. ``response`` is an ``httpx2.Response`` (the
    SDK path) or a ``_aio_stream.AioStream`` (the direct path, which drains itself)."""
    from ._errors import sdk_error_types

    transport_errors = sdk_error_types()
    headers = response.headers
    try:
        guard = SseGuard(provider, max_event_bytes, headers, first_by, clock)
        events = aiter_sse(guard.awatch(response.aiter_bytes()))
        while True:
            try:
                sse = await anext(events, None)
            except transport_errors as exc:
                raise map_openai_error(exc, provider) from exc
            if sse is None:
                raise _cut(provider, headers)
            item = _event(sse.event, sse.data, headers, provider)
            if item is _DONE:
                # Read the terminator (at most 0.1 s) so the connection can be reused:
                # the direct stream's own drain, or the SDK's cleanup.
                drain = getattr(response, "drain", None)
                if drain is not None:
                    await drain()
                else:
                    from openai._streaming_cleanup import drain_response_async

                    await drain_response_async(response)
                return
            if item is not _SKIP:
                guard.delivered()
                yield item
    finally:
        await response.aclose()
