"""The ``redis`` budget store: atomic reserve/settle in Lua, two real processes sharing
one budget never exceed it together, and an unreachable Redis refuses calls."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from modelbus._limits.budget_ledger import Charge
from modelbus.errors import BudgetExceededError
from modelbus.testing import FakeClock, FakeProvider, make_client
from modelbus_redis_cache import RedisBudgetStore, RedisBudgetStoreSettings

from .budget_worker import RESULT
from .conftest import unique_namespace
from .redis_server import RedisServer
from .test_processes import _env

WORKER = str(Path(__file__).with_name("budget_worker.py"))
WORST = 0.001  # max_tokens=1000 at $1 per 1M output tokens (input free)
CATALOG = {"bm": {"input_per_1m": 0.0, "output_per_1m": 1.0}}


def _store(srv: RedisServer, ns: str, **kw: Any) -> RedisBudgetStore:
    return RedisBudgetStore(RedisBudgetStoreSettings(url=srv.url, namespace=ns), **kw)


def test_reserve_is_all_or_nothing_and_settle_never_goes_negative(
    redis_server: RedisServer,
) -> None:
    store = _store(redis_server, unique_namespace())
    roomy, tight = Charge("roomy", 100, "budgets.a"), Charge("tight", 10, "budgets.b")
    refusal = store.reserve([roomy, tight], 11)
    assert refusal is not None and refusal.charge == tight
    assert (refusal.spent, refusal.reserved, refusal.amount) == (0, 0, 11)
    assert store.usage(roomy) == (0, 0)
    assert store.reserve([roomy, tight], 10) is None
    assert store.usage(roomy) == (0, 10) and store.usage(tight) == (0, 10)
    store.settle([roomy, tight], 10, 7)
    store.settle([roomy, tight], 10, 0)  # settled twice: the reserved sum stays at 0
    assert store.usage(tight) == (7, 0)
    big = Charge("big", 10**15, "budgets.big")  # $1M: no exponent notation on the wire
    assert store.reserve([big], 3 * 10**14) is None
    store.settle([big], 3 * 10**14, 2 * 10**14)
    assert store.usage(big) == (2 * 10**14, 0)
    store.close()


def test_a_period_key_expires_after_its_period(redis_server: RedisServer) -> None:
    store = _store(redis_server, unique_namespace())
    day = Charge("d", 10, "budgets.d", "day", "x", expires_at=time.time() + 60)
    assert store.reserve([day], 1) is None
    ttl = redis_server.client().ttl(store.prefix + "d")
    assert 86_400 < ttl <= 86_461
    store.close()


def _config(srv: RedisServer, ns: str, limit: float) -> dict[str, Any]:
    # A generous socket timeout: 2 x 100 tasks open their connections at once on a
    # shared 2-core machine, and a connect that times out is an outage (calls refused).
    redis_settings = {"url": srv.url, "namespace": ns, "socket_timeout_s": 10.0}
    return {
        "modelbus": {"cache": "none", "budget_store": "redis"},
        "budget_stores": {"redis": redis_settings},
        "catalog": CATALOG,
        "budgets": {"shared": {"max_cost_usd": limit, "scope": "namespace"}},
    }


@pytest.mark.parametrize("mode", ["async", "threads"])
def test_two_processes_sharing_a_budget_never_exceed_it_together(
    redis_server: RedisServer, mode: str
) -> None:
    # More allowed than one process asks for: both must take part, whatever their timing.
    n, allowed = (100, 150) if mode == "async" else (16, 23)
    limit = allowed * WORST + WORST / 2
    ns = unique_namespace()
    args = [sys.executable, WORKER, json.dumps(_config(redis_server, ns, limit)), mode, str(n)]
    procs = [
        subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for _ in range(2)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            for line in p.stdout:
                if line.strip() == "ready":
                    break
            else:
                raise AssertionError(p.stderr.read() if p.stderr else "no ready line")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        errs: list[str] = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            errs.append(err)
            results += [
                json.loads(x[len(RESULT) :]) for x in out.splitlines() if x.startswith(RESULT)
            ]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert len(results) == 2 and all(r["other"] == [] for r in results), results
    ok = sum(r["ok"] for r in results)
    assert all(r["ok"] > 0 for r in results)  # both processes took part
    assert ok == allowed and sum(r["refused"] for r in results) == 2 * n - allowed
    spent = sum(r["cost_usd"] for r in results)
    assert spent == pytest.approx(allowed * WORST) and spent <= limit
    store = _store(redis_server, ns)
    key = "\x1fbudgets.shared\x1ftotal"  # client namespace "", budget, period
    usage = store.usage(Charge(key, 0, "budgets.shared"))
    assert usage == (allowed * 1_000_000, 0), "".join(errs)[:3000]
    store.close()


async def test_while_redis_is_down_calls_under_a_shared_budget_are_refused(
    own_redis: RedisServer,
) -> None:
    fake = FakeProvider(model="bm")
    c = make_client(fake, _config(own_redis, unique_namespace(), 1.0))
    c.chat("q", max_tokens=10)
    own_redis.kill()
    with pytest.raises(BudgetExceededError, match="'redis'.*cannot be reached"):
        c.chat("q", max_tokens=10)
    with pytest.raises(BudgetExceededError, match="treated as spent"):
        await c.achat("q", max_tokens=10)  # the breaker is open: refused without a try
    assert fake.calls == 1
    await c.aclose()


def test_the_store_recovers_when_redis_is_back(own_redis: RedisServer) -> None:
    clock = FakeClock()
    store = _store(own_redis, unique_namespace(), clock=clock.monotonic)
    ch = Charge("k", 10, "budgets.k")
    assert store.reserve([ch], 4) is None
    own_redis.kill()
    for _ in range(2):
        with pytest.raises(Exception, match="(?i)connect|unreachable"):
            store.reserve([ch], 1)
    store.settle([ch], 4, 3)  # kept in the process: the reservation stays counted
    assert store.pending == 1
    own_redis.start()
    with pytest.raises(Exception, match="unreachable"):
        store.reserve([ch], 1)  # the breaker waits for its probe time
    clock.advance(10)  # past probe_interval_s: the next call probes
    assert store.reserve([ch], 7) is None and store.breaker.state == "closed"
    assert store.pending == 0
    # The restarted server starts empty (no persistence here): the kept settlement
    # released nothing and counted $3, then $7 more were reserved.
    assert store.usage(ch) == (3, 7)
    store.close()


async def test_a_settlement_kept_during_a_blip_is_sent_when_redis_answers(
    redis_server: RedisServer,
) -> None:
    clock = FakeClock()
    store = _store(redis_server, unique_namespace(), clock=clock.monotonic)
    ch = Charge("k", 10, "budgets.k")
    assert await store.areserve([ch], 6) is None
    store.breaker.failure()  # an outage seen by another call
    await store.asettle([ch], 6, 2)
    assert store.pending == 1 and store.usage(ch) == (0, 6)
    clock.advance(10)
    assert await store.areserve([ch], 8) is None  # the kept settlement made the room
    assert store.usage(ch) == (2, 8) and store.pending == 0
    await store.aclose()
