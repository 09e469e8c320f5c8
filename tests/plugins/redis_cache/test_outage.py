"""Redis outages: the circuit breaker, the in-memory fallback, recovery by itself, and the
replay of outage-time invalidations. The outages are real: the server is killed
(SIGKILL: a crash, connections refused) or frozen (SIGSTOP: a hang, calls time out)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from structlog.testing import capture_logs

from modelbus.testing import FakeClock, FakeProvider, make_client
from modelbus_redis_cache import CircuitBreaker, RedisCache, RedisCacheSettings

from .conftest import unique_namespace
from .redis_server import RedisServer


def _cache(srv: RedisServer, breaker: FakeClock, **kw: object) -> RedisCache:
    settings = RedisCacheSettings(
        url=srv.url, namespace=unique_namespace(), probe_interval_s=5.0, **kw
    )  # type: ignore[arg-type]
    return RedisCache(settings, breaker_clock=breaker.monotonic)


def _events(logs: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] == name]


@contextmanager
def frozen(srv: RedisServer) -> Iterator[None]:
    """SIGSTOP the server for the block: connections stay open, calls time out."""
    assert srv.proc is not None
    os.kill(srv.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)


# --- the breaker alone --------------------------------------------------------------------
def test_breaker_states() -> None:
    clock = FakeClock()
    b = CircuitBreaker(5.0, clock.monotonic)
    assert (b.enter(), b.state) == (1, "closed")
    assert b.failure() is True  # a new outage
    assert (b.enter(), b.state) == (0, "open")
    clock.advance(4.9)
    assert b.enter() == 0
    clock.advance(0.1)
    assert (b.enter(), b.state) == (2, "probing")
    assert b.enter() == 0  # one probe at a time; the others use the fallback
    assert b.failure() is False  # the same outage goes on
    assert b.enter() == 0
    clock.advance(5)
    assert b.enter() == 2
    assert b.close() is True
    assert (b.enter(), b.outages) == (1, 1)
    assert b.close() is False
    with pytest.raises(ValueError, match="probe_interval_s"):
        CircuitBreaker(0)


# --- the cache through a crash ------------------------------------------------------------
def test_crash_falls_back_warns_once_and_recovers(own_redis: RedisServer) -> None:
    breaker = FakeClock()
    cache = _cache(own_redis, breaker)
    cache.set("a", b"in redis")
    with capture_logs() as logs:
        own_redis.kill()
        assert cache.get("a") is None  # a miss from the (empty) fallback, no exception
        cache.set("b", b"in memory", None, ["t"])
        assert cache.get("b") == b"in memory"
        assert cache.delete("b") is True
        assert cache.invalidate_tags(["t"]) == 0
        assert cache.stats().entries == 0
        with cache.lock("k") as acquired:
            assert acquired is True  # nobody to coordinate with: go ahead
        assert cache.wait_for("k", 1.0) is None
        assert cache.breaker.state == "open"
        breaker.advance(5)
        assert cache.get("a") is None  # the probe fails: still down, no second warning
        own_redis.start()
        assert cache.get("a") is None  # before the next probe time: Redis not asked
        breaker.advance(5)
        cache.set("c", b"back")  # the probe succeeds
        assert cache.breaker.state == "closed"
    assert own_redis.client().exists(cache.prefix + "v:c") == 1
    assert cache.get("c") == b"back"
    unavailable = _events(logs, "redis_unavailable")
    assert len(unavailable) == 1
    assert unavailable[0]["component"] == "cache" and unavailable[0]["fallback"] == "memory"
    assert len(_events(logs, "redis_recovered")) == 1
    cache.close()


def test_hang_times_out_once_per_probe(own_redis: RedisServer) -> None:
    breaker = FakeClock()
    cache = _cache(own_redis, breaker, socket_timeout_s=0.2)
    assert cache.get("warm") is None  # the pinned connection is open before the hang
    with frozen(own_redis), capture_logs() as logs:
        assert cache.get("x") is None  # pays one timeout, opens the breaker
        for i in range(50):  # the breaker answers: no more timeouts
            cache.set(f"k{i}", b"v")
            assert cache.get(f"k{i}") == b"v"
        assert cache.breaker.state == "open"
    assert len(_events(logs, "redis_unavailable")) == 1
    assert "Timeout" in str(_events(logs, "redis_unavailable")[0]["error"])
    breaker.advance(5)
    assert cache.get("k1") is None  # back on Redis, which never had it
    assert cache.breaker.state == "closed"
    cache.close()


def test_outage_invalidations_are_replayed(own_redis: RedisServer) -> None:
    """An invalidate_tags/delete/clear made while Redis hung reaches Redis once it is
    back, so Redis does not serve what the application invalidated."""
    breaker = FakeClock()
    cache = _cache(own_redis, breaker, socket_timeout_s=0.2)
    cache.set("a", b"1", None, ["user:1"])
    cache.set("b", b"2")
    cache.set("c", b"3")
    with frozen(own_redis):
        assert cache.invalidate_tags(["user:1"]) == 0  # the fallback knew nothing of it
        assert cache.delete("b") is False
    breaker.advance(5)
    assert cache.get("a") is None  # the probe replayed both before answering
    assert cache.get("b") is None
    assert cache.get("c") == b"3"
    with frozen(own_redis):
        cache.clear()
    breaker.advance(5)
    assert cache.get("c") is None
    cache.close()


@pytest.mark.asyncio
async def test_async_side_through_a_crash(own_redis: RedisServer) -> None:
    breaker = FakeClock()
    cache = _cache(own_redis, breaker)
    await cache.aset("a", b"1")
    assert await cache.aget("a") == b"1"
    own_redis.kill()
    with capture_logs() as logs:
        assert await cache.aget("a") is None
        await cache.aset("a", b"mem", None, ["t"])
        assert await cache.aget("a") == b"mem"
        assert await cache.ainvalidate_tags(["t"]) == 1
        async with cache.alock("k") as acquired:
            assert acquired is True
        assert await cache.await_for("k", 1.0) is None
    assert len(_events(logs, "redis_unavailable")) == 1
    own_redis.start()
    breaker.advance(5)
    await cache.aset("b", b"2")
    assert cache.breaker.state == "closed"
    assert await cache.aget("b") == b"2"
    await cache.aclose()


# --- Done-when 3: 500 calls through a crash and a restart -----------------------------------
def test_500_calls_through_a_crash_and_restart(own_redis: RedisServer) -> None:
    """A client with ``cache = "redis"``: the server dies at call 150 and comes back at
    call 300. Every call returns a response, none raises, hits resume after the restart."""
    provider = FakeProvider()
    client = make_client(
        provider,
        {
            "modelbus": {"cache": "redis"},
            "caches": {
                "redis": {
                    "url": own_redis.url,
                    "namespace": unique_namespace(),
                    "probe_interval_s": 1.0,
                }
            },
        },
    )
    cache = client.cache
    assert isinstance(cache, RedisCache)
    breaker = FakeClock()
    cache.breaker.clock = breaker.monotonic
    prompts = [f"question {i}" for i in range(25)]
    cached: list[bool] = []
    with capture_logs() as logs:
        for n in range(500):
            if n == 150:
                own_redis.kill()
            if n == 300:
                own_redis.start()
            if n == 311:  # probes come every 10 calls: the cache is back on Redis
                assert cache.breaker.state == "closed"
            breaker.advance(0.1)
            prompt = prompts[n % len(prompts)]
            resp = client.chat(prompt)
            assert resp.content == f"echo: {prompt}"
            cached.append(resp.cached)
    assert len(cached) == 500
    assert not any(cached[:25]) and all(cached[25:150])  # warm-up, then all hits
    assert not any(cached[150:175])  # the fallback starts empty...
    assert all(cached[175:300])  # ...and then serves the hits itself
    assert cached[300:350].count(False) == 25  # the restarted (empty) Redis fills up...
    assert all(cached[350:])  # ...and the hits resume
    assert own_redis.client().dbsize() > 0
    assert len(_events(logs, "redis_unavailable")) == 1
    assert len(_events(logs, "redis_recovered")) == 1
    assert provider.calls == 25 + 25 + 25  # warm-up, fallback warm-up, restarted Redis
    client.close()


@pytest.mark.asyncio
async def test_achat_through_a_crash(own_redis: RedisServer) -> None:
    provider = FakeProvider()
    client = make_client(
        provider,
        {
            "modelbus": {"cache": "redis"},
            "caches": {"redis": {"url": own_redis.url, "namespace": unique_namespace()}},
        },
    )
    assert (await client.achat("q")).cached is False
    assert (await client.achat("q")).cached is True
    own_redis.kill()
    with capture_logs():
        for _ in range(5):
            assert (await client.achat("q")).content == "echo: q"
    assert provider.calls == 2
    await client.aclose()


def test_loop_closed_elsewhere_is_not_reused(redis_server: RedisServer) -> None:
    """Each event loop gets its own async pool: a second asyncio.run (a new loop) works."""
    cache = RedisCache(RedisCacheSettings(url=redis_server.url, namespace=unique_namespace()))

    async def roundtrip(v: bytes) -> bytes | None:
        await cache.aset("k", v)
        return await cache.aget("k")

    assert asyncio.run(roundtrip(b"1")) == b"1"
    assert asyncio.run(roundtrip(b"2")) == b"2"
    cache.close()
