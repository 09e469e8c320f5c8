"""The ``local`` limiter's buckets, number by number (``reserve`` is the I/O-free core of
``acquire``/``aacquire``), and the client step that picks the limits and logs the waits."""

from __future__ import annotations

import pytest
import structlog

from modelbus._config.config import RateLimit
from modelbus.builtins.ratelimit import LocalRateLimiter
from modelbus.testing import FakeClock, FakeProvider, make_client


def test_each_bucket_holds_a_minute_and_refills_continuously() -> None:
    lim = LocalRateLimiter()
    both = RateLimit(rpm=2, tpm=600)
    assert lim.reserve("k", 300, both, now=1000.0) == 0.0
    assert lim.reserve("k", 300, both, now=1000.0) == 0.0  # both buckets now empty
    # 10 s later: 100 tokens and 1/3 request back; 300 tokens need 20 s more, the
    # request 20 s more as well.
    assert lim.reserve("k", 300, both, now=1010.0) == pytest.approx(20.0)
    # A long pause refills to the cap (one minute's allowance), not beyond.
    assert lim.reserve("k", 600, both, now=5000.0) == 0.0
    assert lim.reserve("k", 1, both, now=5000.0) == pytest.approx(0.1)


def test_the_longer_of_the_two_waits_counts() -> None:
    lim = LocalRateLimiter()
    assert lim.reserve("k", 900, RateLimit(rpm=60, tpm=600), now=50.0) == pytest.approx(30.0)
    lim = LocalRateLimiter()
    for _ in range(60):
        lim.reserve("r", 0, RateLimit(rpm=60, tpm=600), now=50.0)
    assert lim.reserve("r", 0, RateLimit(rpm=60, tpm=600), now=50.0) == pytest.approx(1.0)


def test_keys_have_their_own_buckets_and_negative_tokens_count_zero() -> None:
    lim = LocalRateLimiter()
    one = RateLimit(rpm=1)
    assert lim.reserve("a", 0, one, now=7.0) == 0.0
    assert lim.reserve("b", 0, one, now=7.0) == 0.0
    assert lim.reserve("a", 0, one, now=7.0) == 60.0
    t = RateLimit(tpm=60)
    assert lim.reserve("t", -500, t, now=7.0) == 0.0
    assert lim.reserve("t", 60, t, now=7.0) == 0.0
    assert lim.reserve("t", 1, t, now=7.0) == pytest.approx(1.0)


def test_start_empty_waits_for_the_first_refill() -> None:
    lim = LocalRateLimiter(start_full=False)
    assert lim.reserve("k", 0, RateLimit(rpm=6), now=300.0) == pytest.approx(10.0)
    assert lim.reserve("t", 30, RateLimit(tpm=60), now=300.0) == pytest.approx(30.0)


def test_a_clock_going_back_refills_nothing() -> None:
    lim = LocalRateLimiter()
    one = RateLimit(rpm=1)
    assert lim.reserve("k", 0, one, now=100.0) == 0.0
    assert lim.reserve("k", 0, one, now=40.0) == 60.0  # no refill for negative time
    assert lim.reserve("k", 0, one, now=100.0) == 120.0  # the earlier "at" was kept


def test_acquire_sleeps_the_wait_only_when_there_is_one() -> None:
    clock = FakeClock(500.0)
    lim = LocalRateLimiter()
    assert lim.acquire("k", 0, RateLimit(rpm=2), clock.as_clock()) == 0.0
    assert lim.acquire("k", 0, RateLimit(rpm=2), clock.as_clock()) == 0.0
    assert clock.sleeps == []
    assert lim.acquire("k", 0, RateLimit(rpm=2), clock.as_clock()) == 30.0
    assert clock.sleeps == [30.0]


async def test_aacquire_sleeps_the_wait_only_when_there_is_one() -> None:
    clock = FakeClock(500.0)
    lim = LocalRateLimiter()
    assert await lim.aacquire("k", 0, RateLimit(rpm=1), clock.as_clock()) == 0.0
    assert clock.sleeps == []
    assert await lim.aacquire("k", 0, RateLimit(rpm=1), clock.as_clock()) == 60.0
    assert clock.sleeps == [60.0]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_wait_is_logged_with_key_seconds_and_tokens(mode: str) -> None:
    clock = FakeClock(1000.0)
    cfg = {"modelbus": {"cache": "none"}, "rate_limits": {"fake/fake-model": {"rpm": 1}}}
    with (
        make_client(FakeProvider(), cfg, clock=clock) as c,
        structlog.testing.capture_logs() as logs,
    ):
        for _ in range(2):
            if mode == "sync":
                c.chat("hi", model="fake-model")
            else:
                await c.achat("hi", model="fake-model")
    waits = [e for e in logs if e["event"] == "modelbus.rate_limited"]
    assert waits == [
        {"event": "modelbus.rate_limited", "key": "fake/fake-model", "waited_s": 60.0,
         "tokens": 0, "log_level": "info"},
    ]  # fmt: skip
    assert clock.sleeps == [60.0]


def test_a_limit_without_rpm_or_tpm_applies_nothing() -> None:
    clock = FakeClock(1000.0)
    cfg = {"modelbus": {"cache": "none"}, "rate_limits": {"fake": {}}}
    with make_client(FakeProvider(), cfg, clock=clock) as c:
        for _ in range(3):
            c.chat("hi")
    assert clock.sleeps == []


def test_a_sub_second_wait_is_logged_too() -> None:
    clock = FakeClock(1000.0)
    cfg = {"modelbus": {"cache": "none"}, "rate_limits": {"fake": {"tpm": 600}}}
    with make_client(FakeProvider(), cfg, clock=clock) as c:
        reserve = 303 - c.count_tokens("hi", model="fake-model")
        with structlog.testing.capture_logs() as logs:
            c.chat("hi", model="fake-model", max_tokens=reserve)
            c.chat("hi", model="fake-model", max_tokens=reserve)  # 6 tokens short: 0.6 s
    assert clock.sleeps == [pytest.approx(0.6)]
    (event,) = [e for e in logs if e["event"] == "modelbus.rate_limited"]
    assert (event["key"], event["waited_s"], event["tokens"]) == ("fake", 0.6, 303)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_without_an_estimate_the_step_counts_prompt_plus_reserve(mode: str) -> None:
    from modelbus import ChatRequest, Message
    from modelbus._limits.rate_limits import arate_limit, rate_limit, request_tokens
    from modelbus._routing.resolve import Route

    clock = FakeClock(1000.0)
    cfg = {"modelbus": {"cache": "none"}, "rate_limits": {"fake/fake-model": {"tpm": 60}}}
    with make_client(FakeProvider(), cfg, clock=clock) as c:
        route = Route("fake", "fake-model")
        prompt = c.count_tokens("hello there", model="fake-model")
        msgs = (Message("user", "hello there"),)
        capped = ChatRequest(
            model="fake-model", messages=msgs, max_tokens=5, max_completion_tokens=7
        )
        assert request_tokens(c, route, capped) == prompt + 7
        assert (
            request_tokens(c, route, ChatRequest(model="fake-model", messages=msgs, max_tokens=5))
            == prompt + 5
        )
        assert request_tokens(c, route, ChatRequest(model="fake-model", messages=msgs)) == prompt
        req = ChatRequest(model="fake-model", messages=msgs, max_tokens=60 - prompt)
        for _ in range(2):  # the first empties the bucket, the second waits a minute
            if mode == "sync":
                rate_limit(c, route, req)
            else:
                await arate_limit(c, route, req)
    assert clock.sleeps == [pytest.approx(60.0)]
