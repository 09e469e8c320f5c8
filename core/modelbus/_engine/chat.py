"""The chat drivers, sync and async: one call through the engine's decisions.

cache plan (``plan``) → lookup → [miss] single-flight (in process, then across processes
through the cache's lock, ``_cache_lock``) → prepare (adapt parameters, context window,
budget reservation, rate limit; ``_prepare``) → retry policy around the provider call
(``_retry``) → usage and cost (the reservation settled to it, or released on an error) →
store → ``Engine.done``. On an availability or context-length error the same runs for
the next fallback model (``_fallback``).

Token estimation happens after the lookup: a hit sends nothing, so it needs no count,
and that keeps a memory-cache hit in the microseconds. The two drivers mirror each other
line for line (but for the async one's uncached call on a route where nothing runs
before the first attempt, ``Engine.plain``: written out so that fewer of its objects
stay alive while it is in flight, with what the route needs looked up once per route:
``benchmarks``, row ``async``); every decision they take is a call into ``plan`` or the
engine.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from .._limits.holds import abilled_attempts, billed_attempts
from .._retry.runner import NO_ARG, aretry_call, retry_call
from .cache_lock import arun_locked, run_locked
from .plan import miss_error, outcome, priced, storable
from .prepare import aprepare, fitted, prepare, prepare_awaits

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from .._wire.types import ChatResponse
    from .engine import Engine
    from .options import Call
    from .plan import CachePlan
    from .provider_adapter import AdaptedProvider

__all__ = ["achat", "chat"]


def chat(e: Engine, call: Call) -> ChatResponse:
    """Run ``call`` (sync); observed as one call when the client has observers."""
    if e.observers is not None:
        return e.observers.observed(e, call.route, call.request, lambda _: _chain(e, call))
    return _chain(e, call)


def _chain(e: Engine, call: Call) -> ChatResponse:
    # Recursive on purpose: the next fallback runs inside the ``except``, so its error
    # chains the ones before it (``__context__``), as the traceback shows them.
    try:
        provider = e.provider(call.route.provider)
        plan = e.plan(call.options)
        if not plan.cached:
            return e.done(call, _send(e, call, provider), "bypass", owned=True)
        return _cached(e, call, provider, plan)
    except Exception as exc:
        nxt = e.fallback(call, exc)
        if nxt is None:
            raise
        return _chain(e, nxt)


def _cached(e: Engine, call: Call, provider: AdaptedProvider, plan: CachePlan) -> ChatResponse:
    key = e.key(call, provider)
    if plan.lookup:
        hit = e.lookup(key)
        if e.observers is not None:
            e.observers.cache(hit is not None, key)
        if hit is not None:
            return e.done(call, hit, "hit")
        if plan.only:
            raise miss_error(key)

    def miss() -> ChatResponse:
        resp = _send(e, call, provider)
        if plan.store and storable(resp) and e.store(plan, key, resp):
            _observe_stored(e, key, plan.ttl_s)
        return resp

    def shared() -> ChatResponse:  # across processes, through the cache's lock
        return run_locked(e, e.cache, key, lambda d: e.decode(key, d), miss)

    resp, was_shared = e.flight.do(key, shared if plan.share else miss)
    return e.done(call, resp, outcome(plan, was_shared, resp))


def _send(e: Engine, call: Call, provider: AdaptedProvider) -> ChatResponse:
    route = call.route
    req, hold = prepare(e, route, call.request, call.options.truncate)
    try:
        resp, attempts = retry_call(
            billed_attempts(hold, partial(provider.chat, req)),
            e.policy(route),
            clock=e.clock,
            on_retry=e.on_retry(route),
            budget=e.retry_quota(route.provider),
            limits=e.limits(call),
        )
    except BaseException as exc:
        if hold is not None:
            hold.release(exc)
        raise
    resp = priced(e.catalog, route, req, resp, attempts, provider.fresh)
    if hold is not None:
        hold.settle(resp.cost_usd)
    return resp


def achat(e: Engine, call: Call) -> Awaitable[ChatResponse]:
    """The async twin of :func:`chat`: the awaitable of the call. A plain function that
    hands back the coroutine, so the call's frames are one fewer on every resumption."""
    if e.observers is not None:
        return e.observers.aobserved(e, call.route, call.request, lambda _: _achain(e, call))
    return _achain(e, call)


async def _achain(e: Engine, call: Call) -> ChatResponse:
    try:
        plan = e.plan(call.options)
        if plan.cached:
            return await _acached(e, call, e.provider(call.route.provider), plan)
        plain = e.plain(call)
        if plain is None:
            provider = e.provider(call.route.provider)
            return e.done(call, await _asend(e, call, provider), "bypass", owned=True)
        # _asend where nothing runs before the first attempt (``per_route.plain_route``),
        # written out, the first attempt awaited here: two coroutines fewer per call in
        # flight (each kept alive, and walked by every young collection, until the answer
        # comes), and what the route needs looked up once per route, not per call.
        route = call.route
        req = fitted(e, route, call.request, call.options.truncate)
        start = e.clock.monotonic()
        try:
            resp = await plain.achat(req)
        except Exception as exc:  # the runner goes on from this first failure
            resp, attempts = await _aretried(e, call, plain.achat, req, (exc, start))
        else:
            attempts = 1
            if plain.quota is not None:
                plain.quota.succeeded(None)  # what the runner does on a first success
        resp = priced(e.catalog, route, req, resp, attempts, plain.fresh)
        return e.done(call, resp, "bypass", owned=True)
    except Exception as exc:
        nxt = e.fallback(call, exc)
        if nxt is None:
            raise
        return await _achain(e, nxt)


async def _acached(
    e: Engine, call: Call, provider: AdaptedProvider, plan: CachePlan
) -> ChatResponse:
    key = e.key(call, provider)
    if plan.lookup:
        hit = await e.alookup(key)
        if e.observers is not None:
            e.observers.cache(hit is not None, key)
        if hit is not None:
            return e.done(call, hit, "hit")
        if plan.only:
            raise miss_error(key)

    async def miss() -> ChatResponse:
        resp = await _asend(e, call, provider)
        if plan.store and storable(resp) and await e.astore(plan, key, resp):
            _observe_stored(e, key, plan.ttl_s)
        return resp

    async def shared() -> ChatResponse:
        return await arun_locked(e, e.cache, key, lambda d: e.decode(key, d), miss)

    flight, _ = e.aflights()
    resp, was_shared = await flight.do(key, shared if plan.share else miss)
    return e.done(call, resp, outcome(plan, was_shared, resp))


async def _asend(e: Engine, call: Call, provider: AdaptedProvider) -> ChatResponse:
    route = call.route
    if prepare_awaits(e, route):
        req, hold = await aprepare(e, route, call.request, call.options.truncate)
    else:  # most clients: no budget, no rate limit, nothing to await
        req, hold = fitted(e, route, call.request, call.options.truncate), None
    try:
        if hold is None:
            resp, attempts = await _aretried(e, call, provider.achat, req)
        else:
            billed = abilled_attempts(hold, partial(provider.achat, req))
            resp, attempts = await _aretried(e, call, billed, NO_ARG)
    except BaseException as exc:
        if hold is not None:
            await hold.arelease(exc)
        raise
    resp = priced(e.catalog, route, req, resp, attempts, provider.fresh)
    if hold is not None:
        await hold.asettle(resp.cost_usd)
    return resp


def _aretried(
    e: Engine,
    call: Call,
    fn: Callable[..., Awaitable[ChatResponse]],
    arg: Any,
    failed: tuple[Exception, float] | None = None,
) -> Coroutine[Any, Any, tuple[ChatResponse, int]]:
    """``fn(arg)`` (``fn()`` for ``NO_ARG``) under the route's retry policy, quota and
    attempt limits, from the first attempt or after the caller's own ``failed`` one
    (``aretry_call``): the retry runner's coroutine itself (a plain function, so no
    frame of its own stays alive while the call is in flight)."""
    route = call.route
    return aretry_call(
        fn,
        e.policy(route),
        clock=e.clock,
        on_retry=e.on_retry(route),
        budget=e.retry_quota(route.provider),
        limits=e.limits(call),
        arg=arg,
        failed=failed,
    )


def _observe_stored(e: Engine, key: str, ttl_s: float | None) -> None:
    if e.observers is not None:
        e.observers.stored(key, ttl_s)
