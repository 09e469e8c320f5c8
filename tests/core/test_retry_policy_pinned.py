"""The ``exponential`` policy and the retry-hint headers at their boundaries: a hint equal
to the cap, a delay ending exactly at the deadline, the last attempt, each jitter's
formula with a fixed random draw, and the header forms of RFC 9110 §10.2.3."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from modelbus._retry.retry_after import retry_after_seconds, should_retry_header
from modelbus.builtins.retry import ExponentialBackoff, ExponentialSettings, NoRetry
from modelbus.errors import BadRequestError, RateLimitError, ServerError


def policy(r: float = 0.25, **settings: object) -> ExponentialBackoff:
    return ExponentialBackoff(ExponentialSettings(**settings), random=lambda: r)  # type: ignore[arg-type]


def e503() -> ServerError:
    return ServerError("x", status_code=503)


def hinted(seconds: float) -> RateLimitError:
    return RateLimitError("x", status_code=429, retry_after_s=seconds)


def test_a_hint_equal_to_the_cap_is_the_delay_and_above_it_stops() -> None:
    p = policy(max_retry_after_s=30.0, max_delay_s=1.0)
    assert p.next_delay(1, hinted(30.0), 0.0) == 30.0
    assert p.next_delay(1, hinted(30.001), 0.0) is None
    assert p.max_retry_after_s == 30.0


def test_a_zero_hint_falls_back_to_the_backoff() -> None:
    p = policy(r=0.5, jitter="full", initial_delay_s=2.0)
    assert p.next_delay(1, hinted(0.0), 0.0) == 1.0


def test_a_delay_ending_exactly_at_the_deadline_is_allowed() -> None:
    p = policy(jitter="none", initial_delay_s=2.0, deadline_s=10.0, max_attempts=9)
    assert p.deadline_s == 10.0
    assert p.next_delay(1, e503(), 8.0) == 2.0
    assert p.next_delay(1, e503(), 8.001) is None
    assert policy(jitter="none").deadline_s is None


def test_the_last_attempt_and_non_retryable_errors_stop() -> None:
    p = policy(jitter="none", max_attempts=3)
    assert p.next_delay(2, e503(), 0.0) == 1.0
    assert p.next_delay(3, e503(), 0.0) is None
    assert p.next_delay(1, BadRequestError("x", status_code=400), 0.0) is None
    assert NoRetry().next_delay(1, e503(), 0.0) is None


def test_the_ceiling_grows_by_the_multiplier_up_to_max_delay() -> None:
    p = policy(initial_delay_s=0.5, multiplier=3.0, max_delay_s=10.0)
    assert [p.ceiling(n) for n in (1, 2, 3, 4)] == [0.5, 1.5, 4.5, 10.0]
    assert p.ceiling(10_000) == 10.0  # the power overflows: still the cap
    assert policy(initial_delay_s=0.0).ceiling(5) == 0.0
    assert policy(initial_delay_s=0.0, multiplier=1e308).ceiling(10_000) == 0.0


@pytest.mark.parametrize(
    ("jitter", "attempt", "previous", "want"),
    [
        ("full", 3, None, 2.0 * 0.25),  # ceiling 2 * r
        ("equal", 3, None, 1.0 + 1.0 * 0.25),  # c/2 + c/2 * r
        ("none", 3, None, 2.0),
        ("decorrelated", 1, None, 0.5 + (1.5 - 0.5) * 0.25),  # previous = base
        ("decorrelated", 2, 2.0, 0.5 + (6.0 - 0.5) * 0.25),
        ("decorrelated", 2, 0.1, 0.5),  # high = max(base, 0.3) = base
        ("decorrelated", 5, 100.0, 8.0),  # capped at max_delay_s
    ],
)
def test_jitter_formulas(jitter: str, attempt: int, previous: float | None, want: float) -> None:
    p = policy(r=0.25, jitter=jitter, initial_delay_s=0.5, multiplier=2.0, max_delay_s=8.0,
               max_attempts=10)  # fmt: skip
    assert p.next_delay(attempt, e503(), 0.0, previous) == pytest.approx(want)


def test_defaults_are_openai_pythons() -> None:
    s = ExponentialSettings()
    assert (s.max_attempts, s.initial_delay_s, s.multiplier, s.max_delay_s) == (3, 0.5, 2.0, 8.0)
    assert (s.jitter, s.deadline_s, s.max_retry_after_s) == ("full", None, 120.0)


@pytest.mark.parametrize(
    "bad",
    [{"max_attempts": 0}, {"initial_delay_s": -1}, {"multiplier": 0.9}, {"max_delay_s": -1},
     {"jitter": "random"}, {"deadline_s": -1}, {"max_retry_after_s": -1}],
)  # fmt: skip
def test_settings_reject(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ExponentialSettings(**bad)  # type: ignore[arg-type]


def test_settings_accept_their_bounds() -> None:
    ExponentialSettings(max_attempts=1, initial_delay_s=0, multiplier=1, max_delay_s=0,
                        deadline_s=0, max_retry_after_s=0)  # fmt: skip


# --- the headers ---------------------------------------------------------------------------
NOW = 1_700_000_000.0


def at(offset: float) -> str:
    return format_datetime(datetime.fromtimestamp(NOW + offset, tz=UTC), usegmt=True)


@pytest.mark.parametrize(
    ("headers", "want"),
    [
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"Retry-After-Ms": "0"}, 0.0),
        ({"retry-after-ms": "-5", "retry-after": "9"}, 9.0),  # negative ms: absent
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),  # malformed ms: absent
        ({"RETRY-AFTER": " 7 "}, 7.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-1"}, None),
        ({"retry-after": at(42)}, 42.0),
        ({"retry-after": at(-42)}, 0.0),  # a date in the past
        ({"retry-after": "Someday, 99 Foo 2024"}, None),
        ({"retry-after": ""}, None),
        ({}, None),
        ({"x-other": "5"}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], want: float | None) -> None:
    assert retry_after_seconds(headers, now=lambda: NOW) == want


@pytest.mark.parametrize(
    ("headers", "want"),
    [
        ({"x-should-retry": "true"}, True),
        ({"X-Should-Retry": " TRUE "}, True),
        ({"x-should-retry": "False"}, False),
        ({"x-should-retry": "yes"}, None),
        ({"x-other": "true"}, None),
        ({}, None),
    ],
)
def test_should_retry_header(headers: dict[str, str], want: bool | None) -> None:
    assert should_retry_header(headers) is want
