"""Client-side rpm/tpm limits: the waits on a FakeClock, sync and async, and the plugin seam."""

from __future__ import annotations

import threading

import pytest

from modelbus import Client, Clock, hookimpl
from modelbus._config.config import Config, RateLimit
from modelbus._plugins.loading import load_plugins
from modelbus._plugins.registry import Registration
from modelbus.builtins.ratelimit import LocalRateLimiter
from modelbus.errors import PluginError
from modelbus.protocols import RateLimiter
from modelbus.testing import FakeClock, FakeProvider, make_client


def _client(fp: FakeProvider, clock: FakeClock, limits: dict, **core: object) -> Client:
    cfg = {"modelbus": {"cache": "none", **core}, "rate_limits": limits}
    return make_client(fp, cfg, clock=clock)


def test_rpm_limit_sleeps_when_the_minute_is_spent(fake_provider, fake_clock) -> None:
    with _client(fake_provider, fake_clock, {"fake": {"rpm": 2}}) as c:
        for _ in range(4):
            c.chat("hi")
    # Two requests fit the full bucket; then one request refills every 30 s.
    assert fake_clock.sleeps == [30.0, 30.0]
    assert fake_provider.calls == 4


async def test_rpm_limit_async(fake_provider, fake_clock) -> None:
    async with _client(fake_provider, fake_clock, {"fake": {"rpm": 2}}) as c:
        for _ in range(4):
            await c.achat("hi")
    assert fake_clock.sleeps == [30.0, 30.0]


def _expected_tpm_waits(per_call: int, tpm: float, calls: int) -> list[float]:
    level, waits = tpm, []
    for _ in range(calls):
        level -= per_call
        if level < 0:
            wait = -level * 60.0 / tpm
            waits.append(wait)
            level = 0.0  # refilled exactly to zero while waiting
    return waits


def test_tpm_limit_counts_prompt_tokens_plus_max_tokens(fake_provider, fake_clock) -> None:
    with _client(fake_provider, fake_clock, {"fake": {"tpm": 1000}}) as c:
        per_call = c.count_tokens("hello there", model="fake-model") + 400
        for _ in range(4):
            c.chat("hello there", max_tokens=400)
    expected = _expected_tpm_waits(per_call, 1000, 4)
    assert len(expected) >= 1
    assert fake_clock.sleeps == pytest.approx(expected)


async def test_tpm_limit_async(fake_provider, fake_clock) -> None:
    async with _client(fake_provider, fake_clock, {"fake": {"tpm": 1000}}) as c:
        per_call = c.count_tokens("hello there", model="fake-model") + 300
        for _ in range(5):
            await c.achat("hello there", max_completion_tokens=300)
    assert fake_clock.sleeps == pytest.approx(_expected_tpm_waits(per_call, 1000, 5))


def test_model_key_limits_only_that_model(fake_provider, fake_clock) -> None:
    with _client(fake_provider, fake_clock, {"fake/slow-model": {"rpm": 1}}) as c:
        for _ in range(3):
            c.chat("hi", model="fake-model")
        assert fake_clock.sleeps == []
        c.chat("hi", model="slow-model")
        c.chat("hi", model="slow-model")
    assert fake_clock.sleeps == [60.0]


def test_provider_and_model_limits_both_apply(fake_provider, fake_clock) -> None:
    limits = {"fake": {"rpm": 120}, "fake/fake-model": {"rpm": 1}}
    with _client(fake_provider, fake_clock, limits) as c:
        c.chat("a")
        c.chat("b")
    assert fake_clock.sleeps == [60.0]


def test_time_passing_refills_the_bucket(fake_provider, fake_clock) -> None:
    with _client(fake_provider, fake_clock, {"fake": {"rpm": 1}}) as c:
        c.chat("a")
        fake_clock.advance(45.0)
        c.chat("b")  # 15 s of the minute still to go
        fake_clock.advance(60.0)
        c.chat("c")
    assert fake_clock.sleeps == [15.0]


def test_cache_hits_do_not_count(fake_provider, fake_clock) -> None:
    cfg = {"modelbus": {"cache": "memory"}, "rate_limits": {"fake": {"rpm": 1}}}
    with make_client(fake_provider, cfg, clock=fake_clock) as c:
        c.chat("same")
        assert c.chat("same").cached
    assert fake_clock.sleeps == [] and fake_provider.calls == 1


def test_a_limited_call_is_counted_once_across_retries(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(429, headers={"Retry-After": "1"}).enqueue_text("ok")
    with _client(fake_provider, fake_clock, {"fake": {"rpm": 60}}) as c:
        assert c.chat("hi").attempts == 2
    assert fake_clock.sleeps == [1.0]  # the Retry-After only: the limit had room


def test_reservations_queue_in_arrival_order() -> None:
    lim = LocalRateLimiter()
    limit = RateLimit(rpm=1)
    waits = [lim.reserve("k", 0, limit, now=100.0) for _ in range(4)]
    assert waits == [0.0, 60.0, 120.0, 180.0]
    # A minute later the queue has moved on by one request.
    assert lim.reserve("k", 0, limit, now=160.0) == 180.0


def test_a_request_larger_than_the_minute_waits_for_the_refill() -> None:
    lim = LocalRateLimiter()
    assert lim.reserve("k", 3000, RateLimit(tpm=1000), now=0.0) == pytest.approx(120.0)


def test_threads_share_one_bucket() -> None:
    lim = LocalRateLimiter()
    limit = RateLimit(rpm=6)
    slept: list[float] = []

    async def no_asleep(s: float) -> None:
        slept.append(s)

    # Time stands still, so each wait is exactly the debt in front of the request.
    clock = Clock(lambda: 0.0, slept.append, no_asleep)
    waited: list[float] = []
    lock = threading.Lock()

    def go() -> None:
        w = lim.acquire("k", 0, limit, clock)
        with lock:
            waited.append(w)

    threads = [threading.Thread(target=go) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 6 fit the full bucket; the other 6 queue 10 s apart (6 per minute).
    assert sorted(waited) == [0.0] * 6 + [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert sorted(slept) == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]


def test_local_limiter_is_registered_and_fits_the_protocol() -> None:
    reg = load_plugins().registry
    assert ("rate_limiters", "local") in reg
    assert isinstance(reg.get("rate_limiters", "local").factory(), RateLimiter)


def test_unknown_rate_limiter_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match="local"):
        make_client(FakeProvider(), {"modelbus": {"rate_limiter": "nope"}})


class _Recording:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, RateLimit]] = []

    def acquire(self, key, tokens, limit, clock) -> float:
        self.calls.append((key, tokens, limit))
        clock.sleep(0.5)
        return 0.5

    async def aacquire(self, key, tokens, limit, clock) -> float:
        return self.acquire(key, tokens, limit, clock)


async def test_a_plugin_limiter_gets_key_tokens_limit_and_clock(fake_clock) -> None:
    rec = _Recording()

    @hookimpl
    def modelbus_register_rate_limiters(register) -> None:
        register("recording", lambda: rec)

    fp = FakeProvider(clock=fake_clock)
    cfg = Config.from_dict(
        {
            "modelbus": {"provider": "fake", "cache": "none", "rate_limiter": "recording"},
            "rate_limits": {"fake": {"rpm": 10, "tpm": 5000}},
        }
    )
    reg = load_plugins().registry.copy()
    reg.add(Registration("providers", "fake", lambda: fp, plugin="test"))
    modelbus_register_rate_limiters(reg.registrar("rate_limiters", "test", None, []))
    async with Client(cfg, clock=fake_clock.as_clock(), registry=reg) as c:
        await c.achat("hi", max_tokens=7)
        c.chat("hi", max_tokens=7)
        prompt = c.count_tokens("hi", model="fake-model")
    assert rec.calls == [("fake", prompt + 7, RateLimit(10, 5000))] * 2
    assert fake_clock.sleeps == [0.5, 0.5]
