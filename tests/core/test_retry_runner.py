"""The retry runner (``modelbus._retry.runner``) driven directly, sync and async alike, on a
clock that does not start at 0 (the elapsed time the policy and the deadline see must be
``now - start``): what it passes the policy, the order of its checks, the deadline, the
``Retry-After`` cap at its boundary, the retry quota and the notes it leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from modelbus._engine.timeouts import CallLimits
from modelbus._retry.runner import (
    RetryQuota,
    aretry_call,
    is_retryable,
    max_retry_after,
    retry_call,
)
from modelbus.errors import (
    APITimeoutError,
    BadRequestError,
    RateLimitError,
    RetryError,
    ServerError,
)
from modelbus.testing import FakeClock

START = 1000.0


class Script:
    """A policy that answers the delays given and records what it was asked."""

    def __init__(self, *delays: float | None, max_retry_after_s: float | None = None) -> None:
        self.delays = list(delays)
        self.calls: list[tuple[int, str, float, float | None]] = []
        if max_retry_after_s is not None:
            self.max_retry_after_s = max_retry_after_s

    def next_delay(
        self, attempt: int, error: BaseException, elapsed_s: float, previous: float | None
    ) -> float | None:
        self.calls.append((attempt, type(error).__name__, elapsed_s, previous))
        return self.delays.pop(0) if self.delays else None


def failing(*errors: BaseException, result: str = "ok", clock: FakeClock | None = None,
            takes: float = 0.0) -> Callable[[], str]:  # fmt: skip
    left = list(errors)

    def fn() -> str:
        if clock is not None:
            clock.advance(takes)
        if left:
            raise left.pop(0)
        return result

    return fn


async def run(mode: str, fn: Callable[[], str], policy: Any, **kw: Any) -> tuple[str, int]:
    if mode == "sync":
        return retry_call(fn, policy, **kw)

    async def afn() -> str:
        return fn()

    return await aretry_call(afn, policy, **kw)


MODES = ["sync", "async"]


def err(cls: type = ServerError, **kw: Any) -> Any:
    return cls("boom", provider="p", status_code=kw.pop("status_code", 503), **kw)


@pytest.mark.parametrize("mode", MODES)
async def test_the_policy_sees_elapsed_time_since_the_call_started(mode: str) -> None:
    clock = FakeClock(START)
    policy = Script(1.5, 2.5)
    fn = failing(err(), err(APITimeoutError), clock=clock, takes=0.25)
    seen: list[tuple[int, float]] = []
    got = await run(
        mode, fn, policy, clock=clock.as_clock(), on_retry=lambda a, n: seen.append((n, a.delay_s))
    )
    assert got == ("ok", 3)
    assert policy.calls == [
        (1, "ServerError", 0.25, None),
        (2, "APITimeoutError", 0.25 + 1.5 + 0.25, 1.5),
    ]
    assert clock.sleeps == [1.5, 2.5]
    assert seen == [(1, 1.5), (2, 2.5)]


@pytest.mark.parametrize("mode", MODES)
async def test_a_negative_delay_sleeps_zero(mode: str) -> None:
    clock = FakeClock(START)
    assert await run(mode, failing(err()), Script(-3.0), clock=clock.as_clock()) == ("ok", 2)
    assert clock.sleeps == [0.0]


@pytest.mark.parametrize("mode", MODES)
async def test_the_deadline_counts_from_the_call_start_and_includes_the_delay(mode: str) -> None:
    clock = FakeClock(START)
    limits = CallLimits(deadline_s=10.0)
    # attempt 1 ends at 1 s, +4 s delay = 5 < 10: retried; attempt 2 ends at 6 s,
    # +4 s = 10: the next attempt would start at the deadline, so it stops.
    fn = failing(err(), err(), err(), clock=clock, takes=1.0)
    with pytest.raises(RetryError, match=r"deadline_s=10s reached") as info:
        await run(mode, fn, Script(4.0, 4.0, 4.0), clock=clock.as_clock(), limits=limits)
    assert [a.delay_s for a in info.value.attempts] == [4.0, 0.0]
    assert clock.sleeps == [4.0]
    assert clock.now == START + 6.0


@pytest.mark.parametrize("mode", MODES)
async def test_just_under_the_deadline_is_still_retried(mode: str) -> None:
    clock = FakeClock(START)
    fn = failing(err(), clock=clock, takes=1.0)
    got = await run(
        mode, fn, Script(8.999), clock=clock.as_clock(), limits=CallLimits(deadline_s=10.0)
    )
    assert got == ("ok", 2)


@pytest.mark.parametrize("mode", MODES)
async def test_a_deadline_hit_on_the_first_attempt_raises_the_error_itself(mode: str) -> None:
    clock = FakeClock(START)
    e = err()
    with pytest.raises(ServerError) as info:
        await run(mode, failing(e), Script(5.0), clock=clock.as_clock(),
                  limits=CallLimits(deadline_s=5.0))  # fmt: skip
    assert info.value is e
    assert e.hint.startswith("not retried: deadline_s=5s reached; ")
    assert "not retried: deadline_s=5s reached" in e.__notes__
    assert clock.sleeps == []


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_equal_to_the_cap_is_waited_through_the_runner(mode: str) -> None:
    clock = FakeClock(START)
    e = err(RateLimitError, status_code=429, retry_after_s=30.0)
    policy = Script(30.0, max_retry_after_s=30.0)
    assert await run(mode, failing(e), policy, clock=clock.as_clock()) == ("ok", 2)
    assert clock.sleeps == [30.0]


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_over_the_cap_raises_a_rate_limit_error_at_once(mode: str) -> None:
    clock = FakeClock(START)
    first = err()
    over = err(ServerError, retry_after_s=30.5, request_id="req_9", code="overloaded",
               body={"error": {}})  # fmt: skip
    policy = Script(1.0, 1.0, max_retry_after_s=30.0)
    with pytest.raises(RateLimitError) as info:
        await run(mode, failing(first, over), policy, clock=clock.as_clock())
    e = info.value
    assert e.retry_after_s == 30.5
    assert (e.provider, e.status_code, e.request_id, e.code) == ("p", 503, "req_9", "overloaded")
    assert e.body == {"error": {}}
    assert e.__cause__ is over
    assert str(e.message) == (
        "the server asked to retry after 30.5s, above max_retry_after_s=30s; "
        "1 earlier attempt(s) failed"
    )
    assert clock.sleeps == [1.0]
    assert len(policy.calls) == 1  # the policy is not asked about the over-long wait


def test_a_rate_limit_error_over_the_cap_is_raised_itself_with_a_note() -> None:
    e = err(RateLimitError, status_code=429, retry_after_s=121.0)
    with pytest.raises(RateLimitError) as info:
        retry_call(failing(e), Script(1.0), clock=FakeClock(START).as_clock())
    assert info.value is e
    assert e.__notes__ == ["the server asked to retry after 121s, above max_retry_after_s=120s"]


def test_a_plain_exception_over_the_cap_becomes_a_rate_limit_error() -> None:
    class Slow(TimeoutError):
        retry_after_s = 500.0

    with pytest.raises(RateLimitError) as info:
        retry_call(failing(Slow()), Script(1.0), clock=FakeClock(START).as_clock())
    e = info.value
    assert (e.provider, e.status_code, e.request_id, e.code, e.retry_after_s) == (
        None, None, None, None, 500.0,
    )  # fmt: skip


def test_max_retry_after_defaults_to_120_seconds() -> None:
    assert max_retry_after(Script()) == 120.0
    assert max_retry_after(Script(max_retry_after_s=7)) == 7.0


@pytest.mark.parametrize("mode", MODES)
async def test_a_non_retryable_error_after_retries_lists_them_in_a_note(mode: str) -> None:
    clock = FakeClock(START)
    bad = err(BadRequestError, status_code=400)
    with pytest.raises(BadRequestError) as info:
        await run(mode, failing(err(), err(APITimeoutError), bad), Script(1.0, 1.0),
                  clock=clock.as_clock())  # fmt: skip
    assert info.value is bad
    assert bad.__notes__ == [
        "not retryable; 2 earlier attempt(s) failed: ServerError, APITimeoutError"
    ]
    first = err(BadRequestError, status_code=400)
    with pytest.raises(BadRequestError):
        retry_call(failing(first), Script(1.0), clock=clock.as_clock())
    assert not hasattr(first, "__notes__")


@pytest.mark.parametrize("mode", MODES)
async def test_exhaustion_lists_every_attempt_with_its_delay(mode: str) -> None:
    clock = FakeClock(START)
    errors = [err(), err(status_code=502), err(APITimeoutError, status_code=None)]
    with pytest.raises(RetryError, match=r"gave up after 3 attempts \(the retry policy stopped\)") as info:  # fmt: skip
        await run(mode, failing(*errors), Script(1.0, 2.0), clock=clock.as_clock())
    e = info.value
    assert [(a.error_type, a.status_code, a.delay_s) for a in e.attempts] == [
        ("ServerError", 503, 1.0),
        ("ServerError", 502, 2.0),
        ("APITimeoutError", None, 0.0),
    ]
    assert e.last_error is errors[2] and e.__cause__ is errors[2]


def test_a_policy_that_stops_at_once_raises_the_error_with_a_hint() -> None:
    e = err()
    with pytest.raises(ServerError) as info:
        retry_call(failing(e), Script(), clock=FakeClock(START).as_clock())
    assert info.value is e
    assert e.hint.startswith("not retried: the retry policy stopped; ")


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (err(), True),
        (err(BadRequestError, status_code=400), False),
        (err(BadRequestError, status_code=400, should_retry=True), True),
        (err(should_retry=False), False),
        (err(RateLimitError, status_code=429, code="insufficient_quota"), False),
        (err(RateLimitError, status_code=429, code="rate_limit_exceeded"), True),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (ValueError(), False),
    ],
)
def test_is_retryable(error: BaseException, retryable: bool) -> None:
    assert is_retryable(error) is retryable


# --- the retry quota ---------------------------------------------------------------------
def test_quota_costs_by_error_kind() -> None:
    q = RetryQuota(100, retry_cost=5, timeout_retry_cost=10, throttling_retry_cost=7)
    assert q.cost(err()) == 5
    assert q.cost(err(APITimeoutError)) == 10
    assert q.cost(TimeoutError()) == 10
    assert q.cost(err(RateLimitError, status_code=429)) == 7
    assert RetryQuota(retry_cost=3).cost(err(RateLimitError, status_code=429)) == 3
    q = RetryQuota()
    assert (q.capacity, q.available, q.retry_cost, q.timeout_retry_cost) == (500, 500, 5, 10)
    assert (q.throttling_retry_cost, q.no_retry_increment) == (5, 1)


@pytest.mark.parametrize(
    "kw",
    [{"capacity": -1}, {"retry_cost": -1}, {"timeout_retry_cost": -1},
     {"no_retry_increment": -1}, {"throttling_retry_cost": -1}],
)  # fmt: skip
def test_quota_rejects_negative_numbers(kw: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        RetryQuota(**kw)
    RetryQuota(**{k: 0 for k in kw})  # zero is allowed


def test_quota_acquire_exactly_what_is_left_and_release_caps_at_capacity() -> None:
    q = RetryQuota(10)
    assert q.acquire(10) and q.available == 0
    assert not q.acquire(1) and q.available == 0
    q.release(4)
    assert q.available == 4
    q.release(100)
    assert q.available == 10


@pytest.mark.parametrize("mode", MODES)
async def test_a_success_refunds_its_last_retry_and_a_first_try_success_adds_one(
    mode: str,
) -> None:
    clock = FakeClock(START)
    q = RetryQuota(100, retry_cost=5, timeout_retry_cost=10)
    q.acquire(50)
    fn = failing(err(), err(APITimeoutError))
    assert await run(mode, fn, Script(1, 1), clock=clock.as_clock(), budget=q) == ("ok", 3)
    assert q.available == 50 - 5 - 10 + 10
    assert await run(mode, failing(), Script(), clock=clock.as_clock(), budget=q) == (
        "ok", 1,
    )  # fmt: skip
    assert q.available == 46


@pytest.mark.parametrize("mode", MODES)
async def test_an_empty_quota_stops_retries_saying_so(mode: str) -> None:
    clock = FakeClock(START)
    q = RetryQuota(7, retry_cost=5)
    with pytest.raises(RetryError) as info:
        await run(mode, failing(err(), err(), err()), Script(1, 1, 1), clock=clock.as_clock(),
                  budget=q)  # fmt: skip
    assert "not retried: retry quota exhausted (capacity 7, 2 left, this retry costs 5" in str(
        info.value
    )
    assert len(info.value.attempts) == 2
    assert q.available == 2  # a failed request gives nothing back
    e = err()
    with pytest.raises(ServerError):
        retry_call(failing(e), Script(1), clock=clock.as_clock(), budget=q)
    assert e.hint.startswith("not retried: retry quota exhausted (capacity 7, 2 left")


def test_the_default_clock_is_the_real_one() -> None:
    import asyncio
    import time

    from modelbus._retry.runner import Clock

    c = Clock()
    assert (c.monotonic, c.sleep, c.asleep, c.wall) == (
        time.monotonic, time.sleep, asyncio.sleep, time.time,
    )  # fmt: skip
    assert FakeClock(5.0).as_clock().wall is time.time


@pytest.mark.parametrize("mode", MODES)
async def test_arg_is_passed_to_every_attempt(mode: str) -> None:
    """``arg=`` calls ``fn(arg)`` on each attempt (the engine's request, without a
    ``functools.partial`` per call); without it, ``fn()``."""
    seen: list[object] = []
    errors = [err(), err()]

    def fn(x: object) -> str:
        seen.append(x)
        if errors:
            raise errors.pop(0)
        return f"answer to {x}"

    async def afn(x: object) -> str:
        return fn(x)

    clock = FakeClock(START)
    kw: dict[str, Any] = {"clock": clock.as_clock(), "arg": "req"}
    if mode == "sync":
        out = retry_call(fn, Script(0.0, 0.0), **kw)
    else:
        out = await aretry_call(afn, Script(0.0, 0.0), **kw)
    assert out == ("answer to req", 3)
    assert seen == ["req", "req", "req"]


async def test_a_first_attempt_made_by_the_caller_goes_on_from_its_failure() -> None:
    """``failed=(error, start)``: the caller's own first attempt failed; the runner
    counts it as attempt 1 (the policy sees it, elapsed from ``start``), pays the quota
    for the retry and records it, as if it had made it."""
    clock = FakeClock(START)
    policy = Script(2.0)
    quota = RetryQuota(capacity=20, retry_cost=5)
    seen: list[object] = []

    async def fn(x: object) -> str:
        seen.append(x)
        return "ok"

    first = err()
    clock.advance(3.0)  # the caller's attempt took 3 s
    out = await aretry_call(
        fn,
        policy,
        clock=clock.as_clock(),
        budget=quota,
        arg="req",
        failed=(first, START),
    )
    assert out == ("ok", 2)
    assert seen == ["req"]  # one attempt made by the runner: the second
    assert policy.calls == [(1, "ServerError", 3.0, None)]
    assert quota.available == 20  # paid 5 for the retry, refunded on its success

    # A failure the policy will not retry is raised as it is.
    bad = BadRequestError("no", provider="p", status_code=400)
    with pytest.raises(BadRequestError) as info:
        await aretry_call(fn, Script(), clock=clock.as_clock(), failed=(bad, START))
    assert info.value is bad and seen == ["req"]
