"""The one call pipeline, sync and async.

resolve (done by the client) → cache lookup → [miss] single-flight → prepare (token
estimate, context window, budget reservation, rate limit) → retry policy around the
provider call → usage and cost (the budget reservation settled to it, or released on
an error) → cache store → one ``modelbus.call`` event. When that fails with an
availability or context-length error, the same runs for the next fallback model
(``_fallback.next_route``).

Token estimation happens after the cache lookup: a hit sends nothing, so it needs no
count, and that keeps a memory-cache hit in the tens of microseconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._cache_adapt import acache_call
from ._cache_key import cache_key
from ._cache_lock import arun_locked, run_locked
from ._context import TruncateOption, check_truncate
from ._converter import dumps_response, loads_response
from ._fallback import next_route
from ._observe import aobserved, current, observed
from ._policies import policy_for
from ._prepare import resolve_truncate
from ._retry import aretry_call, retry_call
from ._routing import Route
from ._timeouts import CallLimits, check_timeout
from ._types import ChatRequest, ChatResponse
from .errors import Attempt, CacheMiss

if TYPE_CHECKING:
    from ._adapt import AdaptedProvider
    from ._client import Client
    from ._observe import Scope
    from .protocols import Cache

CacheMode = Literal["use", "refresh", "bypass", "only"]
CACHE_MODES = ("use", "refresh", "bypass", "only")

__all__ = ["CacheMode", "CallOptions", "achat", "billed_tier", "chat"]


def check_cache_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """``cache_tags`` as a tuple; ``TypeError`` for one string (it would be read as one
    tag per character) or a tag that is not a string."""
    if isinstance(tags, (str, bytes)):
        raise TypeError(
            f"cache_tags must be a list of str, not one {type(tags).__name__}: "
            f"cache_tags=[{tags!r}]"
        )
    out = tuple(tags)
    for t in out:
        if not isinstance(t, str):
            raise TypeError(f"each of cache_tags must be a str, got {t!r}")
    return out


@attrs.frozen
class CallOptions:
    """Per-call controls: ``cache`` mode (``use`` | ``refresh`` | ``bypass`` | ``only``),
    ``cache_ttl_s`` in seconds (``None``: the client's default), ``cache_tags``,
    ``truncate`` (``"oldest"`` | ``"middle"`` | ``False`` | ``None``: the config's),
    ``timeout_s`` (seconds per attempt; ``None``: the model's, else the provider's)."""

    cache: CacheMode = "use"
    cache_ttl_s: float | None = None
    cache_tags: tuple[str, ...] = attrs.field(default=(), converter=check_cache_tags)
    truncate: TruncateOption = None
    timeout_s: float | None = attrs.field(default=None, converter=check_timeout)

    def __attrs_post_init__(self) -> None:
        if self.cache not in CACHE_MODES:
            raise ValueError(f"cache must be one of {CACHE_MODES}, got {self.cache!r}")
        ttl = self.cache_ttl_s
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float))):
            raise TypeError(f"cache_ttl_s must be a number of seconds or None, got {ttl!r}")
        check_truncate(self.truncate)


_DEFAULT_OPTIONS = CallOptions()


def call_options(
    cache: CacheMode,
    cache_ttl_s: float | None,
    cache_tags: Iterable[str],
    truncate: TruncateOption,
    timeout: float | None = None,
) -> CallOptions:
    """The CallOptions of a call; the shared default one when nothing is set (checking
    and building them costs a microsecond, a tenth of a memory-cache hit)."""
    if (
        cache == "use"
        and cache_ttl_s is None
        and cache_tags == ()
        and truncate is None
        and timeout is None
    ):
        return _DEFAULT_OPTIONS
    return CallOptions(cache, cache_ttl_s, cache_tags, truncate, timeout)


def call_limits(c: Client, route: Route, o: CallOptions) -> CallLimits:
    """The time limits of a call to ``route`` (see ``modelbus._timeouts``): the call's
    timeout, else the model's; the retry policy's ``deadline_s``; the stream idle
    timeout of ``[modelbus]``."""
    deadline = getattr(policy_for(c, route), "deadline_s", None)
    return CallLimits(
        o.timeout_s if o.timeout_s is not None else route.timeout_s,
        None if deadline is None else float(deadline),
        c.config.modelbus.stream_idle_timeout_s,
        route.provider,
    )


def _no_cache_only(o: CallOptions) -> None:
    if o.cache == "only":
        raise CacheMiss(
            "no cache is configured ([modelbus] cache = \"none\"); cache='only' does not call"
        )


def _key(
    c: Client,
    route: Route,
    provider: AdaptedProvider,
    req: ChatRequest,
    truncate: TruncateOption = None,
) -> str:
    # The key is taken before context fitting. With a truncation strategy in force an
    # over-long request is answered from shortened messages, so the strategy is part of
    # the key: a call that would have raised ContextLengthExceededError (no strategy)
    # must not be served that answer. Without one the key is unchanged.
    ns = c.namespace
    mode = resolve_truncate(c, truncate)
    if mode:
        ns = f"{ns}\x1ftruncate={mode}"
    return cache_key(req, provider=route.provider, endpoint=provider.cache_identity, namespace=ns)


# Decoded cache values by their bytes: building the objects of a response is a third of
# a memory-cache hit, and a hot key returns the very same bytes again. Keyed by content,
# so a changed value is a new entry; only responses whose every part is immutable are
# kept (``extra`` of str/number/bool/None values only, as OpenAI's ``system_fingerprint``
# and ``service_tier``; no ``logprobs``): they are never handed out as they are, since
# ``Client._done`` copies each (with its latency and a fresh ``extra`` dict). Bounded:
# at most 256 values of at most 16 KiB.
_DECODED: dict[bytes, ChatResponse] = {}
_DECODED_MAX = 256
_DECODED_MAX_BYTES = 16 * 1024


_SCALARS = (str, int, float, bool, type(None))


def _scalars(extra: Mapping[str, Any]) -> bool:
    return all(type(v) in _SCALARS for v in extra.values())


def _decode(c: Client, cache: Cache, key: str, data: bytes | None) -> ChatResponse | None:
    if data is None:
        return None
    if type(data) is bytes:
        known = _DECODED.get(data)
        if known is not None:
            return known
    try:
        resp = loads_response(data, cached=True)
    except Exception as exc:
        # A value we cannot read is a miss; drop it so it is not read again.
        c._log_warning("cache_value_undecodable", key=key, error=str(exc))
        c._guard(lambda: cache.delete(key), "cache_delete_failed")
        return None
    if resp.logprobs is None and len(data) <= _DECODED_MAX_BYTES and _scalars(resp.extra):
        if len(_DECODED) >= _DECODED_MAX:
            _DECODED.clear()  # atomic, unlike evicting one by one across threads
        _DECODED[data] = resp
    return resp


def _cache_get(c: Client, cache: Cache, key: str) -> ChatResponse | None:
    data = c._guard(lambda: cache.get(key), "cache_get_failed")
    return _decode(c, cache, key, data)


def _cache_set(c: Client, cache: Cache, key: str, resp: ChatResponse, o: CallOptions) -> None:
    if resp.finish_reason in (None, "error"):
        return  # an incomplete answer is not worth replaying
    ttl = o.cache_ttl_s if o.cache_ttl_s is not None else c.config.modelbus.cache_ttl_s
    data = dumps_response(resp)
    stored = c._guard(lambda: _set(cache, key, data, ttl, o.cache_tags), "cache_set_failed")
    if stored and c._observers is not None:
        _observe_cache(None, key, ttl, stored=True)


def _set(cache: Cache, key: str, data: bytes, ttl: float | None, tags: tuple[str, ...]) -> bool:
    cache.set(key, data, ttl, tags)
    return True  # what tells a stored value from a failed store under _guard


def _observe_cache(
    hit: ChatResponse | None, key: str, ttl: float | None = None, *, stored: bool = False
) -> None:
    scope = current()
    if scope is not None:
        scope.stored(key, ttl) if stored else scope.cache(hit is not None, key)


def _hit(resp: ChatResponse, t0: float) -> ChatResponse:
    # _decode made it cached=True, attempts=0; the client's _done sets latency_s.
    return resp


def _hit_decoder(
    c: Client, cache: Cache, key: str, t0: float
) -> Callable[[bytes | None], ChatResponse | None]:
    def decode(data: bytes | None) -> ChatResponse | None:
        resp = _decode(c, cache, key, data)
        return None if resp is None else _hit(resp, t0)

    return decode


def _on_retry(
    c: Client, route: Route, scope: Scope | None = None
) -> Callable[[Attempt, int], None]:
    def on_retry(a: Attempt, n: int) -> None:
        if c._observers is not None:
            s = scope or current()
            if s is not None:
                s.retry(a, n)
        c._log_warning(
            "modelbus.retry",
            provider=route.provider,
            model=route.model,
            attempt=n,
            error_type=a.error_type,
            status=a.status_code,
            delay_s=round(a.delay_s, 3),
            error=str(a.error),
        )

    return on_retry


def billed_tier(req: ChatRequest, resp: ChatResponse) -> str | None:
    """The service tier a reply was billed at: the one the provider reports
    (``service_tier`` in OpenAI's response body), else the one asked for."""
    reported = resp.extra.get("service_tier")
    return reported if isinstance(reported, str) else req.service_tier


def _finish_provider_response(
    c: Client, route: Route, req: ChatRequest, resp: ChatResponse, attempts: int
) -> ChatResponse:
    model = resp.model or req.model
    return attrs.evolve(
        resp,
        provider=route.provider,
        model=model,
        attempts=attempts,
        cost_usd=c.catalog.cost(model, resp.usage, billed_tier(req, resp)),
    )


def chat(c: Client, route: Route, req: ChatRequest, o: CallOptions, t0: float) -> ChatResponse:
    """Run a chat request through the pipeline (sync), then its fallbacks (``_fallback``)."""
    if c._observers is not None:
        return observed(c, route, req, lambda _: _chain(c, route, req, o, t0))
    return _chain(c, route, req, o, t0)


def _chain(c: Client, route: Route, req: ChatRequest, o: CallOptions, t0: float) -> ChatResponse:
    try:
        return _chat(c, route, req, o, t0)
    except Exception as exc:
        nxt = next_route(c, route, req, exc)
        if nxt is None:
            raise
        return _chain(c, nxt[0], nxt[1], o, t0)


def _chat(c: Client, route: Route, req: ChatRequest, o: CallOptions, t0: float) -> ChatResponse:
    provider = c.provider(route.provider)
    cache = None if o.cache == "bypass" else c.cache
    if cache is None:
        _no_cache_only(o)
        return c._done(route, _call(c, route, provider, req, o), t0, "bypass")
    key = _key(c, route, provider, req, o.truncate)
    if o.cache != "refresh":
        hit = _cache_get(c, cache, key)
        if c._observers is not None:
            _observe_cache(hit, key)
        if hit is not None:
            return c._done(route, _hit(hit, t0), t0, "hit")
        if o.cache == "only":
            raise CacheMiss(f"not in cache (key {key[:16]}…); cache='only' does not call")

    def miss() -> ChatResponse:
        resp = _call(c, route, provider, req, o)
        _cache_set(c, cache, key, resp, o)
        return resp

    def locked() -> ChatResponse:  # cross-process single-flight (_cache_lock)
        return run_locked(c, cache, key, _hit_decoder(c, cache, key, t0), miss)

    resp, shared = c._flight.do(key, miss if o.cache == "refresh" else locked)
    return c._done(route, resp, t0, "shared" if shared or resp.cached else "miss")


def _call(
    c: Client,
    route: Route,
    provider: AdaptedProvider,
    req: ChatRequest,
    o: CallOptions = _DEFAULT_OPTIONS,
) -> ChatResponse:
    req, hold = c._prepare(route, req, o.truncate)
    try:
        resp, attempts = retry_call(
            lambda: provider.chat(req),
            policy_for(c, route),
            clock=c.clock,
            on_retry=_on_retry(c, route),
            budget=c._retry_budget(route.provider),
            limits=call_limits(c, route, o),
        )
    except BaseException as exc:
        if hold is not None:
            hold.release(exc)
        raise
    resp = _finish_provider_response(c, route, req, resp, attempts)
    if hold is not None:
        hold.settle(resp.cost_usd)
    return resp


async def achat(
    c: Client, route: Route, req: ChatRequest, o: CallOptions, t0: float
) -> ChatResponse:
    """Run a chat request through the pipeline (async), then its fallbacks."""
    if c._observers is not None:
        return await aobserved(c, route, req, lambda _: _achain(c, route, req, o, t0))
    return await _achain(c, route, req, o, t0)


async def _achain(
    c: Client, route: Route, req: ChatRequest, o: CallOptions, t0: float
) -> ChatResponse:
    try:
        return await _achat(c, route, req, o, t0)
    except Exception as exc:
        nxt = next_route(c, route, req, exc)
        if nxt is None:
            raise
        return await _achain(c, nxt[0], nxt[1], o, t0)


async def _achat(
    c: Client, route: Route, req: ChatRequest, o: CallOptions, t0: float
) -> ChatResponse:
    provider = c.provider(route.provider)
    cache = None if o.cache == "bypass" else c.cache
    if cache is None:
        _no_cache_only(o)
        return c._done(route, await _acall(c, route, provider, req, o), t0, "bypass")
    key = _key(c, route, provider, req, o.truncate)
    if o.cache != "refresh":
        data = await c._aguard(_acache(cache, "get", key), "cache_get_failed")
        hit = _decode(c, cache, key, data)
        if c._observers is not None:
            _observe_cache(hit, key)
        if hit is not None:
            return c._done(route, _hit(hit, t0), t0, "hit")
        if o.cache == "only":
            raise CacheMiss(f"not in cache (key {key[:16]}…); cache='only' does not call")

    async def miss() -> ChatResponse:
        resp = await _acall(c, route, provider, req, o)
        if resp.finish_reason not in (None, "error"):
            ttl = o.cache_ttl_s if o.cache_ttl_s is not None else c.config.modelbus.cache_ttl_s
            aw = _acache(cache, "set", key, dumps_response(resp), ttl, o.cache_tags)
            if c._observers is None:
                await c._aguard(aw, "cache_set_failed")
            elif await c._aguard(_ok(aw), "cache_set_failed"):
                _observe_cache(None, key, ttl, stored=True)
        return resp

    async def locked() -> ChatResponse:
        return await arun_locked(c, cache, key, _hit_decoder(c, cache, key, t0), miss)

    resp, shared = await c._aflight().do(key, miss if o.cache == "refresh" else locked)
    return c._done(route, resp, t0, "shared" if shared or resp.cached else "miss")


async def _acall(
    c: Client,
    route: Route,
    provider: AdaptedProvider,
    req: ChatRequest,
    o: CallOptions = _DEFAULT_OPTIONS,
) -> ChatResponse:
    req, hold = await c._aprepare(route, req, o.truncate)
    try:
        resp, attempts = await aretry_call(
            lambda: provider.achat(req),
            policy_for(c, route),
            clock=c.clock,
            on_retry=_on_retry(c, route),
            budget=c._retry_budget(route.provider),
            limits=call_limits(c, route, o),
        )
    except BaseException as exc:
        if hold is not None:
            await hold.arelease(exc)
        raise
    resp = _finish_provider_response(c, route, req, resp, attempts)
    if hold is not None:
        await hold.asettle(resp.cost_usd)
    return resp


async def _ok(aw: Awaitable[Any]) -> bool:
    """``True`` once ``aw`` is done (what tells a stored value from a failed store)."""
    await aw
    return True


async def _acache(cache: Any, method: str, *args: Any) -> Any:
    """Call the cache's async method when it has one, else its sync one in a worker
    thread (inline for a cache declaring ``blocking = False``); see ``_cache_adapt``."""
    return await acache_call(cache, method, *args)
