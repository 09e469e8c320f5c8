"""The ``redis`` cache against the core cache contract, on a real redis-server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from modelbus.testing import FakeClock
from modelbus.testing.contracts_cache import CacheContract
from modelbus_redis_cache import RedisCache, RedisCacheSettings

from .conftest import unique_namespace
from .redis_server import RedisServer


class TestRedisCache(CacheContract):
    """Expiry is checked against the injected clock on every read (the Redis TTL only
    collects garbage), so the contract's fake clock drives it and no test sleeps."""

    @pytest.fixture
    def make_cache(self, clock: FakeClock, redis_server: RedisServer) -> Callable[[], Any]:
        def make() -> RedisCache:
            settings = RedisCacheSettings(url=redis_server.url, namespace=unique_namespace())
            return RedisCache(settings, clock=clock.monotonic)

        return make
