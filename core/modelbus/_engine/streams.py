"""The stream drivers, sync and async: the chat call's decisions for a stream.

The same cache plan as chat (``plan``): a hit is replayed as chunks without delays; a
miss joins an identical stream already open in this process (single-flight for streams,
``fanout``: every caller gets the whole chunk sequence from one provider call) or opens
one. The producer prepares the request (``_prepare``), retries the provider's stream
until its first content (``_retry``; the chunks before it, a role-only first chunk or
Azure's filter-only one, are held back, so a failure right after them is retried), and
stores a complete answer. After content, a retry would repeat text the caller has
already seen, so a mid-stream failure is raised as is; before it, an availability or
context-length error moves the whole stream to the next fallback model (``_fallback``).

The attempt timeout and the deadline bound the wait for the first content; the stream
idle timeout each later silence (``_timeouts``; enforced here for async providers, by
the provider for sync ones). A budget reservation is made before the first chunk and
settled when the producer ends: to its cost when finished, to the cost of the usage seen
when it failed or was closed early, and kept at the worst case when abandoned before any
usage arrived (the provider may bill it). Cross-process sharing through the cache's lock
is for chat only: a stream shares within its process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import attrs

from .._limits.holds import abilled_attempts, billed_attempts
from .._retry.runner import aretry_call, retry_call
from .._wire.stream_accumulator import StreamAccumulator, ahead_chunks, head_chunks, replay_chunks
from .._wire.types import ChatChunk, ChatRequest, ChatResponse
from .plan import CachePlan, Outcome, billed_tier, miss_error, priced, storable
from .prepare import aprepare, prepare
from .timeouts import idle_bounded

if TYPE_CHECKING:
    from .._routing.resolve import Route
    from .engine import Engine
    from .observe import Scope
    from .options import Call
    from .provider_adapter import AdaptedProvider

__all__ = ["Final", "aopen", "open_stream"]


@attrs.frozen
class Final:
    """The last item of a producer: the aggregated response and how it was answered
    (it travels through the fanout with the chunks, so followers get it too)."""

    response: ChatResponse
    outcome: Outcome


Item = ChatChunk | Final


def _spent(
    e: Engine, route: Route, req: ChatRequest, acc: StreamAccumulator, resp: ChatResponse | None
) -> float | None:
    """What the stream cost, for its budget reservation: the response's cost, else that
    of the usage seen so far, else ``None`` (keep the worst case)."""
    if resp is not None and resp.cost_usd is not None:
        return resp.cost_usd
    if acc.usage is None:
        return None
    seen = acc.response(route.provider)
    return e.catalog.cost(seen.model or req.model, acc.usage, billed_tier(req, seen))


def _stored(e: Engine, plan: CachePlan, key: str | None, resp: ChatResponse) -> bool:
    return key is not None and plan.store and storable(resp) and e.store(plan, key, resp)


def _produce(
    e: Engine,
    call: Call,
    provider: AdaptedProvider,
    plan: CachePlan,
    key: str | None,
    scope: Scope | None,
) -> Iterator[Item]:
    route = call.route
    req, hold = prepare(e, route, call.request, call.options.truncate)

    def first() -> tuple[Iterator[ChatChunk], list[ChatChunk]]:
        it = iter(provider.stream(req))
        return it, head_chunks(it)

    try:
        (it, head), attempts = retry_call(
            billed_attempts(hold, first),
            e.policy(route),
            clock=e.clock,
            on_retry=e.on_retry(route, scope),
            budget=e.retry_quota(route.provider),
            limits=e.limits(call),
        )
    except BaseException as exc:
        if hold is not None:
            hold.release(exc)
        raise
    acc = StreamAccumulator()
    resp = None
    try:
        for chunk in head:
            acc.add(chunk)
            yield chunk
        if head:
            for chunk in it:
                acc.add(chunk)
                yield chunk
        # the accumulator's response is this call's own: completed in place
        resp = priced(e.catalog, route, req, acc.response(route.provider), attempts, True)
    finally:  # finished, failed or abandoned: settle to what is known
        if hold is not None:
            hold.settle(_spent(e, route, req, acc, resp))
        close = getattr(it, "close", None)
        if close is not None:
            close()
    e.account(resp)
    if _stored(e, plan, key, resp) and scope is not None:
        scope.stored(key, plan.ttl_s)  # type: ignore[arg-type]
    yield Final(resp, "bypass" if key is None else "miss")


def open_stream(e: Engine, call: Call, scope: Scope | None) -> Iterator[Item]:
    """The items of one attempt at ``call`` on its route: chunks, then a :class:`Final`."""
    provider = e.provider(call.route.provider)
    plan = e.plan(call.options)
    if not plan.cached:
        yield from _produce(e, call, provider, plan, None, scope)
        return
    key = e.key(call, provider)
    if plan.lookup:
        hit = e.lookup(key)
        if scope is not None:
            scope.cache(hit is not None, key)
        if hit is not None:
            yield from replay_chunks(hit)
            yield Final(hit, "hit")
            return
        if plan.only:
            raise miss_error(key)
    if not plan.share:
        yield from _produce(e, call, provider, plan, key, scope)
        return
    items, shared = e.stream_flights.join(
        key, lambda: _produce(e, call, provider, plan, key, scope)
    )
    try:
        for item in items:
            yield Final(item.response, "shared") if shared and type(item) is Final else item
    finally:
        items.close()  # type: ignore[attr-defined]


async def _aproduce(
    e: Engine,
    call: Call,
    provider: AdaptedProvider,
    plan: CachePlan,
    key: str | None,
    scope: Scope | None,
) -> AsyncIterator[Item]:
    route = call.route
    req, hold = await aprepare(e, route, call.request, call.options.truncate)
    limits = e.limits(call)

    async def first() -> tuple[AsyncIterator[ChatChunk], list[ChatChunk]]:
        it = aiter(provider.astream(req))
        return it, await ahead_chunks(it)

    try:
        (it, head), attempts = await aretry_call(
            abilled_attempts(hold, first),
            e.policy(route),
            clock=e.clock,
            on_retry=e.on_retry(route, scope),
            budget=e.retry_quota(route.provider),
            limits=limits,
        )
    except BaseException as exc:
        if hold is not None:
            await hold.arelease(exc)
        raise
    acc = StreamAccumulator()
    resp = None
    try:
        for chunk in head:
            acc.add(chunk)
            yield chunk
        if head:
            async for chunk in idle_bounded(it, limits):
                acc.add(chunk)
                yield chunk
        # the accumulator's response is this call's own: completed in place
        resp = priced(e.catalog, route, req, acc.response(route.provider), attempts, True)
    finally:
        if hold is not None:
            await hold.asettle(_spent(e, route, req, acc, resp))
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()
    e.account(resp)
    stored = key is not None and plan.store and storable(resp)
    if stored and await e.astore(plan, key, resp) and scope is not None:  # type: ignore[arg-type]
        scope.stored(key, plan.ttl_s)  # type: ignore[arg-type]
    yield Final(resp, "bypass" if key is None else "miss")


async def aopen(e: Engine, call: Call, scope: Scope | None) -> AsyncIterator[Item]:
    """The async twin of :func:`open_stream`."""
    provider = e.provider(call.route.provider)
    plan = e.plan(call.options)
    key = None
    if plan.cached:
        key = e.key(call, provider)
        if plan.lookup:
            hit = await e.alookup(key)
            if scope is not None:
                scope.cache(hit is not None, key)
            if hit is not None:
                for chunk in replay_chunks(hit):
                    yield chunk
                yield Final(hit, "hit")
                return
            if plan.only:
                raise miss_error(key)
    shared = False
    if key is not None and plan.share:
        _, flights = e.aflights()
        items, shared = flights.join(key, lambda: _aproduce(e, call, provider, plan, key, scope))
    else:
        items = _aproduce(e, call, provider, plan, key, scope)
    # An async generator is not closed by leaving a loop over it: close it here, so an
    # abandoned stream settles its budget and frees the connection now, not at GC.
    try:
        async for item in items:
            yield Final(item.response, "shared") if shared and type(item) is Final else item
    finally:
        await items.aclose()  # type: ignore[attr-defined]
