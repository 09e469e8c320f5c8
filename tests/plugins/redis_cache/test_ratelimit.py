"""The ``redis`` rate limiter: budgets shared through Redis, waiting on the injected
clock, failing open while Redis is down. Waits are computed on Redis's clock, so they
are checked to within the real milliseconds a test takes (``_SLACK_S``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest
from structlog.testing import capture_logs

from modelbus._config.config import RateLimit
from modelbus.protocols import RateLimiter
from modelbus.testing import FakeClock, FakeProvider, make_client
from modelbus_redis_cache import RedisRateLimiter
from modelbus_redis_cache._settings import RedisRateLimiterSettings

from .conftest import unique_namespace
from .redis_server import RedisServer

_SLACK_S = 1.0
MakeLimiter = Callable[..., RedisRateLimiter]


@pytest.fixture
def make_limiter(redis_server: RedisServer) -> Iterator[MakeLimiter]:
    """``make(namespace=None, url=None)``: a limiter with its own connections."""
    made: list[RedisRateLimiter] = []

    def make(namespace: str | None = None, url: str | None = None) -> RedisRateLimiter:
        lim = RedisRateLimiter(
            RedisRateLimiterSettings(
                url=url or redis_server.url, namespace=namespace or unique_namespace()
            )
        )
        made.append(lim)
        return lim

    yield make
    for lim in made:
        lim.close()


def test_protocol(make_limiter: MakeLimiter) -> None:
    assert isinstance(make_limiter(), RateLimiter)


def test_rpm_budget_is_shared_between_limiters(make_limiter: MakeLimiter) -> None:
    a = make_limiter()
    b = make_limiter(a.settings.namespace)  # another process's view of the same budget
    clock = FakeClock()
    limit = RateLimit(rpm=2)
    assert a.acquire("openai", 0, limit, clock.as_clock()) == 0.0
    assert b.acquire("openai", 0, limit, clock.as_clock()) == 0.0
    wait = a.acquire("openai", 0, limit, clock.as_clock())  # the third in a minute
    assert 30.0 - _SLACK_S < wait <= 30.0  # one request refills in 60/2 s
    assert clock.sleeps == [wait]  # waited on the injected clock, never for real
    wait2 = b.acquire("openai", 0, limit, clock.as_clock())
    assert 60.0 - _SLACK_S < wait2 <= 60.0  # queued behind the third
    assert make_limiter().acquire("openai", 0, limit, clock.as_clock()) == 0.0  # other ns


def test_tpm_budget(make_limiter: MakeLimiter) -> None:
    lim = make_limiter()
    clock = FakeClock().as_clock()
    limit = RateLimit(tpm=1000)
    assert lim.acquire("p/m", 800, limit, clock) == 0.0
    wait = lim.acquire("p/m", 400, limit, clock)  # 200 tokens short: 200 * 60/1000 s
    assert 12.0 - _SLACK_S < wait <= 12.0
    assert lim.acquire("p", 400, limit, clock) == 0.0  # another key, another budget


def test_reservations_are_atomic_across_threads(make_limiter: MakeLimiter) -> None:
    """20 callers at once on rpm=10: 10 go at once, the others queue 6 s apart — every
    reservation counted exactly once (the Lua script is atomic)."""
    lim = make_limiter()
    limit = RateLimit(rpm=10)
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def caller() -> None:
        start.wait()
        w = lim.reserve("k", 0, limit)
        with lock:
            waits.append(w)

    threads = [threading.Thread(target=caller) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    waits.sort()
    assert waits[:10] == [0.0] * 10
    for n, w in enumerate(waits[10:], start=1):
        assert 6.0 * n - _SLACK_S < w <= 6.0 * n


@pytest.mark.asyncio
async def test_async_acquire(make_limiter: MakeLimiter) -> None:
    lim = make_limiter()
    fc = FakeClock()
    limit = RateLimit(rpm=1)
    assert await lim.aacquire("k", 0, limit, fc.as_clock()) == 0.0
    wait = await lim.aacquire("k", 0, limit, fc.as_clock())
    assert 60.0 - _SLACK_S < wait <= 60.0 and fc.sleeps == [wait]


def test_an_outage_holds_the_rate_in_process(
    own_redis: RedisServer, make_limiter: MakeLimiter
) -> None:
    """Redis killed: the same rpm is enforced by an in-process bucket that starts empty
    (no burst: Redis's budget may be spent), on the caller's clock; one warning."""
    lim = make_limiter(url=own_redis.url)
    breaker = FakeClock()
    lim.breaker.clock = breaker.monotonic
    fc = FakeClock()
    clock = fc.as_clock()
    limit = RateLimit(rpm=6)
    assert lim.acquire("k", 0, limit, clock) == 0.0
    own_redis.kill()
    with capture_logs() as logs:
        waits = [lim.acquire("k", 0, limit, clock) for _ in range(5)]
    assert waits == pytest.approx([10.0] * 5)  # one every 60/6 s, from the first one
    assert fc.monotonic() == pytest.approx(50.0)  # slept on the injected clock
    events = [e for e in logs if e["event"] == "redis_unavailable"]
    assert len(events) == 1 and events[0]["fallback"] == "local"
    assert events[0]["component"] == "rate_limiter"
    own_redis.start()  # empty: the budget starts full again
    breaker.advance(5)
    with capture_logs() as logs:
        assert lim.acquire("k", 0, limit, clock) == 0.0
    assert [e["event"] for e in logs] == ["redis_recovered"]


@pytest.mark.asyncio
async def test_an_outage_holds_the_rate_in_process_async(
    own_redis: RedisServer, make_limiter: MakeLimiter
) -> None:
    lim = make_limiter(url=own_redis.url)
    fc = FakeClock()
    own_redis.kill()
    with capture_logs():
        waits = [await lim.aacquire("k", 100, RateLimit(tpm=600), fc.as_clock()) for _ in range(3)]
    assert waits == pytest.approx([10.0] * 3)  # 100 tokens each at 10 tokens/s


def test_a_failed_script_never_allows(make_limiter: MakeLimiter, redis_server: RedisServer) -> None:
    """A bucket key holding something else (WRONGTYPE on a working server): the limit is
    enforced in process, not waived."""
    lim = make_limiter()
    redis_server.client().set(lim.prefix + "k", "not a hash")
    with capture_logs() as logs:
        waits = [lim.reserve("k", 0, RateLimit(rpm=60), now=0.0) for _ in range(3)]
    assert waits == pytest.approx([1.0, 2.0, 3.0])
    assert {e["event"] for e in logs} == {"redis_rate_limit_error"}
    assert lim.breaker.state == "closed"


def test_a_busy_pool_waits_never_allows(make_limiter: MakeLimiter) -> None:
    """Every connection held past ``pool_timeout_s``: the reservation waits again rather
    than letting the request through; it goes on Redis once a connection is free."""
    lim = RedisRateLimiter(
        RedisRateLimiterSettings(
            url=make_limiter().settings.url,
            namespace=unique_namespace(),
            max_connections=1,
            pool_timeout_s=0.1,
        )
    )
    limit = RateLimit(rpm=1)
    assert lim.reserve("k", 0, limit) == 0.0
    pool = lim._link.sync.connection_pool
    taken = pool.get_connection()
    threading.Timer(0.35, pool.release, [taken]).start()
    with capture_logs() as logs:
        wait = lim.reserve("k", 0, limit)
    assert 60.0 - _SLACK_S < wait <= 60.0  # Redis's answer: the budget is spent
    busy = [e for e in logs if e["event"] == "redis_pool_busy"]
    assert len(busy) >= 2 and lim.breaker.state == "closed"
    lim.close()


def test_limits_from_the_client_config(redis_server: RedisServer) -> None:
    """``[rate_limits."fake"]`` read by the core, enforced by the redis limiter, waited on
    the client's clock."""
    clock = FakeClock()
    client = make_client(
        FakeProvider(),
        {
            "modelbus": {"cache": "none", "rate_limiter": "redis"},
            "rate_limiters": {"redis": {"url": redis_server.url, "namespace": unique_namespace()}},
            "rate_limits": {"fake": {"rpm": 2}},
        },
        clock=clock,
    )
    assert isinstance(client.rate_limiter, RedisRateLimiter)
    for _ in range(3):
        client.chat("hi")
    assert len(clock.sleeps) == 1 and 30.0 - _SLACK_S < clock.sleeps[0] <= 30.0
    client.close()


@pytest.mark.asyncio
async def test_a_busy_async_pool_waits_never_allows(redis_server: RedisServer) -> None:
    lim = RedisRateLimiter(
        RedisRateLimiterSettings(
            url=redis_server.url,
            namespace=unique_namespace(),
            max_connections=1,
            pool_timeout_s=0.1,
        )
    )
    limit = RateLimit(rpm=1)
    assert await lim.areserve("k", 0, limit) == 0.0
    pool = lim._link.aclient().connection_pool
    taken = await pool.get_connection()

    async def give_back() -> None:
        await asyncio.sleep(0.35)
        await pool.release(taken)

    release = asyncio.ensure_future(give_back())
    with capture_logs() as logs:
        wait = await lim.areserve("k", 0, limit)
    await release
    assert 60.0 - _SLACK_S < wait <= 60.0
    assert len([e for e in logs if e["event"] == "redis_pool_busy"]) >= 2
    await lim.aclose()


@pytest.mark.asyncio
async def test_redis_killed_under_200_tasks_never_allows(own_redis: RedisServer) -> None:
    """rpm = 60 under 200 concurrent reservations; the server is SIGKILLed once 100 are
    done, while the others are in flight or queued for a connection. Redis lets its 60
    go at once and queues the rest; the in-process bucket that takes over starts empty:
    exactly 60 calls go without waiting."""
    lim = RedisRateLimiter(
        RedisRateLimiterSettings(url=own_redis.url, namespace=unique_namespace())
    )
    fc = FakeClock()
    limit = RateLimit(rpm=60)
    done = 0

    async def one() -> float:
        nonlocal done
        wait = await lim.aacquire("k", 0, limit, fc.as_clock())
        done += 1
        if done == 100:
            own_redis.kill()
        return wait

    with capture_logs() as logs:
        waits = await asyncio.gather(*(one() for _ in range(200)))
    assert len(waits) == 200
    assert waits.count(0.0) == 60  # Redis's full bucket, and nothing else
    assert lim.breaker.state == "open"
    assert len([e for e in logs if e["event"] == "redis_unavailable"]) == 1
    await lim.aclose()
