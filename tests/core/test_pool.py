"""Deployment pools and per-model policies through a real Client (``modelbus._pools.provider``,
``modelbus._engine.policies``): FakeProviders as deployments, a FakeClock for every wait and
cooldown."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest

import modelbus
from modelbus import Clock, Config
from modelbus._plugins.loading import load_plugins
from modelbus._plugins.registry import Registration, Registry
from modelbus._pools.state import MemoryPoolState
from modelbus.cli.config import check_config
from modelbus.errors import (
    BadRequestError,
    BudgetExceededError,
    ConfigError,
    PluginError,
    RateLimitError,
    RetryError,
    ServerError,
)
from modelbus.hookspecs import hookimpl
from modelbus.testing import FakeClock, FakeProvider, FakeReply, LoopClock

DEPS = ["east/m", "west/m", "oai/m"]


def _registry(fakes: list[FakeProvider], extra: Callable[[Registry], None] | None = None):
    reg = load_plugins().registry.copy()
    for f in fakes:
        reg.add(Registration("providers", f.name, (lambda f=f: f), plugin="tests"))
    if extra is not None:
        extra(reg)
    return reg


def client_for(
    models: dict[str, Any],
    clock: FakeClock,
    *names: str,
    core: dict[str, Any] | None = None,
    extra: Callable[[Registry], None] | None = None,
    **sections: Any,
) -> tuple[modelbus.Client, dict[str, FakeProvider]]:
    fakes = {n: FakeProvider(n, clock=clock) for n in (names or ("east", "west", "oai"))}
    cfg = Config.from_dict(
        {"modelbus": {"cache": "none", **(core or {})}, "models": models, **sections}
    )
    # wall = the fake clock too: nothing here reads the real time
    clk = Clock(clock.monotonic, clock.sleep, clock.asleep, clock.monotonic)
    return modelbus.Client(cfg, clock=clk, registry=_registry(list(fakes.values()), extra)), fakes


def calls(fakes: dict[str, FakeProvider]) -> list[int]:
    return [f.calls for f in fakes.values()]


def test_a_pool_spreads_calls_and_keeps_one_cache_identity_per_logical_model():
    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": DEPS}}, clock, core={"cache": "memory"})
    route = c.route("m")
    assert (route.provider, route.model) == ("pool:m", "m")
    c.provider("pool:m").inner.random = random.Random(7).random
    seen = set()
    for i in range(60):
        r = c.chat(f"q{i}", model="m")
        assert r.provider == "pool:m" and r.attempts == 1
        seen.add(r.extra["deployment"])
    assert seen == set(DEPS)
    assert all(n > 5 for n in calls(fakes))
    assert all(req.model == "m" for f in fakes.values() for req in f.requests)
    # the cache key is the logical model's: the same prompt is a hit, whoever answered
    assert c.chat("q1", model="m").cached


def test_a_429_with_retry_after_cools_its_deployment_while_the_others_serve():
    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": DEPS}}, clock)
    east = fakes["east"]
    for _ in range(50):
        east.enqueue_error(429, "slow down", headers={"Retry-After": "5"})
    pool = c.provider("pool:m").inner
    pool.random = lambda: 0.0  # the weighted draw picks east first while it is healthy
    r = c.chat("hi", model="m")
    # the retry went to another deployment after the policy's own backoff, not 5 s
    assert r.attempts == 2 and r.extra["deployment"] != "east/m"
    assert east.calls == 1 and clock.sleeps and clock.sleeps[0] < 1
    start = clock.now
    while clock.now - start < 4.9:
        assert c.chat(f"at {clock.now}", model="m").attempts == 1
        clock.advance(0.5)
    assert east.calls == 1  # nothing for 5 s
    clock.advance(5.0 - (clock.now - start) + 0.01)
    east._script.clear()
    c.chat("back", model="m")
    assert east.calls == 2  # healthy again, and first in the draw


def test_a_dead_deployment_is_skipped_after_its_first_failure_then_retried():
    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": DEPS, "cooldown_s": 7}}, clock)
    east = fakes["east"]
    from modelbus.errors import APIConnectionError
    from modelbus.testing import FakeReply

    for _ in range(10):
        east.enqueue(FakeReply(error=APIConnectionError("refused", provider="east")))
    c.provider("pool:m").inner.random = lambda: 0.0
    assert c.chat("a", model="m").attempts == 2
    for i in range(20):
        c.chat(f"b{i}", model="m")
        clock.advance(0.3)
    assert east.calls == 1
    clock.advance(7)
    before = east.calls
    c.chat("c", model="m")
    assert east.calls == before + 1  # tried again after its cooldown


def test_a_pool_of_one_behaves_exactly_like_its_deployment():
    def run(models: dict[str, Any], model: str) -> tuple[Any, ...]:
        clock = FakeClock()
        c, fakes = client_for(models, clock, "east")
        f = fakes["east"]
        f.enqueue_error(429, "slow", headers={"Retry-After": "2"})
        f.enqueue_error(500, "boom")
        r = c.chat("hi", model=model)
        f.enqueue_error(400, "bad")
        with pytest.raises(BadRequestError):
            c.chat("again", model=model)
        return (r.provider, r.model, r.content, r.attempts, clock.sleeps[0], f.requests)

    pooled = run({"m": {"deployments": ["east/m"]}}, "m")
    plain = run({"m": {"provider": "east", "model": "m"}}, "m")
    assert pooled[:4] == plain[:4] == ("east", "m", "echo: hi", 3)
    assert pooled[4] == plain[4] == 2.0  # the deployment's Retry-After, honoured as today
    assert pooled[5] == plain[5]


def test_a_bad_request_does_not_cool_a_deployment():
    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": DEPS}}, clock)
    fakes["east"].enqueue_error(400, "bad")
    pool = c.provider("pool:m").inner
    pool.random = lambda: 0.0
    with pytest.raises(BadRequestError):
        c.chat("x", model="m")
    assert [s.cooldown_s for s in pool.state.read(pool.pool, pool._names, clock.now)] == [0, 0, 0]
    c.chat("y", model="m")
    assert fakes["east"].calls == 2


def test_pools_compose_with_fallbacks():
    clock = FakeClock()
    models = {
        "m": {"deployments": ["east/m", "west/m"], "fallbacks": ["oai/backup"]},
    }
    c, fakes = client_for(models, clock)
    for f in (fakes["east"], fakes["west"]):
        for _ in range(5):
            f.enqueue_error(500, "down")
    r = c.chat("hi", model="m")
    assert r.provider == "oai" and r.model == "backup"
    assert fakes["east"].calls + fakes["west"].calls == 3  # the policy's 3 attempts


def test_async_and_streams_route_and_cool_the_same_way():
    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": DEPS}}, clock)
    pool = c.provider("pool:m").inner
    pool.random = lambda: 0.0
    fakes["east"].enqueue_error(503, "busy")
    r = asyncio.run(c.achat("a", model="m"))
    assert r.attempts == 2 and r.extra["deployment"] != "east/m"
    with c.stream("s", model="m") as s:
        assert "".join(ch.content or "" for ch in s) == "echo: s"
    assert s.response.extra["deployment"] in DEPS[1:]

    async def astream() -> str:
        return "".join([ch.content or "" async for ch in c.astream("t", model="m")])

    assert asyncio.run(astream()) == "echo: t"
    assert fakes["east"].calls == 1  # still cooling (5 s) for all of them
    states = pool.state.read(pool.pool, pool._names, clock.now)
    assert [s.in_flight for s in states] == [0, 0, 0]
    assert sum(s.requests for s in states) == 4  # achat's two attempts, two streams


def _east_stalled(
    retry_budget: dict[str, Any],
) -> tuple[LoopClock, modelbus.Client, dict[str, FakeProvider], Any]:
    """A pool of east and west (cooldown 30 s) whose weighted draw picks east while it is
    healthy, and east stalled (every answer 10 s late)."""
    clock = LoopClock()
    c, fakes = client_for(
        {"m": {"deployments": ["east/m", "west/m"], "cooldown_s": 30}},
        clock,
        "east",
        "west",
        core={"retry_budget": retry_budget},
    )
    pool = c.provider("pool:m").inner
    pool.random = lambda: 0.0
    fakes["east"].enqueue(*[FakeReply(latency_s=10.0) for _ in range(400)])
    return clock, c, fakes, pool


async def _timed_out_wave(
    c: modelbus.Client, tag: str, *, return_exceptions: bool = False
) -> list[Any]:
    """100 calls at once, each with a 1 s timeout."""
    calls = (c.achat(f"{tag} {i}", model="m", timeout=1.0) for i in range(100))
    return await asyncio.gather(*calls, return_exceptions=return_exceptions)


def test_an_async_attempt_timed_out_by_the_pipeline_cools_its_deployment_under_load():
    # deployments.md: a deployment that "times out" is cooled down, and least-busy counts
    # calls in flight. An async attempt's timeout is enforced by the pipeline, which
    # cancels the provider call: the pool sees a CancelledError, not an APITimeoutError.
    # 100 timeouts at once would empty the retry quota (10 tokens a timeout retry, 500)
    clock, c, fakes, pool = _east_stalled({"enabled": False})

    def wave(tag: str) -> list[Any]:
        return clock.run(_timed_out_wave(c, tag))

    first = wave("a")  # 100 tasks reach east together, all time out at 1 s
    assert {r.extra["deployment"] for r in first} == {"west/m"}
    assert {r.attempts for r in first} == {2} and fakes["east"].calls == 100
    east, west = pool.state.read(pool.pool, pool._names, clock.monotonic())
    assert (east.in_flight, west.in_flight) == (0, 0)
    assert 25 < east.cooldown_s <= 30
    second = wave("b")  # east is still cooling: no attempt goes there
    assert {(r.extra["deployment"], r.attempts) for r in second} == {("west/m", 1)}
    assert fakes["east"].calls == 100


@pytest.mark.parametrize("capacity", [500, 1000])
def test_moves_to_another_deployment_take_from_the_retry_quota(capacity: int) -> None:
    # deployments.md: a move to another deployment is a retry and takes from the pool's
    # retry quota (10 tokens after a timeout): 100 calls timing out together on a stalled
    # deployment need 1,000; with the default 500, half of them are not retried.
    clock, c, fakes, _ = _east_stalled({"capacity": capacity})
    results = clock.run(_timed_out_wave(c, "q", return_exceptions=True))
    failed = [r for r in results if isinstance(r, BaseException)]
    assert fakes["east"].calls == 100
    if capacity == 500:
        assert len(failed) == 50 and fakes["west"].calls == 50
        assert all("retry quota exhausted" in str(e) for e in failed)
    else:
        assert failed == [] and fakes["west"].calls == 100


def _least_busy(clock: FakeClock) -> tuple[modelbus.Client, dict[str, FakeProvider], Any]:
    """A least-busy pool of east and west whose ties go to east."""
    c, fakes = client_for(
        {"m": {"deployments": ["east/m", "west/m"], "strategy": "least-busy"}},
        clock,
        "east",
        "west",
    )
    pool = c.provider("pool:m").inner
    pool.random = lambda: 0.0  # ties: east
    return c, fakes, pool


def test_a_sync_call_interrupted_leaves_the_pool_without_cooling():
    # Ctrl-C during a sync call: the deployment did nothing wrong, and the call is no
    # longer in flight (least-busy would otherwise count it for the client's life).
    clock = FakeClock()
    c, fakes, pool = _least_busy(clock)

    def interrupted(request: Any) -> Any:
        raise KeyboardInterrupt

    fakes["east"].chat = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        c.chat("q", model="m")
    states = pool.state.read(pool.pool, pool._names, clock.monotonic())
    assert [(s.in_flight, s.cooldown_s) for s in states] == [(0, 0.0), (0, 0.0)]


def test_a_call_cancelled_by_its_caller_leaves_the_pool_without_cooling():
    clock = LoopClock()
    c, fakes, pool = _least_busy(clock)
    fakes["east"].enqueue(*[FakeReply(latency_s=10.0) for _ in range(50)])

    async def main() -> None:
        calls = [asyncio.ensure_future(c.achat(f"q{i}", model="m")) for i in range(50)]
        await asyncio.sleep(1.0)
        for t in calls:
            t.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    clock.run(main())
    states = pool.state.read(pool.pool, pool._names, clock.monotonic())
    assert [s.in_flight for s in states] == [0, 0]  # none counted for ever
    assert [s.cooldown_s for s in states] == [0.0, 0.0]  # the caller's cancel is no fault
    assert c.chat("after", model="m").extra["deployment"] == "east/m"  # least busy: a tie


def test_embeddings_go_through_the_pool():
    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": DEPS}}, clock)
    r = c.embed(["a", "b"], model="m")
    assert len(r.vectors) == 2
    assert sum(len(f.embed_requests) for f in fakes.values()) == 1


# --- per-model policies -----------------------------------------------------------------


def test_a_model_retry_policy_replaces_the_clients():
    clock = FakeClock()
    models = {
        "once": {
            "provider": "east",
            "model": "m",
            "retry_policy": {"use": "exponential", "max_attempts": 1},
        },
        "named": {"provider": "east", "model": "m", "retry_policy": "none"},
        "default": {"provider": "east", "model": "m"},
    }
    c, fakes = client_for(models, clock, "east")
    f = fakes["east"]
    for model in ("once", "named"):
        f.enqueue_error(500, "boom")
        with pytest.raises(ServerError):
            c.chat("x", model=model)
    f.enqueue_error(500, "boom")
    assert c.chat("x", model="default").attempts == 2


def test_a_model_rate_limit_waits_on_the_clock():
    clock = FakeClock()
    c, _ = client_for(
        {"slow": {"provider": "east", "model": "m", "rate_limit": {"rpm": 60}}}, clock, "east"
    )
    c.chat("a", model="slow")
    c.chat("b", model="slow")  # 60 rpm, bucket of 60: no wait yet
    assert clock.sleeps == []
    for i in range(60):
        c.chat(f"c{i}", model="slow")
    assert clock.sleeps and abs(sum(clock.sleeps) - 2.0) < 1e-6  # one second per call over


def test_a_model_max_cost_is_a_budget_of_that_alias_only():
    clock = FakeClock()
    catalog = {"m": {"input_per_1m": 1000.0, "output_per_1m": 1000.0, "context_window": 1000}}
    models = {
        "capped": {
            "provider": "east",
            "model": "m",
            "max_cost_usd": 0.05,
            "params": {"max_tokens": 10},
        },
        "free": {"provider": "east", "model": "m", "params": {"max_tokens": 10}},
    }
    c, _ = client_for(models, clock, "east", catalog=catalog)
    with pytest.raises(BudgetExceededError, match=r"models\.capped\.max_cost_usd"):
        for i in range(10):
            c.chat(f"q{i}", model="capped")
    assert c.chat("q", model="free").content == "echo: q"


def test_a_calls_timeout_wins_over_the_models():
    from modelbus._engine import call_options

    c, _ = client_for(
        {"m": {"provider": "east", "model": "m", "timeout_s": 9}}, FakeClock(), "east"
    )
    route = c.route("m")
    assert call_limits(c, route, call_options("use", None, (), None)).timeout_s == 9
    assert call_limits(c, route, call_options("use", None, (), None, 2)).timeout_s == 2


# --- config -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("models", "key", "says"),
    [
        ({"m": {"deployments": ["east"]}}, "models.m.deployments[0]", "instance/model"),
        ({"m": {"deployments": ["east/m", "east/m"]}}, "models.m.deployments", "twice"),
        ({"m": {"deployments": DEPS, "weights": {"x/m": 2}}}, "models.m.weights", "not one of"),
        ({"m": {"deployments": DEPS, "weights": {"east/m": 0}}}, "models.m.weights", "> 0"),
        ({"m": {"deployments": DEPS, "strategy": "fast"}}, "models.m.strategy", "fast"),
        ({"m": {"deployments": DEPS, "provider": "east"}}, "models.m.provider", "takes no"),
        ({"m": {"params": {}}}, "models.m.model", "missing"),
        ({"m": {"model": "x", "retry_policy": 3}}, "models.m.retry_policy", "name"),
        ({"m": {"model": "x", "rate_limit": {"rpm": 0}}}, "models.m.rate_limit.rpm", "rpm"),
        ({"m": {"model": "x", "rate_limit": {"rps": 1}}}, "models.m.rate_limit.rps", "unknown"),
        ({"m": {"model": "x", "max_cost_usd": -1}}, "models.m.max_cost_usd", "dollars"),
    ],
)
def test_bad_pool_and_policy_keys_name_the_key(models, key, says):
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"models": models}, source="app.toml")
    assert info.value.key == key and info.value.source == "app.toml"
    assert says in str(info.value)


@pytest.mark.parametrize(
    ("data", "key", "accepted"),
    [
        (
            {"models": {"m": {"deployments": ["nowhere/m", "east/m"]}}},
            "models.m.deployments[0]",
            "east",
        ),
        (
            {"models": {"m": {"model": "x", "retry_policy": "sometimes"}}},
            "models.m.retry_policy",
            "exponential",
        ),
        (
            {
                "models": {
                    "m": {"model": "x", "retry_policy": {"use": "exponential", "max_atempts": 2}}
                }
            },
            "models.m.retry_policy.max_atempts",
            "max_attempts",
        ),
        ({"providers": {"east-2": {"use": "nope"}}}, "providers.east-2.use", "east"),
        ({"providers": {"e2": {"use": "east"}, "e3": {"use": "e2"}}}, "providers.e3.use", "east"),
        ({"providers": {"east": {"use": "west"}}}, "providers.east.use", None),
        ({"modelbus": {"pool_state": "etcd"}}, "modelbus.pool_state", "memory"),
    ],
)
def test_config_check_validates_deployments_instances_and_policies(data, key, accepted):
    reg = _registry([FakeProvider("east"), FakeProvider("west")])
    with pytest.raises(ConfigError) as info:
        check_config(Config.from_dict(data, source="app.toml"), reg)
    assert info.value.key == key and info.value.source == "app.toml"
    if accepted is not None:
        assert accepted in info.value.accepted


def test_config_check_accepts_a_pool_of_instances():
    data = {
        "providers": {"e2": {"use": "east"}},
        "models": {"m": {"deployments": ["east/m", "e2/m"], "retry_policy": {"use": "none"}}},
    }
    check_config(Config.from_dict(data), _registry([FakeProvider("east")]))


# --- the pool state store ---------------------------------------------------------------


class CountingState(MemoryPoolState):
    """The memory store, counting reads; ``broken`` makes every call raise."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.broken = False

    def read(self, pool, deployments, now):
        self.reads += 1
        if self.broken:
            raise ConnectionError("state store down")
        return super().read(pool, deployments, now)

    def end(self, pool, deployment, tokens, now, latency_s=None):
        if self.broken:
            raise ConnectionError("state store down")
        super().end(pool, deployment, tokens, now, latency_s)


@hookimpl
def modelbus_register_pool_states(register: Callable[..., None]) -> None:
    register("counting", CountingState, description="the memory store, counted")


def _with_counting(reg: Registry) -> None:
    errors: list[BaseException] = []
    modelbus_register_pool_states(reg.registrar("pool_states", "tests-counting", None, errors))
    assert not errors


def test_a_plugins_pool_state_store_is_used_and_its_failures_are_visible(capsys):
    clock = FakeClock()
    c, fakes = client_for(
        {"m": {"deployments": DEPS}}, clock, core={"pool_state": "counting"}, extra=_with_counting
    )
    c.chat("a", model="m")
    store = c.provider("pool:m").inner.state
    assert isinstance(store, CountingState) and store.reads == 1
    store.broken = True
    with pytest.raises(PluginError, match="store 'counting' cannot be read.*nothing was sent"):
        c.chat("b", model="m")
    assert sum(calls(fakes)) == 1
    # a record that fails after the answer is logged, never raised
    store.broken = False
    real_end = store.end
    store.end = lambda *a: (_ for _ in ()).throw(ConnectionError("gone"))  # type: ignore[method-assign]
    assert c.chat("c", model="m").content == "echo: c"
    store.end = real_end  # type: ignore[method-assign]
    assert "pool_state_failed" in capsys.readouterr().err


def test_a_pool_is_a_rate_limited_route_per_deployment():
    clock = FakeClock()
    c, fakes = client_for(
        {"m": {"deployments": ["east/m", "west/m"], "strategy": "usage"}},
        clock,
        "east",
        "west",
        rate_limits={"east": {"rpm": 2}, "west": {"rpm": 100}},
    )
    for i in range(20):
        c.chat(f"q{i}", model="m")
    # usage routing keeps east (2 rpm) under its limit: no call waited on it
    assert fakes["east"].calls <= 2 and clock.sleeps == []


def test_a_rate_limit_error_too_long_to_wait_still_moves_to_another_deployment():
    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": DEPS}}, clock)
    fakes["east"].enqueue_error(429, "quota", headers={"Retry-After": "3600"})
    c.provider("pool:m").inner.random = lambda: 0.0
    assert c.chat("x", model="m").attempts == 2  # not a RateLimitError at once


def test_every_deployment_cooling_leaves_the_retry_to_the_policy():
    clock = FakeClock()
    c, fakes = client_for({"m": {"deployments": ["east/m", "west/m"]}}, clock, "east", "west")
    for f in fakes.values():
        f.enqueue_error(429, "slow", headers={"Retry-After": "2"})
    r = c.chat("x", model="m")
    assert r.attempts == 3
    assert clock.sleeps[-1] == 2.0  # the last Retry-After, once both were cooling
    for f in fakes.values():
        for _ in range(3):
            f.enqueue_error(429, "slow", headers={"Retry-After": "1"})
    with pytest.raises(RetryError) as info:
        c.chat("y", model="m")
    assert all(isinstance(a.error, RateLimitError) for a in info.value.attempts)


@pytest.mark.parametrize(
    ("status", "cools"),
    [
        (429, True),
        (408, True),
        (409, True),
        (500, True),
        (503, True),
        (400, False),
        (401, False),
        (404, False),
    ],
)
def test_which_answers_cool_a_deployment(status, cools):
    from modelbus._pools.router import cools_down
    from modelbus.errors import APIConnectionError, APITimeoutError, ProviderError

    assert cools_down(ProviderError("x", status_code=status)) is cools
    assert cools_down(APITimeoutError("slow")) and cools_down(APIConnectionError("refused"))
    assert cools_down(TimeoutError()) and not cools_down(ValueError())


def test_the_logical_model_of_a_pool():
    cfg = Config.from_dict(
        {
            "models": {
                "same": {"deployments": ["a/gpt-4o", "b/gpt-4o"]},
                "mixed": {"deployments": ["a/gpt-4o", "b/gpt-4o-2024-08-06"]},
                "named": {"deployments": ["a/x", "b/y"], "model": "gpt-4o"},
            }
        }
    )
    from modelbus._routing.resolve import logical_model

    assert [logical_model(n, a) for n, a in cfg.models.items()] == ["gpt-4o", "mixed", "gpt-4o"]


def test_a_deployments_rate_limit_is_waited_on_inside_its_attempt():
    clock = FakeClock()
    c, fakes = client_for(
        {"m": {"deployments": ["east/m", "west/m"]}},
        clock,
        "east",
        "west",
        rate_limits={"east/m": {"rpm": 60}, "pool:m": {"rpm": 1000}},
    )
    c.provider("pool:m").inner.random = lambda: 0.0  # always east
    for i in range(62):
        c.chat(f"q{i}", model="m")
    assert fakes["east"].calls == 62 and fakes["west"].calls == 0
    assert abs(sum(clock.sleeps) - 2.0) < 1e-6  # 60 rpm: the 61st and 62nd waited 1 s each


def test_a_models_retry_policy_brings_its_deadline():
    from modelbus._engine import call_options

    models = {
        "m": {
            "provider": "east",
            "model": "m",
            "retry_policy": {"use": "exponential", "deadline_s": 7},
        }
    }
    c, _ = client_for(models, FakeClock(), "east")
    assert call_limits(c, c.route("m"), call_options("use", None, (), None)).deadline_s == 7
    assert call_limits(c, c.route("east/m"), call_options("use", None, (), None)).deadline_s is None


def test_budgets_charge_a_pools_calls_at_its_logical_models_price():
    clock = FakeClock()
    catalog = {"m": {"input_per_1m": 1000.0, "output_per_1m": 1000.0, "context_window": 1000}}
    models = {"m": {"deployments": DEPS, "params": {"max_tokens": 10}, "max_cost_usd": 0.1}}
    c, fakes = client_for(
        models, clock, catalog=catalog, budgets={"all": {"max_cost_usd": 1.0, "models": ["m"]}}
    )
    with pytest.raises(BudgetExceededError, match=r"models\.m\.max_cost_usd"):
        for i in range(50):
            c.chat(f"q{i}", model="m")
    sent = sum(calls(fakes))
    assert 0 < sent < 50 and c.usage_totals.cost_usd <= 0.1


def test_an_instance_name_works_wherever_a_provider_is_named():
    clock = FakeClock()
    models = {
        "main": {
            "provider": "east",
            "model": "m",
            "fallbacks": ["east2/backup"],
            "retry_policy": "none",  # no jittered sleeps before the fallback
        }
    }
    c, fakes = client_for(
        models,
        clock,
        "east",
        providers={"east2": {"use": "east"}},
        rate_limits={"east2": {"rpm": 60}},
    )
    assert c.route("east2/m").provider == "east2"
    assert c.chat("direct", model="east2/m").provider == "east2"
    fakes["east"].enqueue_error(500, "down")
    r = c.chat("fall", model="main")
    assert (r.provider, r.model) == ("east2", "backup")  # through the fallback
    before = len(clock.sleeps)
    for i in range(60):
        c.chat(f"q{i}", model="east2/m")
    # its own [rate_limits."east2"]: 60 rpm and 62 calls on it: the last two wait 1 s
    assert before == 0 and clock.sleeps == [1.0, 1.0]


def test_a_client_refuses_a_pool_with_an_unknown_deployment():
    with pytest.raises(ConfigError) as info:
        client_for({"m": {"deployments": ["east/m", "nowhere/m"]}}, FakeClock(), "east")
    assert info.value.key == "models.m.deployments[1]" and "east" in info.value.accepted


def call_limits(c: Any, route: Any, o: Any) -> Any:
    """The time limits the engine gives a call on ``route`` with options ``o``."""
    from modelbus import ChatRequest, Message
    from modelbus._engine import Call

    req = ChatRequest(model=route.model, messages=(Message("user", "q"),))
    return c.engine.limits(Call(route, req, o))


def test_a_models_retry_policy_applies_to_embeddings() -> None:
    models = {
        "once": {"provider": "east", "model": "m", "retry_policy": "none"},
        "plain": {"provider": "east", "model": "m"},
    }
    c, fakes = client_for(models, FakeClock(), "east")
    tries: list[str] = []

    def failing(request: Any) -> Any:
        tries.append(request.model)
        raise modelbus.errors.ServerError("down", status_code=503, provider="east")

    fakes["east"].embed = failing  # type: ignore[method-assign]
    with pytest.raises(modelbus.errors.ServerError):
        c.embed("x", model="once")  # the model's policy: no retries
    assert len(tries) == 1
    with pytest.raises(modelbus.errors.RetryError):
        c.embed("x", model="plain")  # the client's policy retries
    assert len(tries) > 2
