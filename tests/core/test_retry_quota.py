"""The retry quota (AWS SDKs' standard retry mode): ordinary fault rates are fully
retried under concurrency, a retry storm is stopped, and a refusal says so.

Faults come from :class:`modelbus.testing.RandomFaults`: each attempt's fault depends only
on the seed, the prompt and the attempt number, so the requests that must fail (every
attempt drew a fault) are computed up front and compared with what failed, whatever the
interleaving of the 200 tasks or 16 threads.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelbus import ChatRequest, ChatResponse
from modelbus._retry.runner import RetryQuota, retry_call
from modelbus.builtins.retry import ExponentialBackoff, ExponentialSettings
from modelbus.errors import (
    APIConnectionError,
    APITimeoutError,
    ProviderError,
    RateLimitError,
    RetryError,
    ServerError,
)
from modelbus.testing import FakeClock, FakeProvider, RandomFaults, make_client

N = 2000
ATTEMPTS = 3  # the exponential policy's default max_attempts
FAULTS = RandomFaults(0.1, seed=0)  # 500 / 429 / connection reset, ~10 % of attempts


class YieldingProvider(FakeProvider):
    """A FakeProvider whose async calls yield to the event loop once, as a network call
    does, so that 200 tasks really are in flight together."""

    async def achat(self, request: ChatRequest) -> ChatResponse:
        await asyncio.sleep(0)
        return await super().achat(request)


def _prompt(i: int) -> str:
    return f"request {i}"


def _client(fp: FakeProvider, **budget: Any) -> Any:
    cfg: dict[str, Any] = {"modelbus": {"cache": "none"}}
    if budget:
        cfg["modelbus"]["retry_budget"] = budget
    return make_client(fp, cfg, clock=FakeClock())


def _first_success(faults: RandomFaults, key: str) -> int:
    return next(n for n in range(1, ATTEMPTS + 1) if faults.draw(key, n) is None)


def _check_outcomes(
    faults: RandomFaults, outcomes: dict[int, ChatResponse | BaseException]
) -> set[int]:
    """Failed requests are exactly those whose every attempt drew a fault; each success
    took exactly the attempts up to its first fault-free one. Returns the failed set."""
    expected = {i for i in range(N) if faults.fails_every(_prompt(i), ATTEMPTS)}
    failed = {i for i, r in outcomes.items() if isinstance(r, BaseException)}
    assert len(outcomes) == N
    assert failed == expected
    for i, r in outcomes.items():
        if isinstance(r, BaseException):
            assert isinstance(r, RetryError) and len(r.attempts) == ATTEMPTS
            assert "quota" not in str(r)
        else:
            assert r.attempts == _first_success(faults, _prompt(i))
    return failed


def test_the_fault_script_is_meaningful() -> None:
    # The seed gives some requests three faults in a row and ~10 % first-attempt faults:
    # the scenarios below would pass vacuously otherwise.
    assert len({i for i in range(N) if FAULTS.fails_every(_prompt(i), ATTEMPTS)}) == 3
    first = sum(FAULTS.draw(_prompt(i), 1) is not None for i in range(N))
    assert 150 <= first <= 250


async def test_ten_percent_faults_async_x200_fail_only_where_every_attempt_failed() -> None:
    fp = YieldingProvider(faults=FAULTS)
    sem = asyncio.Semaphore(200)
    in_flight = peak = 0

    async with _client(fp) as c:

        async def one(i: int) -> tuple[int, ChatResponse | BaseException]:
            nonlocal in_flight, peak
            async with sem:
                in_flight += 1
                peak = max(peak, in_flight)
                try:
                    return i, await c.achat(_prompt(i))
                except Exception as exc:
                    return i, exc
                finally:
                    in_flight -= 1

        outcomes = dict(await asyncio.gather(*(one(i) for i in range(N))))
        quota = c.engine._quotas["fake"]
    assert peak == 200
    _check_outcomes(FAULTS, outcomes)
    assert fp.calls == sum(
        _first_success(FAULTS, _prompt(i)) if not FAULTS.fails_every(_prompt(i), 3) else 3
        for i in range(N)
    )
    assert quota.available >= quota.capacity - 3 * 2 * quota.retry_cost


def test_ten_percent_faults_16_threads_fail_only_where_every_attempt_failed() -> None:
    fp = FakeProvider(faults=FAULTS)
    with _client(fp) as c:

        def one(i: int) -> tuple[int, ChatResponse | BaseException]:
            try:
                return i, c.chat(_prompt(i))
            except Exception as exc:
                return i, exc

        with ThreadPoolExecutor(16) as pool:
            outcomes = dict(pool.map(one, range(N)))
    _check_outcomes(FAULTS, outcomes)


@pytest.mark.parametrize("mode", ["batch", "abatch"])
async def test_ten_percent_faults_through_batches(mode: str) -> None:
    fp = YieldingProvider(faults=RandomFaults(0.1, seed=3))
    prompts = [_prompt(i) for i in range(N)]
    async with _client(fp) as c:
        if mode == "batch":
            results = await asyncio.to_thread(c.batch, prompts, concurrency=16)
        else:
            results = await c.abatch(prompts, concurrency=200)
    outcomes = {r.index: r.response if r.error is None else r.error for r in results}
    assert len(_check_outcomes(RandomFaults(0.1, seed=3), outcomes)) == 3


def test_a_retry_storm_is_stopped_by_the_quota() -> None:
    fp = FakeProvider(faults=RandomFaults(1.0))  # every attempt fails (500/429/reset)
    errors = []
    with _client(fp) as c:
        for i in range(1000):
            with pytest.raises(Exception) as info:
                c.chat(_prompt(i))
            errors.append(info.value)
    # Without the quota: 1000 x 3 attempts. With it: 500 / 5 = 100 retries in all.
    assert fp.calls == 1000 + 100
    last = errors[-1]
    assert isinstance(last, (ServerError, RateLimitError, APIConnectionError))
    assert "not retried: retry quota exhausted (capacity 500, 0 left, this retry costs 5" in (
        str(last)
    )
    assert all("retried automatically" not in str(e) for e in errors)


async def test_a_retry_storm_under_200_tasks_is_stopped_by_the_quota() -> None:
    fp = YieldingProvider(faults=RandomFaults(1.0))
    sem = asyncio.Semaphore(200)
    async with _client(fp) as c:

        async def one(i: int) -> BaseException:
            async with sem:
                try:
                    await c.achat(_prompt(i))
                except Exception as exc:
                    return exc
                raise AssertionError("every attempt fails")

        errors = await asyncio.gather(*(one(i) for i in range(1000)))
    assert fp.calls == 1000 + 100  # the quota is shared and taken atomically
    assert sum("retry quota exhausted" in str(e) for e in errors) >= 1000 - 100


def test_a_long_lived_low_volume_client_keeps_retrying() -> None:
    # The old gRPC-style budget (10 tokens, +0.1 per request) stopped after ~10 retries;
    # here each retry that ends in a success is refunded in full.
    fp = FakeProvider()
    with _client(fp) as c:
        for _ in range(1000):
            fp.enqueue_error(503).enqueue_text("ok")
            assert c.chat("again").attempts == 2
        assert c.engine._quotas["fake"].available == 500


def test_successes_refill_the_quota_after_an_outage() -> None:
    fp = FakeProvider()
    with _client(fp, capacity=10) as c:
        fp.enqueue_error(500).enqueue_error(500).enqueue_error(500)
        with pytest.raises(RetryError):  # its two retries spend the 10 tokens
            c.chat("down")
        fp.enqueue_error(500)
        with pytest.raises(ServerError, match="retry quota exhausted"):
            c.chat("down")
        for _ in range(5):  # +1 token each
            c.chat("up")
        fp.enqueue_error(500)
        assert c.chat("back").attempts == 2


async def test_async_successes_refill_the_quota_after_an_outage() -> None:
    """The async uncached call awaits the provider's first attempt itself (no runner in
    flight): the quota's books are the runner's all the same."""
    fp = FakeProvider()
    with _client(fp, capacity=10) as c:
        fp.enqueue_error(500).enqueue_error(500).enqueue_error(500)
        with pytest.raises(RetryError):  # its two retries spend the 10 tokens
            await c.achat("down")
        assert c.engine._quotas["fake"].available == 0
        fp.enqueue_error(500)
        with pytest.raises(ServerError, match="retry quota exhausted"):
            await c.achat("down")
        for n in range(1, 6):  # +1 token each
            assert (await c.achat("up")).attempts == 1
            assert c.engine._quotas["fake"].available == n
        fp.enqueue_error(500)
        r = await c.achat("back")
        assert r.attempts == 2 and c.engine._quotas["fake"].available == 5  # refunded
        for _ in range(10):  # a full bucket stays full
            await c.achat("up")
        assert c.engine._quotas["fake"].available == 10


def test_a_refusal_after_retries_is_a_retry_error_that_says_so() -> None:
    fp = FakeProvider()
    fp.enqueue_error(500).enqueue_error(502).enqueue_text("never reached")
    with _client(fp, capacity=5) as c, pytest.raises(RetryError) as info:
        c.chat("x")
    e = info.value
    assert str(e).startswith(
        "gave up after 2 attempts (not retried: retry quota exhausted (capacity 5, 0 left, "
        "this retry costs 5; AWS SDK standard retry mode"
    )
    assert [a.status_code for a in e.attempts] == [500, 502]
    assert isinstance(e.__cause__, ServerError) and e.__cause__.status_code == 502


def test_an_error_not_retried_says_why_in_its_hint() -> None:
    fp = FakeProvider()
    fp.enqueue_error(503)
    with _client(fp, capacity=4) as c, pytest.raises(ServerError) as info:
        c.chat("x")
    e = info.value
    assert e.hint.startswith("not retried: retry quota exhausted (capacity 4, 4 left")
    assert "not retried: retry quota exhausted" in str(e)
    assert any("retry quota exhausted" in n for n in e.__notes__)

    fp.enqueue_error(503)
    no_retry = {"modelbus": {"cache": "none", "retry_policy": "none"}}
    with (
        make_client(fp, no_retry) as c,
        pytest.raises(ServerError, match="not retried: the retry policy stopped"),
    ):
        c.chat("y")


def test_the_quota_is_per_provider_and_can_be_disabled() -> None:
    fp = FakeProvider()
    with _client(fp, capacity=5) as c:
        q1, q2 = c.engine.retry_quota("fake"), c.engine.retry_quota("other")
        assert q1 is not None and q2 is not None and q1 is not q2
        t1 = q1.ticket()
        assert t1.acquire(ServerError("x")) and not t1.acquire(ServerError("x"))
        assert q2.ticket().acquire(ServerError("x"))
        assert c.engine.retry_quota("fake") is q1
    fp = FakeProvider(faults=RandomFaults(1.0))
    with _client(fp, enabled=False) as c:
        for i in range(50):
            with pytest.raises(RetryError):
                c.chat(_prompt(i))
    assert fp.calls == 150


# --- the arithmetic of AWS standard mode ------------------------------------------------


def test_costs_and_refunds_follow_aws_standard_mode() -> None:
    q = RetryQuota()
    assert (q.capacity, q.retry_cost, q.timeout_retry_cost, q.no_retry_increment) == (
        500,
        5,
        10,
        1,
    )
    t = q.ticket()
    assert t.acquire(ServerError("x")) and q.available == 495
    assert t.acquire(APITimeoutError("slow")) and q.available == 485
    t.succeeded()  # gives back what the last retry took (10), not the 15 taken
    assert q.available == 495
    q.succeeded(None)  # a success without retry adds 1
    assert q.available == 496
    for _ in range(10):
        q.succeeded(None)
    assert q.available == 500  # never above capacity
    assert q.cost(TimeoutError()) == 10 and q.cost(ConnectionError()) == 5
    assert q.cost(RateLimitError("slow down")) == 5


def test_the_throttling_cost_and_the_2026_variant_are_settings() -> None:
    fp = FakeProvider()
    with _client(fp, retry_cost=14, throttling_retry_cost=5) as c:
        quota = c.engine.retry_quota("fake")
    assert quota.cost(RateLimitError("x")) == 5 and quota.cost(ServerError("x")) == 14


def test_a_refused_retry_takes_nothing() -> None:
    q = RetryQuota(12)
    t = q.ticket()
    assert t.acquire(ServerError("x")) and q.available == 7
    assert not t.acquire(APITimeoutError("x")) and q.available == 7
    assert t.refusal(APITimeoutError("x")) == (
        "not retried: retry quota exhausted (capacity 12, 7 left, this retry costs 10; "
        "AWS SDK standard retry mode, see [modelbus.retry_budget])"
    )


_KINDS = st.sampled_from(
    [ServerError("x"), RateLimitError("x"), APITimeoutError("x"), APIConnectionError("x")]
)


@given(
    st.lists(st.tuples(st.lists(_KINDS, max_size=3), st.booleans()), max_size=200),
    st.integers(0, 60),
)
def test_the_runner_keeps_the_books_of_the_reference_model(
    requests: list[tuple[list[ProviderError], bool]], capacity: int
) -> None:
    """Each request raises its listed errors in turn then succeeds (or, ``False``,
    raises a 400); the quota's balance is that of the AWS arithmetic replayed by hand."""
    q = RetryQuota(capacity)
    policy = ExponentialBackoff(ExponentialSettings(max_attempts=10, initial_delay_s=0))
    clock = FakeClock().as_clock()
    expected = capacity
    for faults, succeeds in requests:
        script: list[Any] = [*faults, "ok" if succeeds else ProviderError("bad", status_code=400)]
        it = iter(script)

        def fn(it: Any = it) -> str:
            item = next(it)
            if isinstance(item, BaseException):
                raise item
            return str(item)

        # Reference: retry while the next cost fits; refund the last cost on success.
        last: int | None = None
        outcome = "ok" if succeeds else "error"
        for f in faults:
            cost = q.cost(f)
            if cost > expected:
                outcome = "refused"
                break
            expected -= cost
            last = cost
        if outcome == "ok":
            expected = min(capacity, expected + (q.no_retry_increment if last is None else last))
        try:
            retry_call(fn, policy, clock=clock, budget=q)
            got = "ok"
        except ProviderError as exc:
            got = "error" if exc.status_code == 400 else "refused"
        except RetryError:
            got = "refused"
        assert got == outcome
        assert q.available == expected
        assert 0 <= q.available <= capacity


def test_streams_pay_and_refund_the_quota_like_calls() -> None:
    fp = FakeProvider()
    with _client(fp, capacity=5) as c:
        quota = c.engine.retry_quota("fake")
        fp.enqueue_error(500).enqueue_text("streamed")
        stream = c.stream("s")
        assert "".join(ch.content or "" for ch in stream) == "streamed"
        assert stream.response.attempts == 2 and quota.available == 5  # refunded
        fp.enqueue_error(500).enqueue_error(500)
        with pytest.raises(RetryError, match="retry quota exhausted"):
            list(c.stream("s2"))  # the one retry took the 5 tokens; the next is refused


async def test_async_streams_pay_and_refund_the_quota_like_calls() -> None:
    fp = FakeProvider()
    async with _client(fp, capacity=5) as c:
        quota = c.engine.retry_quota("fake")
        fp.enqueue_error(429).enqueue_text("streamed")
        chunks = [ch.content or "" async for ch in c.astream("s")]
        assert "".join(chunks) == "streamed" and quota.available == 5
        fp.enqueue_error(503).enqueue_error(503)
        with pytest.raises(RetryError, match="retry quota exhausted"):
            async for _ in c.astream("s2"):
                pass
