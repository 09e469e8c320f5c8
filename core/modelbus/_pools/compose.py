"""A pool's provider as a client runs it: :class:`~modelbus._pools.provider.PoolProvider`
wired to the client's engine (its providers, clock, rate limiter, pool state store)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._limits.rate_limits import arate_limit, rate_limit
from .._routing.resolve import logical_model
from .provider import Deployment, PoolProvider
from .state import close_state, pool_state

if TYPE_CHECKING:
    from .._engine import Engine

__all__ = ["pool_provider"]


def pool_provider(c: Engine, alias: str) -> PoolProvider:
    """The pool of ``[models.ALIAS]`` run by the engine ``c`` (its providers, clock, rate
    limiter and pool state store)."""
    a = c.config.models[alias]
    deps = []
    for d in a.deployments:
        provider, _, model = d.partition("/")
        deps.append(Deployment(d, provider, model, a.weights.get(d, 1.0)))
    ns = c.namespace
    return PoolProvider(
        alias,
        logical_model(alias, a),
        deps,
        strategy=a.strategy,
        cooldown_s=a.cooldown_s,
        account_cooldown_s=a.account_cooldown_s,
        providers=c.provider,
        state=pool_state(c),
        now=c.clock.monotonic,
        pool=f"{ns}\x1f{alias}" if ns else alias,
        limit=lambda route, req: rate_limit(c, route, req),
        alimit=lambda route, req: arate_limit(c, route, req),
        warn=c.log_warning,
        limits=c.config.rate_limits,
        on_close=lambda: close_state(c),
        state_name=c.config.modelbus.pool_state,
    )
