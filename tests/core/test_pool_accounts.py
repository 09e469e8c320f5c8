"""Account failures in a deployment pool: a deployment out of credit (429
``insufficient_quota``) or refusing its key (401, 403) is cooled for
``account_cooldown_s`` and the call moves on to a healthy deployment in the same call;
only when none is left is the original error raised, with a hint that says so. A real
Client, FakeProviders as deployments, a FakeClock for every wait."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelbus import Config, adapt_provider
from modelbus._pools.state import MemoryPoolState
from modelbus._wire.types import ChatRequest, Message
from modelbus.errors import (
    AuthenticationError,
    ConfigError,
    PermissionDeniedError,
    RateLimitError,
)
from modelbus.testing import FakeClock

from .test_pool import DEPS, calls, client_for

QUOTA = {"code": "insufficient_quota"}


def _out_of_quota(fake: Any, n: int = 50) -> None:
    for _ in range(n):
        fake.enqueue_error(429, "You exceeded your current quota", **QUOTA)


def _cooldowns(c: Any, clock: FakeClock) -> list[float]:
    pool = c.provider("pool:m").inner
    return [s.cooldown_s for s in pool.state.read(pool.pool, pool._names, clock.now)]


def test_a_deployment_out_of_quota_is_skipped_in_the_same_call(capsys):
    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": DEPS}}, clock)
    east = fakes["east"]
    _out_of_quota(east)
    c.provider("pool:m").inner.random = lambda: 0.0  # east first while it is healthy
    r = c.chat("hi", model="m")
    assert r.attempts == 2 and r.extra["deployment"] == "west/m"
    assert clock.sleeps and clock.sleeps[0] < 1  # the policy's backoff, not a long wait
    # cooled for the documented default, from the failure (the backoff ran since)
    assert _cooldowns(c, clock) == [pytest.approx(600.0 - sum(clock.sleeps)), 0.0, 0.0]
    err = capsys.readouterr().err
    assert "pool_deployment_refused" in err and "insufficient_quota" in err
    # the retried attempt's hint says what happened, not "slow down"
    assert "east/m is out of quota (insufficient_quota)" in err and "slow down" not in err
    assert "pool:m moved on to another deployment" in err
    for i in range(30):  # nothing for the next 10 minutes
        assert c.chat(f"q{i}", model="m").attempts == 1
        clock.advance(19.9)
    assert east.calls == 1
    clock.advance(600 - 30 * 19.9 + 0.1)
    c.chat("again", model="m")
    assert east.calls == 2  # probed again after its cooldown


def test_every_deployment_out_of_quota_raises_the_original_error_with_a_true_hint():
    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": DEPS}}, clock)
    for f in fakes.values():
        _out_of_quota(f)
    with pytest.raises(RateLimitError) as info:
        c.chat("hi", model="m")
    e = info.value
    assert e.code == "insufficient_quota" and e.status_code == 429
    assert calls(fakes) == [1, 1, 1]  # each deployment once, then the error itself
    assert e.hint.startswith("no deployment of pool:m can answer: ")
    assert "is out of quota (insufficient_quota): add credits" in e.hint
    assert "account_cooldown_s" in e.hint and "slow down" not in e.hint
    assert any("not retryable; 2 earlier attempt(s) failed" in n for n in e.__notes__)
    assert e.should_retry is None  # not made retryable: nothing left to move to
    # within the cooldown, a call gets one attempt (all cooling) and the same answer
    with pytest.raises(RateLimitError, match="insufficient_quota"):
        c.chat("later", model="m")
    assert sum(calls(fakes)) == 4


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        (401, AuthenticationError, "refused its key (401): check [providers.west] api_key"),
        (403, PermissionDeniedError, "refused access (403): the key of [providers.west]"),
    ],
)
def test_a_key_refused_by_one_deployment_moves_on_and_by_all_ends_the_call(
    status, error, says, capsys
):
    clock = FakeClock()
    c, fakes = client_for(
        {"m": {"deployments": ["east/m", "west/m"], "account_cooldown_s": 120}},
        clock,
        "east",
        "west",
    )
    fakes["east"].enqueue_error(status, "revoked")
    c.provider("pool:m").inner.random = lambda: 0.0
    assert c.chat("hi", model="m").extra["deployment"] == "west/m"
    # account_cooldown_s, configurable
    assert _cooldowns(c, clock)[0] == pytest.approx(120.0 - sum(clock.sleeps))
    assert f"status={status}" in capsys.readouterr().err  # pool_deployment_refused
    clock.advance(121)
    for f in fakes.values():
        f.enqueue_error(status, "revoked")
    with pytest.raises(error) as info:
        c.chat("again", model="m")
    # the last deployment's own error, the others named as cooling too
    assert info.value.status_code == status and says in info.value.hint
    assert info.value.hint.startswith("no deployment of pool:m can answer: west/m ")
    assert "the others (east/m) are cooling down" in info.value.hint
    assert calls(fakes) == [2, 2]  # west answered the first call


def test_a_quota_move_is_the_same_async_and_streamed():
    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": DEPS}}, clock)
    pool = c.provider("pool:m").inner
    pool.random = lambda: 0.0
    _out_of_quota(fakes["east"], 1)

    async def run() -> Any:
        return await c.achat("a", model="m")

    assert asyncio.run(run()).extra["deployment"] == "west/m"
    clock.advance(601)
    _out_of_quota(fakes["east"], 1)
    text = "".join(ch.content or "" for ch in c.stream("s", model="m"))
    assert text == "echo: s" and fakes["east"].calls == 2 and fakes["west"].calls == 2


@pytest.mark.parametrize(("status", "falls_back"), [(429, True), (401, False)])
def test_a_pool_with_no_account_left_takes_fallbacks_as_a_model_without_a_pool(status, falls_back):
    # the engine's rule for any model: a 429 is unavailability (fallbacks), a 401 is not
    clock = FakeClock()
    models = {"m": {"deployments": ["east/m", "west/m"], "fallbacks": ["oai/backup"]}}
    c, fakes = client_for(models, clock)
    for f in (fakes["east"], fakes["west"]):
        f.enqueue_error(status, "no", code="insufficient_quota" if status == 429 else None)
    if falls_back:
        assert c.chat("hi", model="m").model == "backup"
    else:
        with pytest.raises(AuthenticationError, match="no deployment of pool:m can answer"):
            c.chat("hi", model="m")
    assert calls(fakes) == [1, 1, 1 if falls_back else 0]


def test_account_cooldown_s_is_checked():
    with pytest.raises(ConfigError) as info:
        Config.from_dict(
            {"models": {"m": {"deployments": DEPS, "account_cooldown_s": 0}}}, source="a.toml"
        )
    assert info.value.key == "models.m.account_cooldown_s"


# --- over time: any deployments out of quota, any calls and waits -----------------------

steps = st.lists(
    st.one_of(st.just(("call",)), st.tuples(st.just("wait"), st.floats(1, 400))),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(st.sets(st.sampled_from(DEPS)), steps)
def test_over_time_a_call_succeeds_while_any_deployment_has_quota(broke, script):
    # Each deployment in `broke` answers every request with insufficient_quota. A call
    # succeeds whenever another deployment has quota (3 attempts, 3 deployments), a
    # broke deployment gets at most one request per account cooldown, and a call fails
    # only with the original error, when every deployment is out.
    clock = FakeClock(1000.0)
    c, fakes = client_for({"m": {"deployments": DEPS}}, clock)
    for d in broke:
        _out_of_quota(fakes[d.split("/")[0]], 100)
    last: dict[str, float] = {}
    for step in script:
        if step[0] == "wait":
            clock.advance(step[1])
            continue
        before = {d: fakes[d.split("/")[0]].calls for d in DEPS}
        now = clock.now
        try:
            r = c.chat("x", model="m")
        except RateLimitError as e:  # never a RetryError: no call runs out of attempts
            assert broke == set(DEPS) and e.code == "insufficient_quota"
        else:
            assert r.extra["deployment"] not in broke
        for d in broke:
            if fakes[d.split("/")[0]].calls > before[d]:
                # (give or take the few seconds of a call's backoffs)
                assert d not in last or now - last[d] >= 590 or broke == set(DEPS)
                last[d] = now


# --- latency averages live in the pool state store ---------------------------------------


def test_the_latency_strategy_reads_the_stores_average_on_a_fake_clock():
    from modelbus.testing import FakeReply

    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": DEPS, "strategy": "latency"}}, clock)
    pool = c.provider("pool:m").inner
    pool.random = lambda: 0.0
    fakes["east"].enqueue(FakeReply(latency_s=2.0))
    fakes["west"].enqueue(FakeReply(latency_s=0.5))
    fakes["oai"].enqueue(FakeReply(latency_s=0.7))
    got = [c.chat(f"q{i}", model="m").extra["deployment"] for i in range(3)]
    assert got == DEPS  # each measured once, unmeasured first
    lat = [s.latency_s for s in pool.state.read(pool.pool, pool._names, clock.now)]
    assert lat == pytest.approx([2.0, 0.5, 0.7])
    assert c.chat("w", model="m").extra["deployment"] == "west/m"  # the fastest
    # a sample moves the average by LATENCY_ALPHA: 2.0 then 1.0 gives 1.7
    pool.state.end(pool.pool, "east/m", 0, clock.now, 1.0)
    assert pool.state.read(pool.pool, ["east/m"], clock.now)[0].latency_s == pytest.approx(1.7)


class OldStore(MemoryPoolState):
    """A store plugin written before ``end`` took ``latency_s``."""

    def end(self, pool, deployment, tokens, now):  # type: ignore[override]
        super().end(pool, deployment, tokens, now)

    async def aend(self, pool, deployment, tokens, now):  # type: ignore[override]
        super().end(pool, deployment, tokens, now)


def test_a_store_without_latency_keeps_working_with_latencies_per_process(capsys):
    from modelbus._pools.provider import Deployment, PoolProvider
    from modelbus.testing import FakeProvider, FakeReply

    clock = FakeClock()
    fakes = [FakeProvider(f"p{i}", clock=clock) for i in range(2)]
    store = OldStore()
    pool = PoolProvider(
        "m",
        "m",
        [Deployment(f"p{i}/m", f"p{i}", "m") for i in range(2)],
        strategy="latency",
        cooldown_s=5.0,
        providers={f.name: adapt_provider(f) for f in fakes}.__getitem__,
        state=store,
        now=clock.monotonic,
        random=lambda: 0.0,
    )
    fakes[0].enqueue(FakeReply(latency_s=2.0))
    req = ChatRequest(model="m", messages=(Message("user", "hi"),))
    got = [pool.chat(req).extra["deployment"] for _ in range(4)]
    assert got == ["p0/m", "p1/m", "p1/m", "p1/m"]  # measured, then the fast one
    assert [s.in_flight for s in store.read("m", ["p0/m", "p1/m"], clock.now)] == [0, 0]
    assert asyncio.run(pool.achat(req)).extra["deployment"] == "p1/m"
    assert "pool_state_failed" not in capsys.readouterr().err
