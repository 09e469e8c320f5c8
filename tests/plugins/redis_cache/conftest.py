"""Fixtures of the modelbus-redis-cache tests: one real redis-server per session (and
private ones for the tests that kill theirs), a unique namespace per test."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelbus_redis_cache import RedisCache, RedisCacheSettings

from .redis_server import RedisServer

_counter = itertools.count()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's redis-server (fails the tests, loudly, if redis-server is missing)."""
    try:
        srv = RedisServer(tmp_path_factory.mktemp("redis")).start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield srv
    srv.kill()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server, for tests that kill and restart it."""
    try:
        srv = RedisServer(tmp_path).start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield srv
    srv.kill()


def unique_namespace() -> str:
    return f"t{os.getpid()}-{next(_counter)}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def namespace() -> str:
    return unique_namespace()


@pytest.fixture
def make_redis_cache(redis_server: RedisServer) -> Iterator[Callable[..., RedisCache]]:
    """``make(namespace=None, **settings)``: a RedisCache on the session server, in a new
    namespace unless one is given; closed after the test."""
    made: list[RedisCache] = []

    def make(namespace: str | None = None, *, clock: Any = None, **kw: Any) -> RedisCache:
        settings = RedisCacheSettings(
            url=redis_server.url, namespace=namespace or unique_namespace(), **kw
        )
        c = RedisCache(settings) if clock is None else RedisCache(settings, clock=clock)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
