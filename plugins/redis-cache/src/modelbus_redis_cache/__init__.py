"""modelbus-redis-cache: the ``redis`` cache, rate limiter, budget store and pool state
store (``[modelbus] pool_state = "redis"``, ``[pool_states.redis]``).

Configure with ``[modelbus] cache = "redis"`` / ``rate_limiter = "redis"`` /
``budget_store = "redis"`` and ``[caches.redis]`` / ``[rate_limiters.redis]`` /
``[budget_stores.redis]`` (see :class:`RedisCacheSettings`). Names
are imported on first use, so importing this package does not import redis-py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "RedisBudgetStore": "._budget",
    "RedisBudgetStoreSettings": "._settings",
    "RedisCache": "._cache",
    "RedisRateLimiter": "._ratelimit",
    "CircuitBreaker": "._breaker",
    "RedisCacheSettings": "._settings",
    "RedisPoolState": "._pool_state",
    "RedisPoolStateSettings": "._settings",
    "RedisRateLimiterSettings": "._settings",
    "redact_url": "._settings",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ._breaker import CircuitBreaker as CircuitBreaker
    from ._budget import RedisBudgetStore as RedisBudgetStore
    from ._cache import RedisCache as RedisCache
    from ._ratelimit import RedisRateLimiter as RedisRateLimiter
    from ._settings import RedisBudgetStoreSettings as RedisBudgetStoreSettings
    from ._settings import RedisCacheSettings as RedisCacheSettings
    from ._settings import RedisRateLimiterSettings as RedisRateLimiterSettings
    from ._settings import redact_url as redact_url
