"""Time limits in the core (``modelbus._engine.timeouts``): what providers see, what the retry
runner stops on, and what the async pipeline enforces for any async provider.

The provider-facing limits are in real ``time.monotonic()`` seconds, so the tests
that check the async enforcement use real sleeps of a fraction of a second; the retry
decisions run on a FakeClock that does not start at 0.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import modelbus
from modelbus import ChatChunk, ChatRequest, ChatResponse, attempt_limits
from modelbus._engine.timeouts import DEFAULT_STREAM_IDLE_TIMEOUT_S, AttemptLimits, CallLimits
from modelbus._retry.runner import retry_call
from modelbus.builtins.retry import ExponentialBackoff, ExponentialSettings
from modelbus.errors import APITimeoutError, ConfigError, RetryError, ServerError
from modelbus.testing import FakeClock, FakeProvider, make_client


class Watching(FakeProvider):
    """A FakeProvider that records the AttemptLimits of each call; ``stall_s`` makes
    ``achat`` (and ``astream`` after ``chunks_before_stall`` chunks) wait for real."""

    def __init__(self, stall_s: float = 0.0, chunks_before_stall: int = 0) -> None:
        super().__init__()
        self.seen: list[AttemptLimits] = []
        self.stall_s = stall_s
        self.chunks_before_stall = chunks_before_stall
        self.closed = False

    def chat(self, request: ChatRequest) -> ChatResponse:
        self.seen.append(attempt_limits())
        return super().chat(request)

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        self.seen.append(attempt_limits())  # read on the first next(), as documented
        yield from super().stream(request)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        self.seen.append(attempt_limits())
        await asyncio.sleep(self.stall_s)
        return await super().achat(request)

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.seen.append(attempt_limits())
        try:
            for i in range(3):
                if i == self.chunks_before_stall:
                    await asyncio.sleep(self.stall_s)
                yield ChatChunk(id="c", model="m", content=f"{i} ")
            yield ChatChunk(id="c", model="m", finish_reason="stop")
        finally:
            self.closed = True


def client(p: FakeProvider, clock: FakeClock | None = None, **cfg: Any) -> modelbus.Client:
    return make_client(p, cfg, clock=clock or FakeClock(start=1000.0), cache="none")


# --- what a provider sees --------------------------------------------------------------


def test_a_provider_sees_no_limit_of_its_own_by_default() -> None:
    p = Watching()
    with client(p) as c:
        c.chat("hi")
    lim = p.seen[0]
    assert lim.ends_at is None and not lim.overrides
    assert lim.timeout(120.0) == 120.0  # the provider's own timeout stays in force
    assert lim.stream_idle_timeout_s == DEFAULT_STREAM_IDLE_TIMEOUT_S == 60.0
    assert attempt_limits() == AttemptLimits(), "the limits do not leak out of the call"


def test_a_call_timeout_replaces_the_providers_also_when_longer() -> None:
    p = Watching()
    with client(p) as c:
        c.chat("hi", timeout=300)
        c.chat("hi", timeout=0.5)
    assert p.seen[0].overrides and 299 < p.seen[0].timeout(120.0) <= 300
    assert 0.4 < p.seen[1].timeout(120.0) <= 0.5


def test_the_models_timeout_applies_and_the_call_wins() -> None:
    p = Watching()
    models = {"quick": {"model": "m", "provider": "fake", "timeout_s": 7.0}}
    with client(p, models=models) as c:
        c.chat("hi", model="quick")
        c.chat("hi", model="quick", timeout=2.0)
    assert 6.9 < p.seen[0].timeout(120.0) <= 7.0
    assert 1.9 < p.seen[1].timeout(120.0) <= 2.0


def test_the_deadline_cuts_the_providers_timeout() -> None:
    p = Watching()
    cfg = {"retry_policies": {"exponential": {"deadline_s": 3.0}}}
    with client(p, **cfg) as c:
        c.chat("hi")
    lim = p.seen[0]
    assert not lim.overrides and 2.9 < lim.timeout(120.0) <= 3.0
    assert lim.timeout(1.0) == 1.0  # a shorter provider timeout still holds


def test_the_stream_idle_timeout_travels_to_the_provider() -> None:
    p = Watching()
    with client(p, modelbus={"stream_idle_timeout_s": 0.25}) as c:
        list(c.stream("hi"))
    lim = p.seen[0]
    assert lim.stream_idle_timeout_s == 0.25
    assert lim.read_timeout(120.0, stream=True) == 0.25
    assert lim.read_timeout(120.0, stream=False) == 120.0


# --- the retry runner --------------------------------------------------------------------


def test_the_runner_stops_at_the_deadline_on_a_clock_not_starting_at_0() -> None:
    # A policy without a deadline of its own (no jitter, 0.4 s then 0.8 s) is still
    # bounded by the call's deadline_s: the third attempt would start past it.
    clock = FakeClock(start=5000.0)
    policy = ExponentialBackoff(
        ExponentialSettings(max_attempts=10, initial_delay_s=0.4, jitter="none")
    )
    seen: list[float | None] = []

    def attempt() -> None:
        seen.append(attempt_limits().timeout(None))
        clock.advance(0.3)
        raise ServerError("boom", provider="fake", status_code=500)

    with pytest.raises(RetryError) as info:
        retry_call(attempt, policy, clock=clock.as_clock(), limits=CallLimits(deadline_s=1.0))
    assert len(info.value.attempts) == 2 and clock.sleeps == [0.4]
    assert "deadline_s=1s reached" in str(info.value)
    # the second attempt starts 0.7 s into the call: it may take what is left, 0.3 s
    assert seen[0] is not None and 0.99 < seen[0] <= 1.0
    assert seen[1] is not None and 0.29 < seen[1] <= 0.3


def test_call_limits_left() -> None:
    assert CallLimits().left(5.0) is None
    assert CallLimits(timeout_s=2.0).left(100.0) == 2.0
    assert CallLimits(deadline_s=3.0).left(1.0) == 2.0
    assert CallLimits(timeout_s=2.0, deadline_s=3.0).left(1.5) == 1.5
    assert CallLimits(deadline_s=3.0).left(4.0) == 0.0


# --- the async pipeline enforces them for any async provider ------------------------------


async def test_an_async_attempt_is_cut_at_its_timeout() -> None:
    p = Watching(stall_s=30.0)
    async with client(p, modelbus={"retry_policy": "none"}) as c:
        t0 = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await c.achat("hi", timeout=0.2)
        took = time.monotonic() - t0
    assert 0.19 <= took < 0.5
    assert info.value.provider == "fake" and "timeout=0.2s" in str(info.value)


async def test_an_async_attempt_is_cut_to_what_is_left_of_the_deadline() -> None:
    # On the FakeClock only the backoff sleeps count as elapsed time, so every attempt
    # but the first is cut to the deadline minus those sleeps.
    p = Watching(stall_s=30.0)
    policy = {"deadline_s": 0.3, "jitter": "none", "initial_delay_s": 0.1, "max_attempts": 9}
    async with client(p, retry_policies={"exponential": policy}) as c:
        t0 = time.monotonic()
        with pytest.raises(RetryError) as info:
            await c.achat("hi")
        took = time.monotonic() - t0
    attempts = info.value.attempts
    # attempt 1 gets 0.3 s, then 0.1 s of backoff leaves 0.2 s for attempt 2, after
    # which a 0.2 s backoff would end past the deadline
    assert [a.error_type for a in attempts] == ["APITimeoutError"] * 2
    assert "within 0.3s (what was left of deadline_s=0.3s)" in str(attempts[0].error)
    assert "within 0.2s (what was left of deadline_s=0.3s)" in str(attempts[1].error)
    assert 0.5 - 0.02 <= took < 0.5 + 0.2


async def test_an_async_stream_silent_after_its_first_chunk_fails_after_the_idle_timeout() -> None:
    p = Watching(stall_s=30.0, chunks_before_stall=1)
    async with client(p, modelbus={"stream_idle_timeout_s": 0.2}) as c:
        got: list[str] = []
        with pytest.raises(APITimeoutError) as info:
            async for chunk in c.astream("hi"):
                got.append(chunk.content or "")
                t0 = time.monotonic()
        stalled = time.monotonic() - t0
    assert got == ["0 "] and 0.19 <= stalled < 0.5
    assert p.closed, "the provider's stream was closed"
    assert len(p.seen) == 1, "chunks were delivered: not retried"
    assert "stream_idle_timeout_s" in str(info.value)


async def test_slow_work_of_the_caller_between_chunks_is_not_idle_time() -> None:
    p = Watching()
    async with client(p, modelbus={"stream_idle_timeout_s": 0.1}) as c:
        got = []
        async for chunk in c.astream("hi"):
            await asyncio.sleep(0.15)  # the caller is slow, the stream is not
            got.append(chunk)
    assert len(got) == 4


class StallsAfterTwoChunks(FakeProvider):
    """Two chunks, then silence (until cancelled)."""

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        yield ChatChunk(id="c", model="m", content="0 ")
        yield ChatChunk(id="c", model="m", content="1 ")
        await asyncio.sleep(30)
        yield ChatChunk(id="c", model="m", finish_reason="stop")


@pytest.mark.parametrize("leader", ["busy", "gone"])
async def test_a_shared_stream_times_out_the_task_waiting_on_it_not_the_first_reader(
    leader: str,
) -> None:
    # Identical streams share one provider stream (fanout); whichever consumer needs the
    # next chunk waits for it. The idle timeout must cut that wait, whoever started the
    # stream: the leader reads two chunks, then is busy with its own work ("busy") or has
    # left ("gone"), while the follower meets the silence.
    p = StallsAfterTwoChunks()
    c = make_client(
        p,
        {"modelbus": {"stream_idle_timeout_s": 0.05}},
        clock=FakeClock(start=1000.0),
        cache="memory",
    )
    pulled, joined, own_work = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def lead() -> BaseException | None:
        s = c.astream("q")
        it = aiter(s)
        assert [(await anext(it)).content, (await anext(it)).content] == ["0 ", "1 "]
        pulled.set()
        await joined.wait()
        if leader == "gone":
            await s.aclose()
            return None
        await own_work.wait()  # never cancelled on the stream's behalf
        try:
            async for _ in it:
                pass
        except APITimeoutError as exc:
            return exc
        return None

    async def follow() -> tuple[BaseException, float]:
        await pulled.wait()
        s = c.astream("q")
        it = aiter(s)
        assert (await anext(it)).content == "0 "  # joined the leader's stream
        joined.set()
        await asyncio.sleep(0)
        t0 = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            async with asyncio.timeout(1.0):  # a hang fails the test, not the suite
                async for _ in it:
                    pass
        return info.value, time.monotonic() - t0

    leading = asyncio.create_task(lead())
    error, waited = await follow()
    own_work.set()
    leader_error = await asyncio.wait_for(leading, 1.0)
    assert waited < 0.5, f"the follower waited {waited:.2f}s on a 0.05 s idle timeout"
    assert "stream_idle_timeout_s" in str(error)
    assert p.calls == 1
    if leader == "busy":  # the leader reads on and meets the same failure, as its copy
        assert isinstance(leader_error, APITimeoutError) and leader_error is not error


async def test_a_stream_handed_to_another_task_times_out_that_task() -> None:
    # The idle timeout cancels the task waiting for the next chunk: a stream read past its
    # first chunks in one task (this test's) and read on in another (a hand-off between
    # workers) must not have its silence cancel the first, busy with its own work.
    p = StallsAfterTwoChunks()
    c = make_client(p, {"modelbus": {"stream_idle_timeout_s": 0.05}}, cache="none")
    s = c.astream("q")
    it = aiter(s)
    assert [(await anext(it)).content, (await anext(it)).content] == ["0 ", "1 "]

    async def read_on() -> float:
        t0 = time.monotonic()
        with pytest.raises(APITimeoutError, match="stream_idle_timeout_s"):
            async with asyncio.timeout(1.0):  # a hang fails the test, not the suite
                async for _ in it:
                    pass
        return time.monotonic() - t0

    reader = asyncio.create_task(read_on())
    # This task's own work: a wait that is not the reader's (awaiting the reader itself
    # would pass a cancellation on to it); it used to be cancelled by the stream's timer.
    await asyncio.wait({reader})
    waited = reader.result()
    assert waited < 0.25, f"the reader waited {waited:.2f}s on a 0.05 s idle timeout"
    assert p.calls == 1


# --- checked values -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan])
def test_a_bad_call_timeout_is_refused(bad: float) -> None:
    with client(Watching()) as c, pytest.raises(ValueError, match="timeout"):
        c.chat("hi", timeout=bad)


def test_a_call_timeout_must_be_a_number() -> None:
    with client(Watching()) as c, pytest.raises(TypeError, match="timeout"):
        c.chat("hi", timeout="5")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -2.5, math.inf, math.nan])
def test_bad_timeouts_in_the_config_are_config_errors(bad: float) -> None:
    with pytest.raises(ConfigError, match=r"models\.quick"):
        modelbus.Config.from_dict({"models": {"quick": {"model": "m", "timeout_s": bad}}})
    with pytest.raises(ConfigError, match="stream_idle_timeout_s"):
        modelbus.Config.from_dict({"modelbus": {"stream_idle_timeout_s": bad}})


class AsyncOnly(Watching):
    """An async-only provider: the adapter runs its coroutines on a loop thread of its
    own for sync callers."""

    chat = None  # type: ignore[assignment]
    stream = None  # type: ignore[assignment]


def test_the_sync_side_of_an_async_only_provider_is_bounded_and_sees_the_limits() -> None:
    p = AsyncOnly(stall_s=30.0)
    with client(p, modelbus={"retry_policy": "none"}) as c:
        t0 = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            c.chat("hi", timeout=0.2)
        took = time.monotonic() - t0
    assert 0.19 <= took < 0.5 and info.value.provider == "fake"
    assert p.seen[0].overrides and p.seen[0].timeout(120.0) <= 0.2


def test_a_sync_stream_of_an_async_only_provider_sees_the_limits() -> None:
    p = AsyncOnly()
    with client(p, modelbus={"stream_idle_timeout_s": 0.5}) as c:
        text = "".join(ch.content or "" for ch in c.stream("hi", timeout=3.0))
    assert text == "0 1 2 "
    assert p.seen[0].stream_idle_timeout_s == 0.5 and 2.9 < p.seen[0].timeout(None) <= 3.0
