"""The :class:`Engine`: what every call runs through, and what it keeps between calls.

``Client`` composes the parts (from config and plugins) and routes a call; the engine
holds those parts and runs the call: cache, single-flight, retry policy and retry
quotas, budgets, rate limiter, catalog, token counters, observers, logging and usage
totals. The pipeline steps (``_prepare``, ``_budgeting``, ``_ratelimit``, ``_fallback``,
``_cache_lock``, ``_observe``) take the engine, never the client.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._caching.decoded import decode_value
from .._caching.key import cache_key
from .._logging import calls_logged, redact
from .._retry.runner import Clock, RetryQuota
from .._wire.converter import dumps_response
from .fallback import next_route
from .fanout import AsyncFlights, Flights
from .options import DEFAULT_OPTIONS
from .per_route import PlainRoute, RouteMemo, call_limits, plain_route, retry_callback
from .plan import CachePlan, Outcome, plan_cache
from .policies import policy_for
from .prepare import resolve_truncate
from .singleflight import AsyncSingleFlight, SingleFlight
from .timeouts import current_limits
from .totals import Totals, UsageTotals, set_latency, with_latency

if TYPE_CHECKING:
    from .._catalog import Catalog
    from .._config.config import Config
    from .._plugins.registry import Registry
    from .._routing.resolve import Route
    from .._wire.types import ChatResponse
    from ..protocols import Cache, RateLimiter, RetryPolicy, TokenCounter
    from .observe import Observers
    from .options import Call, CallOptions
    from .provider_adapter import AdaptedProvider
    from .timeouts import CallLimits

T = TypeVar("T")

__all__ = ["Engine", "UsageTotals"]


_UNKNOWN: Any = object()  # a route not yet looked at (None: looked at, not plain)


class Engine:
    """The call engine of one client (see the module doc). Thread-safe.

    ``provider(name)`` and ``route(name)`` are the client's composition and routing
    (providers are built on first use; fallbacks route by name)."""

    def __init__(
        self,
        *,
        config: Config,
        registry: Registry,
        cache: Cache | None,
        retry_policy: RetryPolicy,
        rate_limiter: RateLimiter,
        catalog: Catalog,
        clock: Clock,
        namespace: str,
        log: Any,
        provider: Callable[[str], AdaptedProvider],
        route: Callable[[str | None], Route],
        build: Callable[[str, str], Any],
    ) -> None:
        self.config = config
        self.registry = registry
        self._cache = cache
        self._acache: Any = None  # the cache's async side, adapted on first async use
        self.retry_policy = retry_policy
        self.rate_limiter = rate_limiter
        self.catalog = catalog
        self.clock = clock
        self.namespace = namespace
        self.log = log
        self.provider = provider
        self.route = route
        self.build = build
        self.observers: Observers | None = None  # set by the client once built
        self.flight = SingleFlight()
        self.stream_flights = Flights()
        self._aflights: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncSingleFlight, AsyncFlights]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()
        self._quotas: dict[str, RetryQuota] = {}
        self._route_limits: RouteMemo[CallLimits] = RouteMemo()
        self._route_retry: RouteMemo[Callable[[Any, int], None]] = RouteMemo()
        self._route_plain: RouteMemo[PlainRoute | None] = RouteMemo()
        self.counters: dict[str, TokenCounter] | None = None  # started on first count
        # What a pipeline step keeps per engine (``_limits.budgets``' state), by the
        # step's name: a plain dict, since a WeakKeyDictionary keyed by the engine makes a
        # weak reference on every lookup, that is on every call.
        self.step_state: dict[str, Any] = {}
        self.totals = Totals()
        self._ttl = config.modelbus.cache_ttl_s
        self._default_plans: list[CachePlan | None] = [None, None]  # without, with a cache

    @property
    def cache(self) -> Cache | None:
        """The cache (``None``: none configured)."""
        return self._cache

    @cache.setter
    def cache(self, value: Cache | None) -> None:
        self._cache, self._acache = value, None

    def _async_cache(self) -> Any:
        # The async side the cache contract suite tests (``adapt_cache``): the cache's own
        # async methods, else its sync ones in a worker thread (inline if non-blocking).
        ac = self._acache
        if ac is None:
            from .._caching.async_side import adapt_cache

            ac = self._acache = adapt_cache(self._cache)
        return ac

    # --- decisions ---------------------------------------------------------------------
    def plan(self, o: CallOptions) -> CachePlan:
        """The cache plan of a call with options ``o`` (:func:`plan.plan_cache`)."""
        if o is DEFAULT_OPTIONS:  # most calls: no hashing of the options on the hot path
            has_cache = self._cache is not None
            known = self._default_plans[has_cache]
            if known is None:
                known = self._default_plans[has_cache] = plan_cache(o, has_cache, self._ttl)
            return known
        return plan_cache(o, self._cache is not None, self._ttl)

    def policy(self, route: Route) -> RetryPolicy:
        """The retry policy of ``route``: its model's (``[models.X] retry_policy``), else
        the client's (``modelbus._engine.policies``)."""
        return policy_for(self, route) if route.retry_policy is not None else self.retry_policy

    def aflights(self) -> tuple[AsyncSingleFlight, AsyncFlights]:
        """This event loop's single-flights (futures cannot cross loops)."""
        loop = asyncio.get_running_loop()
        f = self._aflights.get(loop)
        if f is None:
            f = self._aflights[loop] = (AsyncSingleFlight(), AsyncFlights())
        return f

    def retry_quota(self, provider: str) -> RetryQuota | None:
        """``provider``'s retry quota (AWS standard mode, see ``RetryQuota``), which the
        retry runner pays each retry with and refunds on success; ``None`` when
        ``[modelbus.retry_budget] enabled = false``."""
        settings = self.config.modelbus.retry_budget
        if not settings.enabled:
            return None
        quota = self._quotas.get(provider)
        if quota is None:
            with self._lock:
                quota = self._quotas.get(provider)
                if quota is None:
                    quota = self._quotas[provider] = RetryQuota(
                        settings.capacity,
                        retry_cost=settings.retry_cost,
                        timeout_retry_cost=settings.timeout_retry_cost,
                        throttling_retry_cost=settings.throttling_retry_cost,
                        no_retry_increment=settings.no_retry_increment,
                    )
        return quota

    # --- cache I/O that never fails a call ---------------------------------------------
    def guard(self, fn: Callable[[], T], event: str) -> T | None:
        """Run a cache operation; a failure is logged as ``event``, never raised."""
        try:
            return fn()
        except Exception as exc:
            self.log_warning(event, error=f"{type(exc).__name__}: {exc}")
            return None

    async def aguard(self, aw: Awaitable[T], event: str) -> T | None:
        """The async twin of :meth:`guard`."""
        try:
            return await aw
        except Exception as exc:
            self.log_warning(event, error=f"{type(exc).__name__}: {exc}")
            return None

    def log_warning(self, event: str, **kw: Any) -> None:
        """A warning with every value passed through the secret redaction."""
        self.log.warning(event, **{k: redact(v, k) for k, v in kw.items()})

    def decode(self, key: str, data: bytes | None) -> ChatResponse | None:
        """A cached value as a hit (``cached=True``, ``attempts=0``), or ``None``; a value
        that cannot be read is logged, deleted and treated as a miss."""
        if data is None:
            return None
        try:
            return decode_value(data)
        except Exception as exc:
            self.log_warning("cache_value_undecodable", key=key, error=str(exc))
            cache = self.cache
            if cache is not None:
                self.guard(lambda: cache.delete(key), "cache_delete_failed")
            return None

    def lookup(self, key: str) -> ChatResponse | None:
        """The cached answer for ``key``, or ``None`` (a failing cache is a miss)."""
        cache = self.cache
        assert cache is not None
        try:  # guard() inlined: this runs on every cached call
            data = cache.get(key)
        except Exception as exc:
            self.log_warning("cache_get_failed", error=f"{type(exc).__name__}: {exc}")
            return None
        return self.decode(key, data)

    async def alookup(self, key: str) -> ChatResponse | None:
        """The async twin of :meth:`lookup`."""

        async def get() -> Any:
            return await self._async_cache().aget(key)

        return self.decode(key, await self.aguard(get(), "cache_get_failed"))

    def store(self, plan: CachePlan, key: str, resp: ChatResponse) -> bool:
        """Write ``resp`` under ``key``; ``True`` when stored (a failure is a warning)."""
        cache = self.cache
        assert cache is not None
        data = dumps_response(resp)

        def put() -> bool:
            cache.set(key, data, plan.ttl_s, plan.tags)
            return True

        return bool(self.guard(put, "cache_set_failed"))

    async def astore(self, plan: CachePlan, key: str, resp: ChatResponse) -> bool:
        """The async twin of :meth:`store`."""

        async def put() -> bool:
            data = dumps_response(resp)
            await self._async_cache().aset(key, data, plan.ttl_s, plan.tags)
            return True

        return bool(await self.aguard(put(), "cache_set_failed"))

    # --- accounting ----------------------------------------------------------------------
    def account(self, resp: ChatResponse) -> None:
        """Add one provider call's usage and cost to the totals."""
        self.totals.add(resp)

    def done(
        self,
        call: Call,
        resp: ChatResponse,
        outcome: Outcome,
        *,
        counted: bool = False,
        owned: bool = False,
    ) -> ChatResponse:
        """``resp`` handed to the caller: its latency set, the totals updated (a
        ``miss`` or ``bypass`` is counted here unless ``counted``: a stream's producer
        counts its provider call itself), the observers told where it came from, and one
        ``modelbus.call`` event logged when anyone listens. ``owned``: ``resp`` was built
        for this caller alone and nobody else has seen it (``plan.priced`` on the bypass
        path), so its latency is written on it rather than on a copy."""
        latency = time.perf_counter() - call.t0
        resp = set_latency(resp, latency) if owned else with_latency(resp, latency)
        self.totals.answered(resp, outcome, counted)
        if self.observers is not None:
            self.observers.note_cache(outcome)
        # Asked per call: the application may configure structlog after this client was
        # built; an event nobody would see is not built.
        if calls_logged():
            self.log.info(
                "modelbus.call",
                provider=resp.provider or call.route.provider,
                model=resp.model,
                latency_ms=round(latency * 1000, 3),
                prompt_tokens=resp.usage.prompt_tokens,
                completion_tokens=resp.usage.completion_tokens,
                cost_usd=resp.cost_usd,
                cache=outcome,
                attempts=resp.attempts,
                finish_reason=resp.finish_reason,
            )
        return resp

    @property
    def usage_totals(self) -> UsageTotals:
        """Tokens and US dollars spent so far."""
        return self.totals.snapshot()

    def token_counter(self, model: str, provider: str | None = None) -> TokenCounter:
        """The counter for ``model`` (``modelbus._tokens.counters.pick_counter``)."""
        from .._tokens.counters import pick_counter

        return pick_counter(self, model, provider)

    def start_counters(self) -> dict[str, TokenCounter]:
        """The registered token counters, started once."""
        counters = self.counters
        if counters is None:
            from .._plugins.registry import start_each

            with self._lock:
                counters = self.counters
                if counters is None:
                    counters = self.counters = dict(
                        start_each(self.registry, "token_counters", self.config)
                    )
        return counters

    # --- per-call helpers shared by the drivers ----------------------------------------
    def key(self, call: Call, provider: AdaptedProvider) -> str:
        """The cache key of ``call`` (``modelbus._caching.key``).

        Taken before context fitting. With a truncation strategy in force an over-long
        request is answered from shortened messages, so the strategy is part of the key:
        a call that would have raised ContextLengthExceededError (no strategy) must not
        be served that answer. Without one the key is unchanged."""
        ns = self.namespace
        mode = resolve_truncate(self, call.options.truncate)
        if mode:
            ns = f"{ns}\x1ftruncate={mode}"
        return cache_key(
            call.request,
            provider=call.route.provider,
            endpoint=provider.cache_identity,
            namespace=ns,
        )

    def on_retry(self, route: Route, scope: Any = None) -> Callable[[Any, int], None]:
        """The retry runner's callback (``per_route.retry_callback``); without a
        ``scope``, one per route."""
        if scope is not None:
            return retry_callback(self, route, scope)
        fn = self._route_retry.get(route)
        return fn or self._route_retry.put(route, retry_callback(self, route, None))

    def limits(self, call: Call) -> CallLimits:
        """The time limits of ``call`` (``per_route.call_limits``): built once per route
        for the calls without a timeout of their own."""
        o = call.options
        if o.timeout_s is not None:
            return call_limits(self, call.route, o.timeout_s)
        return self.limits_of(call.route)

    def limits_of(self, route: Route) -> CallLimits:
        """The time limits of a call on ``route`` without a timeout of its own."""
        known = self._route_limits.get(route)
        return known or self._route_limits.put(route, call_limits(self, route, None))

    def plain(self, call: Call) -> PlainRoute | None:
        """What the async driver needs to send ``call`` at once (``per_route.PlainRoute``,
        worked out once per route), or ``None`` when something runs before its first
        attempt: a budget, a rate limit, time limits (the call's ``timeout`` too), or an
        outer attempt's limits in context (a call made inside a provider call)."""
        if call.options.timeout_s is not None or current_limits() is not None:
            return None
        route = call.route
        known = self._route_plain.get(route, _UNKNOWN)
        if known is _UNKNOWN:
            known = self._route_plain.put(route, plain_route(self, route))
        return known  # type: ignore[no-any-return]

    def fallback(self, call: Call, error: BaseException, scope: Any = None) -> Call | None:
        """The call to make after ``error``, on the next fallback model, or ``None``
        (re-raise); see ``modelbus._engine.fallback``."""
        nxt = next_route(self, call.route, call.request, error, scope)
        return None if nxt is None else call.to(*nxt)

    # --- lifecycle -----------------------------------------------------------------------
    def _parts(self) -> tuple[Any, ...]:
        from .._limits.budgets import close_store

        return (self.cache, self.rate_limiter, close_store(self), self.observers)

    def close(self, providers: list[AdaptedProvider]) -> None:
        """Close ``providers``, the cache, the rate limiter and the budget store (each
        that has a ``close``)."""
        self._route_plain.clear()  # they hold providers: the next call builds new ones
        for p in providers:
            p.close()
        for part in self._parts():
            close = getattr(part, "close", None)
            if close is not None:
                close()

    async def aclose(self, providers: list[AdaptedProvider]) -> None:
        """The async twin of :meth:`close` (``aclose`` preferred where a part has one)."""
        self._route_plain.clear()
        for p in providers:
            await p.aclose()
        for part in self._parts():
            aclose = getattr(part, "aclose", None)
            if aclose is not None:
                await aclose()
                continue
            close = getattr(part, "close", None)
            if close is not None:
                close()
