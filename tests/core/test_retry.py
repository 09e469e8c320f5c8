"""Retries through a real Client with the FakeProvider and a FakeClock (never sleeping)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from modelbus._retry.retry_after import retry_after_seconds
from modelbus._retry.runner import is_retryable, retry_call
from modelbus.builtins.retry import ExponentialBackoff, ExponentialSettings
from modelbus.errors import (
    BadRequestError,
    ConfigError,
    RateLimitError,
    RetryError,
    ServerError,
)
from modelbus.testing import FakeClock, FakeProvider, FakeReply, make_client
from modelbus.testing.strategies import FIXED_NOW, retry_after_headers


def _client(fp: FakeProvider, clock: FakeClock, **policy: object):
    cfg = {"retry_policies": {"exponential": policy}} if policy else {}
    return make_client(fp, cfg, clock=clock, cache="none")


# --- the scenarios, sync and async ---------------------------------------------


def test_500_500_200_is_three_attempts_and_success(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(500).enqueue_error(500).enqueue_text("ok")
    with _client(fake_provider, fake_clock) as c:
        resp = c.chat("hi")
    assert resp.content == "ok" and resp.attempts == 3
    assert fake_provider.calls == 3 and len(fake_clock.sleeps) == 2
    # Default full jitter: retry n waits within [0, min(8, 0.5 * 2**(n-1))].
    assert 0 <= fake_clock.sleeps[0] <= 0.5 and 0 <= fake_clock.sleeps[1] <= 1.0


async def test_500_500_200_async(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(500).enqueue_error(502).enqueue_text("ok")
    async with _client(fake_provider, fake_clock) as c:
        resp = await c.achat("hi")
    assert resp.content == "ok" and resp.attempts == 3 and fake_provider.calls == 3


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "2"},
        {"retry-after-ms": "2000"},
        {"retry-after-ms": "2000", "Retry-After": "9"},
    ],
)
def test_429_retry_after_2_sleeps_2_seconds(fake_provider, fake_clock, headers) -> None:
    fake_provider.enqueue_error(429, headers=headers).enqueue_text("ok")
    with _client(fake_provider, fake_clock) as c:
        assert c.chat("hi").attempts == 2
    assert fake_clock.sleeps == [2.0]


async def test_429_retry_after_http_date_async(fake_provider, fake_clock) -> None:
    # RFC 9110 §10.2.3: an HTTP-date 30 s after "now" means wait 30 s.
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()
    hint = retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}, now=lambda: now)
    err = RateLimitError("slow down", status_code=429, retry_after_s=hint)
    fake_provider.enqueue(FakeReply(error=err)).enqueue_text("ok")
    async with _client(fake_provider, fake_clock) as c:
        assert (await c.achat("hi")).attempts == 2
    assert fake_clock.sleeps == [30.0]


def test_retry_after_date_in_the_past_uses_the_backoff(fake_provider, fake_clock) -> None:
    past = format_datetime(datetime(2001, 1, 1, tzinfo=UTC), usegmt=True)
    fake_provider.enqueue_error(429, headers={"Retry-After": past}).enqueue_text("ok")
    with _client(fake_provider, fake_clock) as c:
        assert c.chat("hi").attempts == 2
    assert len(fake_clock.sleeps) == 1 and 0 <= fake_clock.sleeps[0] <= 0.5


def test_x_should_retry_false_is_one_attempt(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(503, headers={"x-should-retry": "false"})
    with _client(fake_provider, fake_clock) as c, pytest.raises(ServerError):
        c.chat("hi")
    assert fake_provider.calls == 1 and fake_clock.sleeps == []


def test_x_should_retry_true_retries_a_400(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(400, headers={"x-should-retry": "true"}).enqueue_text("ok")
    with _client(fake_provider, fake_clock) as c:
        assert c.chat("hi").attempts == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_one_attempt(fake_provider, fake_clock, status) -> None:
    fake_provider.enqueue_error(status)
    with _client(fake_provider, fake_clock) as c, pytest.raises(Exception) as info:
        c.chat("hi")
    assert getattr(info.value, "status_code", None) == status
    assert not isinstance(info.value, RetryError)
    assert fake_provider.calls == 1 and fake_clock.sleeps == []


def test_400_after_a_retry_is_raised_as_is(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(500).enqueue_error(400)
    with _client(fake_provider, fake_clock) as c, pytest.raises(BadRequestError) as info:
        c.chat("hi")
    assert fake_provider.calls == 2
    assert any("earlier attempt" in n for n in info.value.__notes__)


def test_always_503_with_deadline_2_gives_retry_error_within_deadline(
    fake_provider, fake_clock
) -> None:
    for _ in range(200):
        fake_provider.enqueue_error(503, latency_s=0.05)
    with (
        _client(
            fake_provider, fake_clock, max_attempts=100, deadline_s=2.0, initial_delay_s=0.1
        ) as c,
        pytest.raises(RetryError) as info,
    ):
        c.chat("hi")
    err = info.value
    delays = [a.delay_s for a in err.attempts[:-1]]
    assert 0 < sum(delays) <= 2.0
    assert len(err.attempts) == fake_provider.calls > 2
    # The clock slept each attempt's latency (0.05 s) and each retry delay in turn; no
    # retry started after the 2 s deadline.
    expected = [x for d in delays for x in (0.05, d)] + [0.05]
    assert fake_clock.sleeps == expected
    assert fake_clock.now - 0.05 <= 2.0
    assert err.attempts[-1].delay_s == 0.0
    assert {(a.error_type, a.status_code) for a in err.attempts} == {("ServerError", 503)}
    assert isinstance(err.last_error, ServerError) and err.__cause__ is err.last_error
    assert "attempt 1: ServerError 503" in str(err)


def test_exhaustion_lists_every_attempt(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(500).enqueue_error(429).enqueue_error(503)
    with _client(fake_provider, fake_clock) as c, pytest.raises(RetryError) as info:
        c.chat("hi")
    got = [(a.error_type, a.status_code) for a in info.value.attempts]
    assert got == [("ServerError", 500), ("RateLimitError", 429), ("ServerError", 503)]


def test_insufficient_quota_is_not_retried(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(429, code="insufficient_quota")
    with _client(fake_provider, fake_clock) as c, pytest.raises(RateLimitError) as info:
        c.chat("hi")
    assert info.value.code == "insufficient_quota"
    assert fake_provider.calls == 1 and fake_clock.sleeps == []


def test_insufficient_quota_is_not_retryable_even_if_marked_retryable() -> None:
    err = RateLimitError("quota", status_code=429, code="insufficient_quota", retryable=True)
    assert not is_retryable(err)


def test_retry_after_above_cap_fails_at_once(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(429, headers={"Retry-After": "300"}).enqueue_text("never")
    with _client(fake_provider, fake_clock) as c, pytest.raises(RateLimitError) as info:
        c.chat("hi")
    assert info.value.retry_after_s == 300.0
    assert fake_provider.calls == 1 and fake_clock.sleeps == []


async def test_503_with_too_long_retry_after_becomes_rate_limit_error(
    fake_provider, fake_clock
) -> None:
    fake_provider.enqueue_error(503, headers={"retry-after-ms": "45000"})
    async with _client(fake_provider, fake_clock, max_retry_after_s=30.0) as c:
        with pytest.raises(RateLimitError) as info:
            await c.achat("hi")
    assert info.value.retry_after_s == 45.0 and info.value.status_code == 503
    assert isinstance(info.value.__cause__, ServerError)
    assert "above max_retry_after_s=30s" in str(info.value)


def test_retry_after_within_cap_may_exceed_max_delay(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(429, headers={"Retry-After": "100"}).enqueue_text("ok")
    with _client(fake_provider, fake_clock) as c:
        c.chat("hi")
    assert fake_clock.sleeps == [100.0]


def test_each_retry_is_a_structlog_event(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(500).enqueue_error(429, headers={"Retry-After": "1"})
    fake_provider.enqueue_text("ok")
    with _client(fake_provider, fake_clock) as c, capture_logs() as logs:
        c.chat("hi", model="fake-model")
    events = [e for e in logs if e["event"] == "modelbus.retry"]
    assert [(e["attempt"], e["status"], e["error_type"]) for e in events] == [
        (1, 500, "ServerError"),
        (2, 429, "RateLimitError"),
    ]
    assert events[1]["delay_s"] == 1.0 and events[0]["provider"] == "fake"


def test_none_policy_never_retries(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(500)
    with (
        make_client(
            fake_provider, {"modelbus": {"retry_policy": "none", "cache": "none"}}, clock=fake_clock
        ) as c,
        pytest.raises(ServerError),
    ):
        c.chat("hi")
    assert fake_provider.calls == 1


def test_streams_retry_until_the_first_chunk(fake_provider, fake_clock) -> None:
    fake_provider.enqueue_error(500).enqueue_text("streamed")
    with _client(fake_provider, fake_clock) as c:
        s = c.stream("hi")
        text = "".join(ch.content or "" for ch in s)
    assert text == "streamed" and s.response.attempts == 2


def test_embed_is_retried(fake_provider, fake_clock) -> None:
    calls = []
    inner = fake_provider.embed

    def flaky(req):
        calls.append(req)
        if len(calls) == 1:
            raise ServerError("down", status_code=503)
        return inner(req)

    fake_provider.embed = flaky
    with _client(fake_provider, fake_clock) as c:
        assert c.embed("x").attempts == 2


# --- the retry quota: tests/core/test_retry_quota.py ----------------------------------


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="jitter"):
        make_client(FakeProvider(), {"retry_policies": {"exponential": {"jitter": "wild"}}})
    with pytest.raises(ConfigError, match="retry_cost"):
        make_client(FakeProvider(), {"modelbus": {"retry_budget": {"retry_cost": -1}}})
    with pytest.raises(ConfigError, match="max_atempts"):
        make_client(FakeProvider(), {"retry_policies": {"exponential": {"max_atempts": 2}}})


# --- the policy's formulas (AWS "Exponential Backoff and Jitter") -----------------------

_503 = ServerError("down", status_code=503)


@given(st.floats(0, 1, exclude_max=True), st.integers(1, 2000))
def test_full_and_equal_jitter_formulas(r: float, attempt: int) -> None:
    s = dict(max_attempts=10_000, initial_delay_s=0.5, max_delay_s=8.0)
    ceiling = min(8.0, 0.5 * 2.0 ** min(attempt - 1, 100))
    full = ExponentialBackoff(ExponentialSettings(**s), random=lambda: r)
    equal = ExponentialBackoff(ExponentialSettings(**s, jitter="equal"), random=lambda: r)
    none = ExponentialBackoff(ExponentialSettings(**s, jitter="none"), random=lambda: r)
    assert full.next_delay(attempt, _503, 0.0) == pytest.approx(ceiling * r)
    assert equal.next_delay(attempt, _503, 0.0) == pytest.approx(ceiling / 2 + ceiling / 2 * r)
    assert none.next_delay(attempt, _503, 0.0) == ceiling


def test_decorrelated_jitter_follows_the_aws_formula() -> None:
    # sleep = min(cap, random_between(base, sleep * 3)), sleep starting at base.
    rng = random.Random(7)
    draws = [rng.random() for _ in range(30)]
    it = iter(draws)
    p = ExponentialBackoff(
        ExponentialSettings(
            max_attempts=100, jitter="decorrelated", initial_delay_s=0.5, max_delay_s=8.0
        ),
        random=lambda: next(it),
    )
    sleep, prev = 0.5, None
    for attempt, r in enumerate(draws, 1):
        expected = min(8.0, 0.5 + (sleep * 3 - 0.5) * r)
        got = p.next_delay(attempt, _503, 0.0, prev)
        assert got == pytest.approx(expected)
        sleep = prev = got


def test_defaults_match_openai_python() -> None:
    s = ExponentialSettings()
    assert (s.initial_delay_s, s.max_delay_s, s.max_attempts) == (0.5, 8.0, 3)
    assert s.max_retry_after_s == 120.0


def test_runner_records_attempts_and_passes_previous_delay() -> None:
    seen = []

    class Spy:
        def next_delay(self, attempt, error, elapsed_s, previous_delay_s=None):
            seen.append((attempt, elapsed_s, previous_delay_s))
            return 1.5 if attempt < 3 else None

    clock = FakeClock()

    def fail():
        clock.advance(0.25)
        raise _503

    with pytest.raises(RetryError) as info:
        retry_call(fail, Spy(), clock=clock.as_clock())
    assert seen == [(1, 0.25, None), (2, 2.0, 1.5), (3, 3.75, 1.5)]
    assert [a.delay_s for a in info.value.attempts] == [1.5, 1.5, 0.0]


# --- Retry-After parsing (RFC 9110 §10.2.3) -----------------------------------------


@given(retry_after_headers())
def test_retry_after_headers_parse_to_their_seconds(hv: tuple[dict[str, str], float]) -> None:
    headers, seconds = hv
    assert retry_after_seconds(headers, now=lambda: FIXED_NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["soon", "-5", "", "Wed, 99 Foo 2015 07:28:00 GMT"])
def test_malformed_retry_after_counts_as_absent(value: str) -> None:
    assert retry_after_seconds({"Retry-After": value}) is None
