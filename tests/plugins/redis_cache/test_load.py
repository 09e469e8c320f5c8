"""The redis cache and limiter at the concurrency they exist for (issue 15): pools wait
for a connection instead of failing, a busy pool is never an outage, a shared rate
holds across processes, and a server killed mid-run only switches calls to the
fallback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from modelbus import Client
from modelbus.testing import FakeProvider, make_client
from modelbus_redis_cache import RedisCache

from .conftest import unique_namespace
from .redis_server import RedisServer
from .test_processes import _env

RATE_WORKER = str(Path(__file__).with_name("rate_worker.py"))
PROMPTS = [f"question {i}" for i in range(20)]
_TIMEOUT_S = 120


def _client(url: str, provider: FakeProvider, **redis: Any) -> Client:
    return make_client(
        provider,
        {
            "modelbus": {"cache": "redis"},
            "caches": {"redis": {"url": url, "namespace": unique_namespace(), **redis}},
        },
    )


def _events(logs: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] in names]


def _warm(client: Client) -> None:
    for p in PROMPTS:
        assert client.chat(p).cached is False


# --- 200 concurrent cached calls ---------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("max_connections", [64, 4])
async def test_200_concurrent_tasks_all_hit(
    redis_server: RedisServer, max_connections: int
) -> None:
    """More tasks than connections wait for one: every call is a hit, none falls back,
    none is counted as an error (with the default pool, and with a pool of 4)."""
    provider = FakeProvider()
    client = _client(redis_server.url, provider, max_connections=max_connections)
    _warm(client)
    with capture_logs() as logs:
        resps = await asyncio.gather(*(client.achat(PROMPTS[i % 20]) for i in range(200)))
    assert [r.cached for r in resps] == [True] * 200
    assert [r.content for r in resps] == [f"echo: {PROMPTS[i % 20]}" for i in range(200)]
    assert provider.calls == 20
    assert _events(logs, "redis_unavailable", "redis_cache_error") == []
    cache = client.cache
    assert isinstance(cache, RedisCache) and cache.breaker.state == "closed"
    assert cache.stats().errors == 0
    await client.aclose()


@pytest.mark.parametrize("max_connections", [64, 4])
def test_200_concurrent_threads_all_hit(redis_server: RedisServer, max_connections: int) -> None:
    provider = FakeProvider()
    client = _client(redis_server.url, provider, max_connections=max_connections, stats_flush_s=0)
    _warm(client)
    barrier = threading.Barrier(200)
    cached: list[bool] = []

    def call(i: int) -> None:
        barrier.wait()
        cached.append(client.chat(PROMPTS[i % 20]).cached)

    with capture_logs() as logs:
        threads = [threading.Thread(target=call, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    # stats_flush_s = 0: every hit also flushes the counters through the (small) pool.
    assert cached == [True] * 200 and provider.calls == 20
    assert _events(logs, "redis_unavailable", "redis_cache_error") == []
    cache = client.cache
    assert isinstance(cache, RedisCache) and cache.breaker.state == "closed"
    stats = cache.stats()
    assert (stats.hits, stats.errors) == (200, 0)
    client.close()


# --- a Redis killed mid-run ---------------------------------------------------------------
@pytest.mark.asyncio
async def test_redis_killed_under_200_tasks(own_redis: RedisServer) -> None:
    """200 tasks x 5 calls; the server is SIGKILLed after 400 answers. Every call still
    answers (hits on Redis, then the in-memory fallback and the provider), one warning."""
    provider = FakeProvider()
    client = _client(own_redis.url, provider)
    _warm(client)
    answered = 0

    async def worker(i: int) -> list[str]:
        nonlocal answered
        out = []
        for n in range(5):
            prompt = PROMPTS[(i + n) % 20]
            out.append((await client.achat(prompt)).content)
            answered += 1
            if answered == 400:
                own_redis.kill()
        return out

    with capture_logs() as logs:
        results = await asyncio.gather(*(worker(i) for i in range(200)))
    assert [c for r in results for c in r] == [
        f"echo: {PROMPTS[(i + n) % 20]}" for i in range(200) for n in range(5)
    ]
    cache = client.cache
    assert isinstance(cache, RedisCache) and cache.breaker.state == "open"
    assert len(_events(logs, "redis_unavailable")) == 1
    assert 20 < provider.calls <= 20 + 600  # after the kill, the fallback warms up
    await client.aclose()


def test_redis_killed_under_32_threads(own_redis: RedisServer) -> None:
    provider = FakeProvider()
    client = _client(own_redis.url, provider)
    _warm(client)
    lock = threading.Lock()
    answers: list[str] = []

    def worker(i: int) -> None:
        for n in range(10):
            content = client.chat(PROMPTS[(i + n) % 20]).content
            with lock:
                answers.append(content)
                if len(answers) == 160:
                    own_redis.kill()

    with capture_logs() as logs:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(answers) == 320 and all(a.startswith("echo: question ") for a in answers)
    cache = client.cache
    assert isinstance(cache, RedisCache) and cache.breaker.state == "open"
    assert len(_events(logs, "redis_unavailable")) == 1
    client.close()


# --- Done when: 2 processes x 200 concurrent calls under a shared rpm ---------------------
RPM = 60


def _max_surely_in_window(sends: list[tuple[float, float]], window_s: float) -> int:
    """The most sends that lie in one closed interval of ``window_s`` seconds whatever
    their exact times: each send is known to lie in ``(lo, hi)``, and is surely in
    ``[a, a + window_s]`` when ``a <= lo`` and ``hi <= a + window_s``."""
    best = 0
    for a, _ in sends:  # a window that surely holds the most starts at some send's lo
        best = max(best, sum(1 for lo, hi in sends if a <= lo and hi <= a + window_s))
    return best


def test_two_processes_share_one_rate(redis_server: RedisServer) -> None:
    """One process runs 200 tasks, the other 200 threads, at once, under one shared
    ``rpm = 60``: a token bucket lets the first 60 go and then one a second, so the 400
    calls take at least 340 s and no window of W seconds sends more than 60 + W. The
    workers' FakeClock skips the waits; each call reports when it would have been
    sent (reservation time + the wait Redis asked for), so the test takes seconds."""
    config = {
        "modelbus": {"cache": "none", "rate_limiter": "redis"},
        "rate_limiters": {
            "redis": {
                "url": redis_server.url,
                "namespace": unique_namespace(),
                # Not an outage test: on a loaded machine a connect or a pool wait can
                # take seconds, and a 1 s socket timeout would read that as Redis down.
                "socket_timeout_s": 30,
                "pool_timeout_s": 60,
            }
        },
        "rate_limits": {"fake": {"rpm": RPM}},
    }
    procs = [
        subprocess.Popen(
            [sys.executable, RATE_WORKER, json.dumps(config), mode, "200"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for mode in ("async", "threads")
    ]
    sends: list[tuple[float, float]] = []
    calls = 0
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line.strip() == "ready", p.stderr.read() if p.stderr else line
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            out, err = p.communicate(timeout=_TIMEOUT_S)
            assert p.returncode == 0, err
            assert "redis_unavailable" not in err and "redis_pool_busy" not in err, err
            for line in out.splitlines():
                if line.startswith("SENDS "):
                    sends += [(lo, hi) for lo, hi in json.loads(line[6:])]
                elif line.startswith("CALLS "):
                    calls += int(line[6:])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert len(sends) == calls == 400
    # Each send is known to an interval (how long its reservation took, milliseconds on
    # a quiet machine, more under load): the assertions hold for every send time the
    # intervals allow, so a slow machine widens them instead of failing the test; a
    # limiter that does not limit still fails (its 400 sends span the run's seconds).
    sends.sort()
    assert max(hi for _, hi in sends) - min(lo for lo, _ in sends) >= (400 - RPM) * 60 / RPM
    for window in (1.0, 10.0, 60.0, 120.0):
        assert _max_surely_in_window(sends, window) <= RPM + window * RPM / 60, window
