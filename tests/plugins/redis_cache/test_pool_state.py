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


def _store(srv: RedisServer, ns: str | None = None) -> RedisPoolState:
    return RedisPoolState(RedisPoolStateSettings(url=srv.url, namespace=ns or unique_namespace()))


def test_cooldowns_never_shorten_and_counts_are_shared(redis_server: RedisServer) -> None:
    ns = unique_namespace()
    a, b = _store(redis_server, ns), _store(redis_server, ns)
    a.cool("p", "x/m", 5.0, 0.0)
    b.cool("p", "x/m", 0.2, 0.0)  # shorter: kept at 5 s
    a.begin("p", "y/m", 0.0)
    b.begin("p", "y/m", 0.0)
    x, y = b.read("p", ["x/m", "y/m"], 0.0)
    assert 4.5 < x.cooldown_s <= 5.0 and y.cooldown_s == 0
    assert (y.in_flight, y.requests) == (2, 2)
    # a dead process's calls in flight are dropped once the pool has been idle 10 min
    assert 590 < a._link.sync.ttl(a._busy("p")) <= 600
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
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)


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
    east.set_default(Reply.error(429, "Requests exceeded", headers={"Retry-After": "5"}))
    t0 = time.monotonic()
    first = a.ask("5")
    t1 = time.monotonic()  # east's cooldown started between t0 and t1
    assert first == ["west/gpt-4o"] * 5  # the first call's retry, then west (healthy)
    second = b.ask("5")
    assert second == ["west/gpt-4o"] * 5  # b never tried east: a's cooldown is shared
    # (5 s: room for a loaded machine; the processes' calls took well under it)
    assert time.monotonic() - t0 < 5 and len(east.requests) == 1
    time.sleep(max(0.0, t1 + 5.1 - time.monotonic()))
    east.clear_defaults()
    assert b.ask("1") == ["east/gpt-4o"]  # after the cooldown, east again
    assert len(east.requests) == 2


def test_calls_in_flight_are_counted_across_processes(workers, servers) -> None:
    east = servers[0]
    east.latency = 3.0
    a, b = workers(strategy="least-busy")
    assert a.ask("hold") == "held"
    deadline = time.monotonic() + 10
    while not east.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(east.requests) == 1
    # b's calls see a's call in flight on east: the least busy are west (first tie)
    assert b.ask("3") == ["west/gpt-4o"] * 3
