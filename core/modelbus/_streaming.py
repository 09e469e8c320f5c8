"""Streaming through the pipeline.

A stream is retried (and falls back to another model, see ``_fallback``) only until its
first content arrives: the chunks before it (a role-only first chunk, Azure's
filter-only one) are held back, so a failure right after them is retried; after content,
a retry would repeat text the caller has already seen, so a mid-stream failure is raised
as is. The attempt timeout and the deadline bound the wait for the first content; the
stream idle timeout each later silence (``_timeouts``; enforced here for async
providers, by the provider for sync ones). A budget reservation is made before the first
chunk and settled when the stream ends: to its cost when finished, to the cost of the
usage seen when it failed or was closed early, and kept at the worst case when abandoned
before any usage arrived (the provider may bill it). A complete stream is stored in the
cache and a cached response is replayed as chunks without delays.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from ._converter import dumps_response
from ._fallback import next_route
from ._observe import aobserve_stream, observe_stream
from ._pipeline import (
    CallOptions,
    _acache,
    _cache_get,
    _decode,
    _key,
    _no_cache_only,
    _ok,
    _on_retry,
    _set,
    billed_tier,
    call_limits,
)
from ._policies import policy_for
from ._retry import aretry_call, retry_call
from ._routing import Route
from ._stream import StreamAccumulator, ahead_chunks, head_chunks, replay_chunks
from ._timeouts import idle_bounded
from ._types import ChatChunk, ChatRequest, ChatResponse
from .errors import CacheMiss

if TYPE_CHECKING:
    from ._budgeting import Hold
    from ._client import Client
    from ._observe import Scope

__all__ = ["AsyncChatStream", "ChatStream"]


class _StreamBase:
    def __init__(self, c: Client, route: Route, req: ChatRequest, o: CallOptions) -> None:
        self._c = c
        self._route = route
        self._req = req
        self._o = o
        self._t0 = time.perf_counter()
        self._acc = StreamAccumulator()
        self._response: ChatResponse | None = None
        self._attempts = 0
        self._cached: ChatResponse | None = None
        self._key: str | None = None
        self._hold: Hold | None = None
        self._scope: Scope | None = None  # set when the client has observers (_observe)
        self._outer: Any = None  # the observing wrapper, closed by close()/aclose()

    @property
    def response(self) -> ChatResponse:
        """The aggregated ChatResponse; raises ``RuntimeError`` before the stream ended."""
        if self._response is None:
            raise RuntimeError("the stream has not finished; iterate it to the end first")
        return self._response

    def _complete(self) -> ChatResponse:
        c, route = self._c, self._route
        if self._cached is not None:
            resp = attrs.evolve(self._cached, cached=True, attempts=0)
            status = "hit"
        else:
            resp = self._acc.response(route.provider)
            model = resp.model or self._req.model
            resp = attrs.evolve(
                resp,
                model=model,
                attempts=self._attempts,
                cost_usd=c.catalog.cost(model, resp.usage, billed_tier(self._req, resp)),
            )
            status = "bypass" if self._key is None else "miss"
        resp = self._c._done(route, resp, self._t0, status)
        self._response = resp
        if self._scope is not None:
            self._scope.cache_status = status
        return resp

    def _spent(self) -> float | None:
        """What the stream cost, for its budget reservation: the response's cost, else
        that of the usage seen so far, else ``None`` (keep the worst case: the provider
        may bill a stream abandoned before its usage arrived)."""
        if self._response is not None and self._response.cost_usd is not None:
            return self._response.cost_usd
        usage = self._acc.usage
        if usage is None:
            return None
        resp = self._acc.response(self._route.provider)
        model = resp.model or self._req.model
        return self._c.catalog.cost(model, usage, billed_tier(self._req, resp))

    def _first(self) -> None:
        if self._scope is not None:
            self._scope.first_chunk()

    def _stored(self, key: str, ttl: float | None) -> None:
        if self._scope is not None:
            self._scope.stored(key, ttl)

    def _ttl(self) -> float | None:
        o = self._o
        return o.cache_ttl_s if o.cache_ttl_s is not None else self._c.config.modelbus.cache_ttl_s


class ChatStream(_StreamBase):
    """Iterate it for :class:`ChatChunk`; afterwards ``.response`` is the aggregated
    :class:`ChatResponse` (usage and cost included). Use as a context manager to close
    the underlying connection when leaving early."""

    def __init__(self, c: Client, route: Route, req: ChatRequest, o: CallOptions) -> None:
        super().__init__(c, route, req, o)
        self._it: Iterator[ChatChunk] | None = None

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        close = getattr(self._it, "close", None)
        if close is not None:
            close()
        if self._hold is not None:
            self._hold.settle(self._spent())
        if self._outer is not None:
            self._outer.close()

    def __iter__(self) -> Iterator[ChatChunk]:
        if self._c._observers is None or self._scope is not None:
            return self._run()
        self._outer = observe_stream(self, self._run())
        return self._outer  # type: ignore[no-any-return]

    def _run(self) -> Iterator[ChatChunk]:
        c, route, req, o = self._c, self._route, self._req, self._o
        provider = c.provider(route.provider)
        cache = None if o.cache == "bypass" else c.cache
        if cache is None:
            _no_cache_only(o)
        else:
            self._key = _key(c, route, provider, req, o.truncate)
            if o.cache != "refresh":
                self._cached = _cache_get(c, cache, self._key)
                if self._scope is not None:
                    self._scope.cache(self._cached is not None, self._key)
                if self._cached is not None:
                    self._first()
                    yield from replay_chunks(self._cached)
                    self._complete()
                    return
                if o.cache == "only":
                    raise CacheMiss("not in cache; cache='only' does not call")

        def first() -> tuple[Iterator[ChatChunk], list[ChatChunk]]:
            it = iter(provider.stream(req))
            return it, head_chunks(it)

        try:
            req, self._hold = c._prepare(route, req, o.truncate)
            (it, head), self._attempts = retry_call(
                first,
                policy_for(c, route),
                clock=c.clock,
                on_retry=_on_retry(c, route, self._scope),
                budget=c._retry_budget(route.provider),
                limits=call_limits(c, route, o),
            )
        except BaseException as exc:
            if self._hold is not None:
                self._hold.release(exc)
            if not isinstance(exc, Exception):
                raise
            # Nothing was yielded yet, so a fallback model can still take the whole stream.
            nxt = next_route(c, route, self._req, exc, self._scope)
            if nxt is None:
                raise
            inner = ChatStream(c, nxt[0], nxt[1], o)
            inner._t0, inner._scope = self._t0, self._scope
            self._it = inner_it = iter(inner)
            yield from inner_it
            self._response = inner.response
            return
        self._it = it
        try:
            if head:
                self._first()
            for chunk in head:
                self._acc.add(chunk)
                yield chunk
            if head:
                for chunk in it:
                    self._acc.add(chunk)
                    yield chunk
            resp = self._complete()
        finally:  # finished, failed or abandoned: settle to what is known (_spent)
            if self._hold is not None:
                self._hold.settle(self._spent())
        if cache is not None and self._key and resp.finish_reason not in (None, "error"):
            data, key, ttl = dumps_response(resp), self._key, self._ttl()
            if c._guard(lambda: _set(cache, key, data, ttl, o.cache_tags), "cache_set_failed"):
                self._stored(key, ttl)


class AsyncChatStream(_StreamBase):
    """The async twin of :class:`ChatStream` (``async for chunk in stream``)."""

    def __init__(self, c: Client, route: Route, req: ChatRequest, o: CallOptions) -> None:
        super().__init__(c, route, req, o)
        self._it: AsyncIterator[ChatChunk] | None = None

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        aclose = getattr(self._it, "aclose", None)
        if aclose is not None:
            await aclose()
        if self._hold is not None:
            await self._hold.asettle(self._spent())
        if self._outer is not None:
            await self._outer.aclose()

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        if self._c._observers is None or self._scope is not None:
            return self._run()
        self._outer = aobserve_stream(self, self._run())
        return self._outer  # type: ignore[no-any-return]

    async def _run(self) -> AsyncIterator[ChatChunk]:
        c, route, req, o = self._c, self._route, self._req, self._o
        provider = c.provider(route.provider)
        cache = None if o.cache == "bypass" else c.cache
        if cache is None:
            _no_cache_only(o)
        else:
            self._key = _key(c, route, provider, req, o.truncate)
            if o.cache != "refresh":
                data = await c._aguard(_acache(cache, "get", self._key), "cache_get_failed")
                self._cached = _decode(c, cache, self._key, data)
                if self._scope is not None:
                    self._scope.cache(self._cached is not None, self._key)
                if self._cached is not None:
                    self._first()
                    for chunk in replay_chunks(self._cached):
                        yield chunk
                    self._complete()
                    return
                if o.cache == "only":
                    raise CacheMiss("not in cache; cache='only' does not call")

        async def first() -> tuple[AsyncIterator[ChatChunk], list[ChatChunk]]:
            it = aiter(provider.astream(req))
            return it, await ahead_chunks(it)

        limits = call_limits(c, route, o)
        try:
            req, self._hold = await c._aprepare(route, req, o.truncate)
            (it, head), self._attempts = await aretry_call(
                first,
                policy_for(c, route),
                clock=c.clock,
                on_retry=_on_retry(c, route, self._scope),
                budget=c._retry_budget(route.provider),
                limits=limits,
            )
        except BaseException as exc:
            if self._hold is not None:
                await self._hold.arelease(exc)
            if not isinstance(exc, Exception):
                raise
            nxt = next_route(c, route, self._req, exc, self._scope)
            if nxt is None:
                raise
            inner = AsyncChatStream(c, nxt[0], nxt[1], o)
            inner._t0, inner._scope = self._t0, self._scope
            self._it = inner_it = aiter(inner)
            async for chunk in inner_it:
                yield chunk
            self._response = inner.response
            return
        self._it = it
        try:
            if head:
                self._first()
            for chunk in head:
                self._acc.add(chunk)
                yield chunk
            if head:
                async for chunk in idle_bounded(it, limits):
                    self._acc.add(chunk)
                    yield chunk
            resp = self._complete()
        finally:
            if self._hold is not None:
                await self._hold.asettle(self._spent())
        if cache is not None and self._key and resp.finish_reason not in (None, "error"):
            key, ttl = self._key, self._ttl()
            aw = _acache(cache, "set", key, dumps_response(resp), ttl, o.cache_tags)
            if await c._aguard(_ok(aw), "cache_set_failed"):
                self._stored(key, ttl)
