"""The pluggy hook implementations of modelbus-redis-cache (entry point ``redis-cache``).

Imported by plugin discovery, so it does not import redis-py: the factories do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelbus.hookspecs import hookimpl

from ._settings import (
    RedisBudgetStoreSettings,
    RedisCacheSettings,
    RedisPoolStateSettings,
    RedisRateLimiterSettings,
)

if TYPE_CHECKING:
    from ._budget import RedisBudgetStore
    from ._cache import RedisCache
    from ._pool_state import RedisPoolState
    from ._ratelimit import RedisRateLimiter

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


def make_cache(settings: RedisCacheSettings) -> RedisCache:
    """The ``redis`` cache for ``settings`` (imports redis-py)."""
    from ._cache import RedisCache

    return RedisCache(settings)


def make_rate_limiter(settings: RedisRateLimiterSettings) -> RedisRateLimiter:
    """The ``redis`` rate limiter for ``settings`` (imports redis-py)."""
    from ._ratelimit import RedisRateLimiter

    return RedisRateLimiter(settings)


def make_budget_store(settings: RedisBudgetStoreSettings) -> RedisBudgetStore:
    """The ``redis`` budget store for ``settings`` (imports redis-py)."""
    from ._budget import RedisBudgetStore

    return RedisBudgetStore(settings)


def make_pool_state(settings: RedisPoolStateSettings) -> RedisPoolState:
    """The ``redis`` pool state store for ``settings`` (imports redis-py)."""
    from ._pool_state import RedisPoolState

    return RedisPoolState(settings)


@hookimpl
def modelbus_register_pool_states(register: Any) -> None:
    register(
        "redis",
        make_pool_state,
        settings=RedisPoolStateSettings,
        description="deployment pools' cooldowns and calls in flight shared across "
        "processes through Redis (atomic Lua; a pool's calls fail while Redis is down)",
    )


@hookimpl
def modelbus_register_budget_stores(register: Any) -> None:
    register(
        "redis",
        make_budget_store,
        settings=RedisBudgetStoreSettings,
        description="cost budgets shared across processes and machines through Redis "
        "(atomic Lua reserve/settle; calls under a shared budget are refused while "
        "Redis is down)",
    )


@hookimpl
def modelbus_register_caches(register: Any) -> None:
    register(
        "redis",
        make_cache,
        settings=RedisCacheSettings,
        description="Redis shared by every process (tags, TTL, single-flight; "
        "in-memory fallback while Redis is down)",
    )


@hookimpl
def modelbus_register_rate_limiters(register: Any) -> None:
    register(
        "redis",
        make_rate_limiter,
        settings=RedisRateLimiterSettings,
        description="rpm/tpm token buckets shared across processes through Redis "
        "(per-process buckets at the same rate while Redis is down)",
    )


def _check_cache(cache: Any) -> list[tuple[str, bool, str]]:
    from ._doctor import check_cache

    return check_cache(cache)


def _check_rate_limiter(limiter: Any) -> list[tuple[str, bool, str]]:
    from ._doctor import check_rate_limiter

    return check_rate_limiter(limiter)


@hookimpl
def modelbus_register_doctor_checks(register: Any) -> None:
    # Named "KIND.NAME": `modelbus doctor` runs them on the configured cache and rate
    # limiter, and the `modelbus cache` commands before they touch the cache.
    register("caches.redis", _check_cache)
    register("rate_limiters.redis", _check_rate_limiter)
