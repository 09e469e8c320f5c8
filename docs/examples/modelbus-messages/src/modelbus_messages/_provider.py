"""The ``messages`` provider: httpx on the wire, :mod:`modelbus.plugin` for the rest.

Every failure leaves as a :class:`~modelbus.plugin.ProviderError`, which the core
retries when it should: an error answer through :func:`~modelbus.plugin.error_from_http`
(status, ``Retry-After``, ``request-id``, ``x-should-retry``), httpx's timeouts as
``APITimeoutError`` and its other transport errors as ``APIConnectionError``. httpx's own
exceptions must not escape: the core would not retry them.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import attrs
import httpx

from modelbus.plugin import (
    APIConnectionError,
    APITimeoutError,
    Capabilities,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ProviderError,
    ServerError,
    aiter_sse,
    attempt_limits,
    close_with_loop,
    decode_body,
    error_from_http,
    iter_sse,
    request_id_from,
)

from . import MessagesSettings
from ._wire import END, chunk_from_event, request_body, response_from_body

__all__ = ["MessagesProvider"]

PATH = "/v1/messages"


@contextlib.contextmanager
def _mapped(provider: str) -> Iterator[None]:
    """httpx's transport errors → ProviderErrors (raised ``from`` the original)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise APITimeoutError(
            f"no response within timeout_s ({type(exc).__name__})", provider=provider
        ) from exc
    except httpx.RequestError as exc:
        raise APIConnectionError(
            f"connection failed: {type(exc).__name__}: {exc}", provider=provider
        ) from exc


class MessagesProvider:
    """Chat and streaming for an Anthropic-Messages-shaped API (no tools, no embeddings)."""

    name = "messages"
    # params: the request fields request_body translates; the client drops the others
    # (service_tier, seed...) with a note, or refuses them by name, before calling.
    capabilities = Capabilities(
        tools=False,
        json_schema=False,
        json_object=False,
        params={"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop"},
    )
    # Every answer is built anew from its body and kept by nobody here: the core may
    # complete it in place (provider, cost, latency) rather than copy it.
    fresh_responses = True

    def __init__(self, settings: MessagesSettings) -> None:
        self.settings = settings
        self.cache_identity = settings.base_url  # the endpoint, part of the cache key
        self._headers = {"anthropic-version": settings.version}
        if settings.api_key is not None:  # without one the API answers 401, as it should
            self._headers["x-api-key"] = settings.api_key.get_secret_value()
        self._timeout = httpx.Timeout(settings.timeout_s)
        self._client = httpx.Client(
            base_url=settings.base_url, headers=self._headers, timeout=self._timeout
        )
        # httpx's async pool belongs to one event loop: one client per loop, closed as
        # its loop shuts down (a sync close() cannot reach it once the loop is gone).
        self._aclients: weakref.WeakKeyDictionary[Any, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._closers: weakref.WeakKeyDictionary[Any, object] = weakref.WeakKeyDictionary()

    def _aclient(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            client = self._aclients[loop] = httpx.AsyncClient(
                base_url=self.settings.base_url, headers=self._headers, timeout=self._timeout
            )
            self._closers[loop] = close_with_loop(client.aclose)  # kept while it lives
        return client

    def _attempt_timeout(self, stream: bool) -> httpx.Timeout:
        # The attempt's time (the call's ``timeout=``, its model's ``timeout_s``, what is
        # left of the retry policy's deadline) over our own ``timeout_s``, read as the
        # request is sent: a sync call cannot be interrupted from outside, so a provider
        # must honour it itself (docs/how-to/timeouts.md, "For provider authors").
        limits = attempt_limits()
        total = limits.timeout(self.settings.timeout_s)
        return httpx.Timeout(total, read=limits.read_timeout(self.settings.timeout_s, stream))

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        req = attrs.evolve(request, stream=stream)
        return request_body(req, self.settings.max_tokens, self.name)

    def _error(self, r: httpx.Response) -> ProviderError:
        return error_from_http(r.status_code, r.headers, decode_body(r.content), provider=self.name)

    def _reply(self, r: httpx.Response) -> ChatResponse:
        if r.status_code >= 400:
            raise self._error(r)
        body = decode_body(r.content)
        if not isinstance(body, Mapping):
            raise ServerError(
                f"the reply is not a JSON object: {str(body)[:200]!r}",
                provider=self.name,
                status_code=r.status_code,
                request_id=request_id_from(r.headers),
            )
        return response_from_body(body)

    def _cut(self, headers: Mapping[str, str]) -> APIConnectionError:
        return APIConnectionError(
            "the stream ended before message_stop: the connection was closed mid-answer",
            provider=self.name,
            request_id=request_id_from(headers),
        )

    # --- sync ---------------------------------------------------------------------------
    def chat(self, request: ChatRequest) -> ChatResponse:
        with _mapped(self.name):
            r = self._client.post(
                PATH, json=self._body(request, False), timeout=self._attempt_timeout(False)
            )
        return self._reply(r)

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        body = self._body(request, True)
        timeout = self._attempt_timeout(True)
        with _mapped(self.name), self._client.stream("POST", PATH, json=body, timeout=timeout) as r:
            if r.status_code >= 400:
                r.read()
                raise self._error(r)
            start: dict[str, Any] = {}
            for event in iter_sse(r.iter_bytes()):
                item = chunk_from_event(event, r.headers, self.name, start)
                if item is END:
                    return
                if isinstance(item, ChatChunk):
                    yield item
            raise self._cut(r.headers)

    # --- async --------------------------------------------------------------------------
    async def achat(self, request: ChatRequest) -> ChatResponse:
        with _mapped(self.name):
            r = await self._aclient().post(
                PATH, json=self._body(request, False), timeout=self._attempt_timeout(False)
            )
        return self._reply(r)

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        body = self._body(request, True)
        timeout = self._attempt_timeout(True)
        with _mapped(self.name):
            async with self._aclient().stream("POST", PATH, json=body, timeout=timeout) as r:
                if r.status_code >= 400:
                    await r.aread()
                    raise self._error(r)
                start: dict[str, Any] = {}
                async for event in aiter_sse(r.aiter_bytes()):
                    item = chunk_from_event(event, r.headers, self.name, start)
                    if item is END:
                        return
                    if isinstance(item, ChatChunk):
                        yield item
                raise self._cut(r.headers)

    def close(self) -> None:
        self._client.close()

    async def aclose(self) -> None:
        client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
