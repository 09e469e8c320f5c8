"""The call's decisions, written once and free of I/O (the drivers in ``chat`` and
``streams`` carry them out, sync and async, like httpx's auth flows).

- :func:`plan_cache` — what a call does with the cache: look up, raise on a miss
  (``only``), share an identical call in flight (single-flight), store.
- :func:`storable` — whether an answer is worth replaying.
- :func:`outcome` — how a call was answered, for logs, observers and usage totals.
- :func:`priced` — a provider's response completed with who answered, attempts and cost.

Retry decisions live in ``modelbus._retry.runner`` (``_decide``) and fallback decisions in
``modelbus._engine.fallback`` (``fallback_route``); both are pure as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import attrs

from ..errors import CacheMiss
from .totals import with_price

if TYPE_CHECKING:
    from .._catalog import Catalog
    from .._routing.resolve import Route
    from .._wire.types import ChatRequest, ChatResponse
    from .options import CallOptions

Outcome = Literal["hit", "miss", "shared", "bypass"]

__all__ = ["CachePlan", "Outcome", "billed_tier", "outcome", "plan_cache", "priced", "storable"]


@attrs.frozen
class CachePlan:
    """What a call does with the cache, decided before any I/O.

    ``lookup``: read the cache first (modes ``use`` and ``only``); ``only``: a miss raises
    :class:`CacheMiss` instead of calling; ``share``: wait for an identical call already
    in flight in this process (single-flight) and, for chat, across processes through
    the cache's lock (not on ``refresh``, whose point is a fresh answer); ``store``: write
    a complete answer with ``ttl_s`` seconds (``None``: the cache's default) and
    ``tags``. ``cached`` is false when the cache is not involved at all (``bypass``, or
    no cache configured)."""

    cached: bool
    lookup: bool = False
    only: bool = False
    share: bool = False
    store: bool = False
    ttl_s: float | None = None
    tags: tuple[str, ...] = ()


NO_CACHE = CachePlan(cached=False)

# Plans by (options, default TTL): a call with the default options reuses one plan, so
# deciding costs a dict lookup on the hot path.
_PLANS: dict[tuple[CallOptions, float | None], CachePlan] = {}


def plan_cache(o: CallOptions, has_cache: bool, default_ttl_s: float | None) -> CachePlan:
    """The cache plan of a call with options ``o`` on a client with (``has_cache``) or
    without a cache whose default TTL is ``default_ttl_s`` seconds.

    Raises :class:`CacheMiss` for ``cache="only"`` without a cache: nothing could answer."""
    if o.cache == "bypass":
        return NO_CACHE
    if not has_cache:
        if o.cache == "only":
            raise CacheMiss(
                "no cache is configured ([modelbus] cache = \"none\"); cache='only' does not call"
            )
        return NO_CACHE
    known = _PLANS.get((o, default_ttl_s))
    if known is not None:
        return known
    plan = CachePlan(
        cached=True,
        lookup=o.cache != "refresh",
        only=o.cache == "only",
        share=o.cache != "refresh",
        store=True,
        ttl_s=o.cache_ttl_s if o.cache_ttl_s is not None else default_ttl_s,
        tags=o.cache_tags,
    )
    if len(_PLANS) < 256:  # bounded: TTLs and tags come from callers
        _PLANS[(o, default_ttl_s)] = plan
    return plan


def miss_error(key: str) -> CacheMiss:
    """What ``cache="only"`` raises when the cache has no answer."""
    return CacheMiss(f"not in cache (key {key[:16]}…); cache='only' does not call")


def storable(resp: ChatResponse) -> bool:
    """Whether ``resp`` is worth replaying: an incomplete answer (no ``finish_reason``,
    or ``"error"``) is not stored."""
    return resp.finish_reason not in (None, "error")


def outcome(plan: CachePlan, shared: bool, resp: ChatResponse) -> Outcome:
    """How a call that reached the provider step was answered: ``bypass`` (no cache),
    ``shared`` (by another caller's call, in this process or, via the cache's lock, in
    another: then ``resp.cached``), else ``miss``."""
    if not plan.cached:
        return "bypass"
    return "shared" if shared or resp.cached else "miss"


def billed_tier(req: ChatRequest, resp: ChatResponse) -> str | None:
    """The service tier a reply was billed at: the one the provider reports
    (``service_tier`` in OpenAI's response body), else the one asked for."""
    reported = resp.extra.get("service_tier")
    return reported if isinstance(reported, str) else req.service_tier


def priced(
    catalog: Catalog,
    route: Route,
    req: ChatRequest,
    resp: ChatResponse,
    attempts: int,
    fresh: bool = False,
) -> ChatResponse:
    """``resp`` as the provider gave it, completed: ``provider`` (the route's),
    ``model`` (the response's, else the request's), ``attempts`` and ``cost_usd`` (US
    dollars at the billed tier's catalog price; ``None`` when unpriced). ``fresh``:
    completed in place rather than copied (``totals.with_price``)."""
    model = resp.model or req.model
    cost = catalog.cost(model, resp.usage, billed_tier(req, resp))
    return with_price(resp, route.provider, model, attempts, cost, fresh)
