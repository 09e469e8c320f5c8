"""The pluggy hook implementations of modelbus-redis-cache (entry point ``redis-cache``).

Imported by plugin discovery, so it does not import redis-py: the factories do.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from modelbus.hookspecs import hookimpl

from ._settings import (
    RedisBudgetStoreSettings,
    RedisCacheSettings,
    RedisPoolStateSettings,
    RedisRateLimiterSettings,
    RedisSettings,
)

__all__ = [
    "make_budget_store",
    "make_cache",
    "make_pool_state",
    "make_rate_limiter",
    "modelbus_register_budget_stores",
    "modelbus_register_caches",
    "modelbus_register_doctor_checks",
    "modelbus_register_pool_states",
    "modelbus_register_rate_limiters",
]


def _factory(module: str, cls: str, what: str) -> Callable[[Any], Any]:
    """A factory making ``cls`` of ``module`` from its settings; the module (and with it
    redis-py) is imported on the first call, not when plugins are discovered."""

    def make(settings: RedisSettings) -> Any:
        return getattr(importlib.import_module(module, __package__), cls)(settings)

    make.__doc__ = f"The ``redis`` {what} for ``settings`` (imports redis-py)."
    return make


def _registration(
    make: Callable[[Any], Any], settings: type[RedisSettings], description: str
) -> Callable[[Any], None]:
    """A ``modelbus_register_<kind>`` hook registering ``make`` as ``redis``."""

    @hookimpl
    def hook(register: Any) -> None:
        register("redis", make, settings=settings, description=description)

    return hook


make_cache = _factory("._cache", "RedisCache", "cache")
make_rate_limiter = _factory("._ratelimit", "RedisRateLimiter", "rate limiter")
make_budget_store = _factory("._budget", "RedisBudgetStore", "budget store")
make_pool_state = _factory("._pool_state", "RedisPoolState", "pool state store")

modelbus_register_caches = _registration(
    make_cache,
    RedisCacheSettings,
    "Redis shared by every process (tags, TTL, single-flight; in-memory fallback while "
    "Redis is down)",
)
modelbus_register_rate_limiters = _registration(
    make_rate_limiter,
    RedisRateLimiterSettings,
    "rpm/tpm token buckets shared across processes through Redis (per-process buckets at "
    "the same rate while Redis is down)",
)
modelbus_register_budget_stores = _registration(
    make_budget_store,
    RedisBudgetStoreSettings,
    "cost budgets shared across processes and machines through Redis (atomic Lua "
    "reserve/settle; calls under a shared budget are refused while Redis is down)",
)
modelbus_register_pool_states = _registration(
    make_pool_state,
    RedisPoolStateSettings,
    "deployment pools' cooldowns and calls in flight shared across processes through "
    "Redis (atomic Lua; a pool's calls fail while Redis is down)",
)


def _check(component: Any) -> list[tuple[str, bool, str]]:
    from ._doctor import check

    return check(component)


@hookimpl
def modelbus_register_doctor_checks(register: Any) -> None:
    # Named "KIND.NAME": `modelbus doctor` runs them on the configured cache and rate
    # limiter, and the `modelbus cache` commands before they touch the cache.
    register("caches.redis", _check)
    register("rate_limiters.redis", _check)
