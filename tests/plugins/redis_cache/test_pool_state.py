"""The ``redis`` pool state store, and one deployment pool shared by two processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelbus.errors import PluginError
from modelbus.testing.server import Reply, WireServer
from modelbus_redis_cache import RedisPoolState, RedisPoolStateSettings

from .conftest import unique_namespace
from .pool_worker import RESULT
from .redis_server import RedisServer
from .test_processes import _env

WORKER = str(Path(__file__).with_name("pool_worker.py"))
DEPS = ["east/gpt-4o", "west/gpt-4o", "openai/gpt-4o"]


def _clear_of_the_minute(srv: RedisServer, need_s: float = 5.0) -> None:
    """Requests and tokens are counted per minute of Redis's clock (``_pool_state``): a
    test reading back exact counts starts with at least ``need_s`` seconds left in the
    minute, so its calls cannot straddle two (one did in CI: 167 and 174 of 320)."""
    import redis

    r = redis.Redis.from_url(srv.url)
    try:
        seconds, micros = r.time()
    finally:
        r.close()
    left = 60 - (seconds % 60 + micros / 1e6)
    if left < need_s:
        time.sleep(left + 0.05)


def _store(srv: RedisServer, ns: str | None = None, **kw: Any) -> RedisPoolState:
    return RedisPoolState(
        RedisPoolStateSettings(url=srv.url, namespace=ns or unique_namespace(), **kw)
    )


def test_the_latency_average_is_shared_and_computed_as_the_memory_stores(
    redis_server: RedisServer,
) -> None:
    from modelbus._pools.state import MemoryPoolState

    ns = unique_namespace()
    a, b, mem = _store(redis_server, ns), _store(redis_server, ns), MemoryPoolState()
    assert a.read("p", ["x/m"], 0.0)[0].latency_s is None  # not measured yet
    samples = [(a, 1.0), (b, 2.0), (a, 0.25), (b, None), (b, 0.5)]  # None: a failure
    for store, lat in samples:
        for s in (store, mem):
            s.begin("p", "x/m", 0.0)
            s.end("p", "x/m", 0, 0.0, lat)
    shared = [s.read("p", ["x/m"], 0.0)[0].latency_s for s in (a, b)]
    expected = mem.read("p", ["x/m"], 0.0)[0].latency_s
    assert expected is not None and shared == [pytest.approx(expected, rel=1e-12)] * 2
    # 1.0, then 1.3, then 0.985, then 0.8395: every process's samples in one average
    assert expected == pytest.approx(0.8395)
    # forgotten an hour after the last answer: measured afresh
    assert 3590 < a._link.sync.ttl(a._latency("p")) <= 3600
    a.close()
    b.close()


def test_lease_writes_out_of_order_never_leave_a_stale_count(redis_server: RedisServer) -> None:
    from modelbus_redis_cache._pool_state import REFRESH

    a, b = _store(redis_server), None
    ns = a.settings.namespace
    b = _store(redis_server, ns)
    a.begin("p", "x/m", 0.0)  # version 1: 1 in flight
    a.begin("p", "x/m", 0.0)  # version 2: 2 in flight
    # an older write arriving late (version 1 said 1) is ignored
    a._run(REFRESH, a._lease_keys("p"), ["", a.leases.holder, a._ms, "x/m", 1, 1])
    assert b.read("p", ["x/m"], 0.0)[0].in_flight == 2
    # the lease expired meanwhile (a stalled process): its next refresh restores it
    a._link.sync.delete(a._lease_keys("p")[1])
    assert b.read("p", ["x/m"], 0.0)[0].in_flight == 0
    a._refresh("p", a.leases._snapshot()["p"])  # type: ignore[index]
    assert b.read("p", ["x/m"], 0.0)[0].in_flight == 2
    a.end("p", "x/m", 0, 0.0)
    a.end("p", "x/m", 0, 0.0)
    assert b.read("p", ["x/m"], 0.0)[0].in_flight == 0
    # an end that never reached Redis (it was away): the next rewrite repairs the count
    a.begin("p", "x/m", 0.0)
    a.begin("p", "y/m", 0.0)
    a.leases.change("p", "x/m", -1)  # the call ended; its write was lost
    assert b.read("p", ["x/m"], 0.0)[0].in_flight == 1
    a._refresh("p", a.leases._snapshot()["p"])  # type: ignore[index]
    assert [s.in_flight for s in b.read("p", ["x/m", "y/m"], 0.0)] == [0, 1]
    a.close()
    b.close()


def test_concurrent_calls_of_many_threads_count_exactly(redis_server: RedisServer) -> None:
    import threading

    ns = unique_namespace()
    a, b = _store(redis_server, ns), _store(redis_server, ns)
    seen: list[int] = []
    _clear_of_the_minute(redis_server)

    def calls() -> None:
        for _ in range(40):
            a.begin("p", "x/m", 0.0)
            seen.append(b.read("p", ["x/m"], 0.0)[0].in_flight)
            a.end("p", "x/m", 1, 0.0, 0.01)

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    x = b.read("p", ["x/m"], 0.0)[0]
    assert (x.in_flight, x.requests, x.tokens) == (0, 320, 320)
    assert all(1 <= n <= 8 for n in seen)  # each reader saw its own call, at most 8
    a.close()
    b.close()


def test_a_lease_lives_while_its_calls_do_and_ends_with_its_holder(
    redis_server: RedisServer,
) -> None:
    # Real time here: leases expire on Redis's clock (0.3 s leases keep it short).
    ns = unique_namespace()
    a, b = _store(redis_server, ns, lease_s=0.3), _store(redis_server, ns)
    a.begin("p", "x/m", 0.0)
    time.sleep(1.0)  # over three leases: the refresh thread kept it alive
    assert b.read("p", ["x/m"], 0.0)[0].in_flight == 1
    a.end("p", "x/m", 0, 0.0)
    assert b.read("p", ["x/m"], 0.0)[0].in_flight == 0
    a.begin("p", "x/m", 0.0)
    a.leases.close()  # the holder stops refreshing, as a dead process would
    assert b.read("p", ["x/m"], 0.0)[0].in_flight == 1
    time.sleep(0.45)
    assert b.read("p", ["x/m"], 0.0)[0].in_flight == 0
    assert b._link.sync.smembers(b._holders("p")) == set()  # the reader removed it
    a.close()
    b.close()


def test_cooldowns_never_shorten_and_counts_are_shared(redis_server: RedisServer) -> None:
    _clear_of_the_minute(redis_server)
    ns = unique_namespace()
    a, b = _store(redis_server, ns), _store(redis_server, ns)
    a.cool("p", "x/m", 5.0, 0.0)
    b.cool("p", "x/m", 0.2, 0.0)  # shorter: kept at 5 s
    a.begin("p", "y/m", 0.0)
    b.begin("p", "y/m", 0.0)
    x, y = b.read("p", ["x/m", "y/m"], 0.0)
    assert 4.5 < x.cooldown_s <= 5.0 and y.cooldown_s == 0
    assert (y.in_flight, y.requests) == (2, 2)
    # each store holds its calls in flight under its own lease (30 s by default)
    holders, lease = a._lease_keys("p")
    assert 29_000 < a._link.sync.pttl(lease) <= 30_000
    assert a._link.sync.smembers(holders) == {a.leases.holder.encode(), b.leases.holder.encode()}
    a.end("p", "y/m", 30, 0.0)
    b.end("p", "y/m", 12, 0.0)
    b.end("p", "y/m", 0, 0.0)  # one end too many: never below zero
    y = a.read("p", ["y/m"], 0.0)[0]
    assert (y.in_flight, y.requests, y.tokens) == (0, 2, 42)
    assert _store(redis_server).read("p", ["x/m"], 0.0)[0].cooldown_s == 0  # namespaces
    a.cool("p", "z/m", 0.05, 0.0)
    time.sleep(0.1)
    assert a.read("p", ["z/m"], 0.0)[0].cooldown_s == 0  # Redis expired it
    a.close()
    b.close()


def test_the_async_side_sees_the_same_state(redis_server: RedisServer) -> None:
    import asyncio

    store = _store(redis_server)
    _clear_of_the_minute(redis_server)

    async def run() -> Any:
        await store.acool("p", "x/m", 3.0, 0.0)
        await store.abegin("p", "x/m", 0.0)
        await store.aend("p", "x/m", 7, 0.0)
        out = await store.aread("p", ["x/m"], 0.0)
        await store.aclose()
        return out

    (x,) = asyncio.run(run())
    assert x.cooldown_s > 2.5 and (x.in_flight, x.requests, x.tokens) == (0, 1, 7)


def test_a_pool_whose_redis_is_down_fails_visibly_and_sends_nothing(
    own_redis: RedisServer,
) -> None:
    import modelbus

    with WireServer() as a, WireServer() as b:
        cfg = {
            "modelbus": {"cache": "none", "pool_state": "redis"},
            "pool_states": {"redis": {"url": own_redis.url, "namespace": unique_namespace()}},
            "providers": {
                "a": {"use": "openai", "base_url": a.base_url, "api_key": "sk-a"},
                "b": {"use": "openai", "base_url": b.base_url, "api_key": "sk-b"},
            },
            "models": {"m": {"deployments": ["a/gpt-4o", "b/gpt-4o"]}},
        }
        with modelbus.Client(cfg) as c:
            assert c.chat("up", model="m").content
            own_redis.kill()
            with pytest.raises(PluginError, match="pool state store 'redis' cannot be read"):
                c.chat("down", model="m")
        assert len(a.requests) + len(b.requests) == 1


@pytest.fixture
def servers() -> Iterator[list[WireServer]]:
    with WireServer() as east, WireServer() as west, WireServer() as oai:
        yield [east, west, oai]


def _config(redis: RedisServer, ns: str, servers: list[WireServer], **pool: Any) -> dict[str, Any]:
    east, west, oai = servers
    return {
        "modelbus": {"cache": "none", "pool_state": "redis"},
        "pool_states": {"redis": {"url": redis.url, "namespace": ns}},
        "providers": {
            "east": {"use": "azure", "endpoint": east.origin, "api_key": "k-east"},
            "west": {"use": "azure", "endpoint": west.origin, "api_key": "k-west"},
            "openai": {"base_url": oai.base_url, "api_key": "sk-test"},
        },
        "models": {"gpt-4o": {"deployments": DEPS, **pool}},
    }


class Worker:
    def __init__(self, config: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, WORKER, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the worker died"
        return line.strip()

    def ask(self, cmd: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        while True:
            line = self._line()
            if line.startswith(RESULT):
                return json.loads(line[len(RESULT) :])

    def close(self) -> None:
        """Ask the worker to quit (unless it is gone: killed), wait for it, and close its
        pipes (else left to the garbage collector: ResourceWarnings)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        self.proc.stdin.close()
        self.proc.stdout.close()


@pytest.fixture
def workers(redis_server: RedisServer, servers: list[WireServer]) -> Iterator[Any]:
    made: list[Worker] = []

    def start(**pool: Any) -> list[Worker]:
        ns = unique_namespace()
        made.extend(Worker(_config(redis_server, ns, servers, **pool)) for _ in range(2))
        return made[-2:]

    yield start
    for w in made:
        w.close()


def test_a_cooldown_one_process_sees_keeps_the_other_away(workers, servers) -> None:
    east = servers[0]
    a, b = workers()
    # Retry-After 8 s: both processes' ten calls must fall inside the cooldown, which a
    # loaded machine (load ~10) can stretch past 5 s.
    east.set_default(Reply.error(429, "Requests exceeded", headers={"Retry-After": "8"}))
    t0 = time.monotonic()
    first = a.ask("5")
    t1 = time.monotonic()  # east's cooldown started between t0 and t1
    assert first == ["west/gpt-4o"] * 5  # the first call's retry, then west (healthy)
    second = b.ask("5")
    assert second == ["west/gpt-4o"] * 5  # b never tried east: a's cooldown is shared
    # (inside the 8 s cooldown: the processes' calls take well under it)
    assert time.monotonic() - t0 < 8 and len(east.requests) == 1
    time.sleep(max(0.0, t1 + 8.1 - time.monotonic()))
    east.clear_defaults()
    assert b.ask("1") == ["east/gpt-4o"]  # after the cooldown, east again
    assert len(east.requests) == 2


def test_calls_in_flight_are_counted_across_processes(workers, servers) -> None:
    east = servers[0]
    east.latency = 6.0  # a's call stays in flight while b asks (room for a loaded machine)
    a, b = workers(strategy="least-busy")
    assert a.ask("hold") == "held"
    deadline = time.monotonic() + 10
    while not east.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(east.requests) == 1
    # b's calls see a's call in flight on east: the least busy are west (first tie)
    assert b.ask("3") == ["west/gpt-4o"] * 3


def test_a_killed_process_stops_counting_within_its_lease(
    redis_server: RedisServer, servers: list[WireServer]
) -> None:
    # Two real processes; a is SIGKILLed with a call in flight on east. Leases of 1 s:
    # b's least-busy routing must stop counting a's call within about a second.
    east = servers[0]
    cfg = _config(redis_server, unique_namespace(), servers, strategy="least-busy")
    cfg["pool_states"]["redis"]["lease_s"] = 1.0
    a, b = Worker(cfg), Worker(cfg)
    try:
        east.enqueue(Reply.default(latency=6.0))  # a's call stays in flight on east
        assert a.ask("hold") == "held"
        deadline = time.monotonic() + 10
        while not east.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(1.5)  # past a lease: a's refresh thread keeps its count alive
        assert b.ask("state") == [1, 0, 0]
        assert b.ask("2") == ["west/gpt-4o"] * 2  # east is busy with a's call
        a.proc.kill()
        a.proc.wait(timeout=10)
        killed = time.monotonic()
        while b.ask("state") != [0, 0, 0]:
            assert time.monotonic() - killed < 1.0 + 1.0, "the dead process is still counted"
            time.sleep(0.02)
        assert b.ask("1") == ["east/gpt-4o"]  # least busy again (the first of the ties)
    finally:
        a.close()  # killed: only its pipes are closed
        b.close()


def test_the_latency_strategy_of_two_processes_agrees(workers, servers) -> None:
    east = servers[0]
    east.latency = 0.3
    a, b = workers(strategy="latency")
    # a measures every deployment (an unmeasured one goes first), then avoids slow east
    assert sorted(a.ask("3")) == sorted(DEPS)
    assert "east/gpt-4o" not in a.ask("3")
    # b never called anything: with a's averages shared it avoids east at once
    assert "east/gpt-4o" not in b.ask("3")
    assert len(east.requests) == 1
