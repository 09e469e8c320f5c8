"""A deployment pool over the wire: two ``azure`` instances and one ``openai`` provider,
each talking to its own WireServer, in one ``[models.gpt-4o]`` pool (issue 17)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import modelbus
from modelbus import Clock
from modelbus.cli._group import cli
from modelbus.testing import FakeClock
from modelbus.testing.server import Reply, WireServer

DEPS = ["azure-east/gpt-4o", "azure-west/gpt-4o", "openai/gpt-4o"]


@pytest.fixture
def servers() -> Iterator[dict[str, WireServer]]:
    with WireServer() as east, WireServer() as west, WireServer() as oai:
        yield {"azure-east/gpt-4o": east, "azure-west/gpt-4o": west, "openai/gpt-4o": oai}


def config(servers: dict[str, WireServer], **pool: Any) -> dict[str, Any]:
    east, west, oai = servers.values()
    return {
        "modelbus": {"cache": "none"},
        "providers": {
            "azure-east": {"use": "azure", "endpoint": east.origin, "api_key": "key-east"},
            "azure-west": {"use": "azure", "endpoint": west.origin, "api_key": "key-west"},
            "openai": {"base_url": oai.base_url, "api_key": "sk-test"},
        },
        "models": {"gpt-4o": {"deployments": DEPS, **pool}},
    }


def client(servers: dict[str, WireServer], clock: FakeClock, **pool: Any) -> modelbus.Client:
    clk = Clock(clock.monotonic, clock.sleep, clock.asleep, clock.monotonic)
    c = modelbus.Client(config(servers, **pool), clock=clk)
    c.provider("pool:gpt-4o").inner.random = random.Random(17).random
    return c


def served(servers: dict[str, WireServer]) -> dict[str, int]:
    return {name: len(s.requests) for name, s in servers.items()}


def test_each_instance_uses_its_own_endpoint_and_key(servers):
    with client(servers, FakeClock()) as c:
        for name in ("azure-east", "azure-west"):
            r = c.chat("hi", model=f"{name}/gpt-4o")
            assert r.provider == name
        east, west, _ = servers.values()
        assert east.requests[0].headers["api-key"] == "key-east"
        assert west.requests[0].headers["api-key"] == "key-west"
        assert east.requests[0].path == "/openai/deployments/gpt-4o/chat/completions"


def test_traffic_spreads_by_weight(servers):
    weights = {"azure-east/gpt-4o": 2, "azure-west/gpt-4o": 1, "openai/gpt-4o": 1}
    with client(servers, FakeClock(), weights=weights) as c:
        for i in range(400):
            assert c.chat(f"q{i}", model="gpt-4o").attempts == 1
    n = served(servers)
    assert abs(n["azure-east/gpt-4o"] / 400 - 0.5) < 0.08
    assert abs(n["azure-west/gpt-4o"] / 400 - 0.25) < 0.08
    assert abs(n["openai/gpt-4o"] / 400 - 0.25) < 0.08


def test_least_busy_and_latency_move_traffic_to_the_idle_and_the_fast(servers):
    # latency: real time, the slow server's replies measured on the client's clock
    east = servers["azure-east/gpt-4o"]
    east.latency = 0.3
    with modelbus.Client(config(servers, strategy="latency")) as c:
        for i in range(30):
            c.chat(f"q{i}", model="gpt-4o")
    assert len(east.requests) == 1  # measured once, then avoided
    # least-busy: while a slow call is in flight on east, the others take the traffic
    import threading

    for s in servers.values():
        s.clear()
    east.latency = 0.5
    with client(servers, FakeClock(), strategy="least-busy") as c:
        c.provider("pool:gpt-4o").inner.random = lambda: 0.0  # ties: the first one
        slow = threading.Thread(target=c.chat, args=("slow",), kwargs={"model": "gpt-4o"})
        slow.start()
        while not east.requests:
            threading.Event().wait(0.01)
        for i in range(10):
            assert c.chat(f"q{i}", model="gpt-4o").extra["deployment"] == "azure-west/gpt-4o"
        slow.join()
    assert len(east.requests) == 1


def test_a_429_with_retry_after_5_gets_no_request_for_5_seconds(servers):
    clock = FakeClock(1000.0)
    east = servers["azure-east/gpt-4o"]
    with client(servers, clock) as c:
        c.provider("pool:gpt-4o").inner.random = lambda: 0.0  # east first while healthy
        east.enqueue(Reply.error(429, "Requests exceeded", headers={"Retry-After": "5"}))
        r = c.chat("first", model="gpt-4o")
        assert r.attempts == 2 and r.extra["deployment"] == "azure-west/gpt-4o"
        assert clock.sleeps[0] < 1  # the retry did not wait east's 5 s
        hit_at = clock.now - clock.sleeps[0]
        while clock.now < hit_at + 4.9:
            assert c.chat(f"t={clock.now}", model="gpt-4o").attempts == 1
            clock.advance(0.25)
        assert len(east.requests) == 1
        clock.advance(hit_at + 5.0 - clock.now)
        c.chat("after", model="gpt-4o")
        assert len(east.requests) == 2


def test_a_dead_deployment_is_skipped_after_its_first_failure_and_retried_after_cooldown(
    servers,
):
    clock = FakeClock(1000.0)
    west = servers["azure-west/gpt-4o"]
    with client(servers, clock, cooldown_s=10) as c:
        pool = c.provider("pool:gpt-4o").inner
        pool.random = lambda: 0.4  # west while it is healthy
        port = west.port
        west.stop()  # connection refused from now on
        r = c.chat("first", model="gpt-4o")
        assert r.attempts == 2
        for i in range(20):
            assert c.chat(f"q{i}", model="gpt-4o").attempts == 1
            clock.advance(0.4)
        assert clock.now < 1010
        # back on the same port; after the cooldown the next call tries it again
        revived = WireServer(port=port).start()
        try:
            clock.advance(1010.5 - clock.now)
            r = c.chat("again", model="gpt-4o")
            assert r.extra["deployment"] == "azure-west/gpt-4o"
            assert len(revived.requests) == 1
        finally:
            revived.stop()


def test_a_pool_composes_with_the_cache_under_its_logical_model(servers):
    cfg = config(servers)
    cfg["modelbus"]["cache"] = "memory"
    with modelbus.Client(cfg) as c:
        first = c.chat("same", model="gpt-4o")
        assert not first.cached
        assert all(c.chat("same", model="gpt-4o").cached for _ in range(5))
    assert sum(served(servers).values()) == 1


def _toml(tmp_path: Path, servers: dict[str, WireServer]) -> Path:
    east, west, oai = servers.values()
    text = f"""
[providers.azure-east]
use = "azure"
endpoint = "{east.origin}"
api_key = "key-east"

[providers.azure-west]
use = "azure"
endpoint = "{west.origin}"
api_key = "key-west"

[providers.openai]
base_url = "{oai.base_url}"
api_key = "sk-test"

[models.gpt-4o]
deployments = {json.dumps(DEPS)}
strategy = "least-busy"
"""
    path = tmp_path / "modelbus.toml"
    path.write_text(text)
    return path


def test_config_check_doctor_and_plugins_show_the_instances(servers, tmp_path):
    path = str(_toml(tmp_path, servers))
    runner = CliRunner()
    assert runner.invoke(cli, ["config", "check", path]).exit_code == 0
    res = runner.invoke(cli, ["doctor", "--json", "--config", path])
    assert res.exit_code in (0, 1), res.output
    rows = json.loads(res.stdout)
    names = {r["provider"] for r in rows if r["check"] == "starts"}
    assert {"azure-east", "azure-west", "openai", "pool:gpt-4o"} <= names
    assert any(r["provider"] == "azure-west" and r["check"] != "starts" for r in rows)
    res = runner.invoke(cli, ["plugins", "--json", "--config", path])
    azure = next(
        r for r in json.loads(res.output) if "azure" in r["registered"].get("providers", [])
    )
    assert azure["instances"] == {"providers": {"azure-east": "azure", "azure-west": "azure"}}
    text = runner.invoke(cli, ["plugins", "--config", path]).output
    assert "azure-east" in text


def test_config_check_names_a_bad_instance(servers, tmp_path):
    path = _toml(tmp_path, servers)
    path.write_text(path.read_text().replace('use = "azure"', 'use = "azur"', 1))
    res = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert res.exit_code == 2
    assert "providers.azure-east.use" in res.output and "azure" in res.output


def test_streams_and_async_calls_step_around_a_throttled_deployment(servers):
    import asyncio

    clock = FakeClock(1000.0)
    east = servers["azure-east/gpt-4o"]
    with client(servers, clock) as c:
        c.provider("pool:gpt-4o").inner.random = lambda: 0.0  # east first while healthy
        east.enqueue(Reply.error(429, "Requests exceeded", headers={"Retry-After": "5"}))
        with c.stream("streamed", model="gpt-4o") as s:
            text = "".join(ch.content or "" for ch in s)
        assert text and s.response.attempts == 2
        assert s.response.extra["deployment"] == "azure-west/gpt-4o"

        async def run() -> list[str]:
            replies = await asyncio.gather(*(c.achat(f"a{i}", model="gpt-4o") for i in range(6)))
            return [r.extra["deployment"] for r in replies]

        assert "azure-east/gpt-4o" not in asyncio.run(run())  # still cooling
        assert len(east.requests) == 1


def _quota() -> Reply:
    return Reply.error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        type="insufficient_quota",
        code="insufficient_quota",
    )


def test_a_deployment_out_of_quota_or_with_a_revoked_key_is_stepped_around(servers):
    # The real plugins read the wire errors: insufficient_quota on azure-east, a revoked
    # key (401) on azure-west; every call is served by openai in its first call.
    east, west, oai = servers.values()
    east.set_default(_quota())
    west.set_default(Reply.error(401, "Access denied due to invalid subscription key."))
    clock = FakeClock()
    with client(servers, clock) as c:
        attempts = []
        for i in range(10):
            r = c.chat(f"q{i}", model="gpt-4o")
            assert r.extra["deployment"] == "openai/gpt-4o"
            attempts.append(r.attempts)
            clock.advance(30)
        # each broken deployment was tried once in 300 s (account_cooldown_s = 600),
        # and the calls that met one moved on within their attempts
        assert (len(east.requests), len(west.requests)) == (1, 1)
        assert sum(attempts) == 10 + 2
        clock.advance(600)
        oai.set_default(_quota())
        with pytest.raises(modelbus.errors.ProviderError) as info:
            c.chat("all out", model="gpt-4o")
    e = info.value
    assert e.status_code in (401, 429) and e.hint.startswith("no deployment of pool:gpt-4o")
    assert "cooling down too" in e.hint and "retry after" not in e.hint
