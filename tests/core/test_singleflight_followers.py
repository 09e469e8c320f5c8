"""What single-flight followers get: each its own copy of the leader's exception, chained
to it, with a traceback that does not grow; and a shared call counted once in
``usage_totals``."""

from __future__ import annotations

import asyncio
import threading
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from modelbus import ChatChunk, ChatRequest, Usage
from modelbus._engine.singleflight import AsyncSingleFlight, SingleFlight, follower_error
from modelbus.errors import Attempt, RateLimitError, RetryError, ServerError
from modelbus.testing import FakeProvider, make_client

from .test_singleflight import KEY, PROMPT, GatedProvider, _await_until, _wait_until

FOLLOWERS = 50


def _leader_error() -> RateLimitError:
    err = RateLimitError(
        "slow down",
        provider="acme",
        status_code=429,
        request_id="req-123",
        retry_after_s=1.5,
        body={"error": {"message": "slow down"}},
        code="rate_limit_exceeded",
    )
    err.add_note("from the leader")
    return err


def _fields(e: RateLimitError) -> tuple[Any, ...]:
    return (
        e.args,
        e.message,
        e.provider,
        e.status_code,
        e.request_id,
        e.retry_after_s,
        e.body,
        e.code,
        e.hint,
        e.retryable,
        str(e),
    )


def _depth(e: BaseException) -> int:
    return len(traceback.extract_tb(e.__traceback__))


def _check(leader: BaseException, followers: list[BaseException], leader_depth: int) -> None:
    assert isinstance(leader, RateLimitError)
    assert len(followers) == FOLLOWERS
    assert len({id(f) for f in followers} | {id(leader)}) == FOLLOWERS + 1  # all distinct
    for f in followers:
        assert type(f) is RateLimitError
        assert _fields(f) == _fields(leader)
        assert f.__cause__ is leader and f.__suppress_context__
        assert f.__notes__ == ["from the leader"] and f.__notes__ is not leader.__notes__
    # Bounded: the 1st and the 50th follower carry the same traceback, and the leader's
    # own traceback did not grow with their raises.
    assert {_depth(f) for f in followers} == {_depth(followers[0])}
    assert _depth(followers[0]) <= 3
    assert _depth(leader) == leader_depth


def test_threads_each_get_their_own_copy_chained_to_the_leaders_error() -> None:
    flight = SingleFlight()
    gate = threading.Event()
    leader_exc = _leader_error()

    def fail() -> str:
        assert gate.wait(30)
        raise leader_exc

    caught: list[BaseException] = []
    lock = threading.Lock()

    def call() -> None:
        try:
            flight.do("k", fail)
        except RateLimitError as exc:
            with lock:
                caught.append(exc)

    leader = threading.Thread(target=call)
    leader.start()
    _wait_until(lambda: "k" in flight._calls, "the leader starting")
    threads = [threading.Thread(target=call) for _ in range(FOLLOWERS)]
    for t in threads:
        t.start()
    _wait_until(lambda: flight.waiters("k") == FOLLOWERS, "50 threads joining")
    gate.set()
    for t in [leader, *threads]:
        t.join(30)
    assert len(caught) == FOLLOWERS + 1
    followers = [e for e in caught if e is not leader_exc]
    # the leader's traceback: call -> do -> fail, raised once
    _check(leader_exc, followers, leader_depth=3)


async def test_tasks_each_get_their_own_copy_chained_to_the_leaders_error() -> None:
    flight = AsyncSingleFlight()
    gate = asyncio.Event()
    leader_exc = _leader_error()

    async def fail() -> str:
        await gate.wait()
        raise leader_exc

    async def call() -> BaseException:
        try:
            await flight.do("k", fail)
        except RateLimitError as exc:
            return exc
        raise AssertionError("the leader fails")

    leader = asyncio.create_task(call())
    await _await_until(lambda: "k" in flight._calls, "the leader starting")
    tasks = [asyncio.create_task(call()) for _ in range(FOLLOWERS)]
    await _await_until(lambda: flight.waiters("k") == FOLLOWERS, "50 tasks joining")
    gate.set()
    assert await leader is leader_exc
    followers = await asyncio.gather(*tasks)
    _check(leader_exc, list(followers), leader_depth=3)


async def test_tasks_through_the_client_get_distinct_errors() -> None:
    provider = GatedProvider()
    provider.enqueue_error(503, "overloaded", headers={"x-request-id": "req-9"})
    config = {"modelbus": {"retry_policy": "none"}}
    async with make_client(provider, config) as client:
        tasks = [asyncio.create_task(client.achat(PROMPT)) for _ in range(20)]
        flight = client.engine.aflights()[0]
        await _await_until(lambda: flight.waiters(KEY) == 19, "19 tasks joining the flight")
        assert provider.agate is not None
        provider.agate.set()
        errors = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(type(e) is ServerError for e in errors)
    assert len({id(e) for e in errors}) == 20
    (leader,) = [e for e in errors if e.__cause__ is None or e.__cause__ not in errors]
    followers = [e for e in errors if e is not leader]
    assert all(f.__cause__ is leader for f in followers)
    assert {(f.status_code, f.request_id, str(f)) for f in errors} == {(503, "req-9", str(leader))}


class _FailsMidStream(FakeProvider):
    """Streams two chunks of text, then raises ``error`` (after content: not retried);
    waits at a gate before its first chunk so every reader joins the one stream."""

    def __init__(self, error: BaseException) -> None:
        super().__init__("fake")
        self.error = error
        self.gate = threading.Event()

    def _two(self) -> Iterator[ChatChunk]:
        yield ChatChunk(id="c", model="m", content="a ")
        yield ChatChunk(id="c", model="m", content="b ")

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        self.requests.append(request)
        assert self.gate.wait(30), "the test never opened the gate"
        yield from self._two()
        raise self.error

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        while not self.gate.is_set():
            await asyncio.sleep(0)
        for chunk in self._two():
            yield chunk
        raise self.error


@pytest.mark.parametrize(("mode", "n"), [("stream", 16), ("astream", 100)])
def test_a_shared_stream_failing_midway_gives_each_reader_its_own_copy(mode: str, n: int) -> None:
    # concepts.md, single-flight: identical streams share one provider stream, and when
    # it fails each reader raises its own copy of the error (same type and fields,
    # __cause__ the original), after the same chunks; the copies' tracebacks stay short.
    leader_exc = _leader_error()
    provider = _FailsMidStream(leader_exc)
    client = make_client(provider, {"modelbus": {"cache": "memory"}})
    outcomes: list[tuple[list[str], BaseException]] = []
    if mode == "stream":
        lock = threading.Lock()

        def read() -> None:
            got: list[str] = []
            try:
                for chunk in client.stream(PROMPT):
                    got.append(chunk.content or "")
            except RateLimitError as exc:
                with lock:
                    outcomes.append((got, exc))

        threads = [threading.Thread(target=read) for _ in range(n)]
        for t in threads:
            t.start()
        flights = client.engine.stream_flights
        _wait_until(lambda: sum(flights.in_flight().values()) == n, f"{n} threads joining")
        provider.gate.set()
        for t in threads:
            t.join(30)
    else:

        async def main() -> None:
            async def read() -> None:
                got: list[str] = []
                try:
                    async for chunk in client.astream(PROMPT):
                        got.append(chunk.content or "")
                except RateLimitError as exc:
                    outcomes.append((got, exc))

            tasks = [asyncio.create_task(read()) for _ in range(n)]
            flights = client.engine.aflights()[1]
            await _await_until(lambda: sum(flights.in_flight().values()) == n, f"{n} tasks joining")
            provider.gate.set()
            await asyncio.gather(*tasks)

        asyncio.run(main())
    assert provider.calls == 1
    assert len(outcomes) == n, "every reader saw the failure"
    assert all(got == ["a ", "b "] for got, _ in outcomes)
    errors = [e for _, e in outcomes]
    assert sum(e is leader_exc for e in errors) == 1  # the reader whose pull met it
    followers = [e for e in errors if e is not leader_exc]
    assert len({id(f) for f in followers}) == n - 1  # all distinct
    for f in followers:
        assert type(f) is RateLimitError and _fields(f) == _fields(leader_exc)
        assert f.__cause__ is leader_exc
        assert f.__notes__ == ["from the leader"] and f.__notes__ is not leader_exc.__notes__
    assert {_depth(f) for f in followers} == {_depth(followers[0])}


def test_an_error_that_cannot_be_rebuilt_from_its_args_is_still_copied() -> None:
    last = ServerError("down", status_code=503)
    err = RetryError("gave up after 2 attempts", [Attempt(last, "ServerError", 503, 0.5)])
    copy = follower_error(err)
    assert type(copy) is RetryError and copy is not err
    assert (copy.args, copy.attempts, copy.last_error) == (err.args, err.attempts, last)
    assert copy.__traceback__ is None


def test_a_builtin_error_keeps_its_fields() -> None:
    err = ConnectionResetError(104, "Connection reset by peer")
    copy = follower_error(err)
    assert type(copy) is ConnectionResetError
    assert (copy.errno, copy.strerror, str(copy)) == (104, "Connection reset by peer", str(err))


# --- usage_totals counts a shared call once ----------------------------------------------


def test_ten_threads_sharing_one_call_count_it_once() -> None:
    provider = GatedProvider()
    provider.enqueue_text("the one answer", usage=Usage(100, 20, 120))
    with make_client(provider) as client:
        threads = [threading.Thread(target=client.chat, args=(PROMPT,)) for _ in range(10)]
        for t in threads:
            t.start()
        _wait_until(lambda: client.engine.flight.waiters(KEY) == 9, "9 threads joining the flight")
        provider.gate.set()
        for t in threads:
            t.join(30)
        totals = client.usage_totals
    assert provider.calls == 1
    assert (totals.requests, totals.usage, totals.shared, totals.cache_hits) == (
        1,
        Usage(100, 20, 120),
        9,
        0,
    )


@pytest.mark.parametrize("model", ["gpt-4o-mini", "unpriced-model"])
async def test_ten_tasks_sharing_one_call_count_it_once(model: str) -> None:
    provider = GatedProvider()
    provider.enqueue_text("the one answer", usage=Usage(1000, 500, 1500))
    async with make_client(provider) as client:
        tasks = [asyncio.create_task(client.achat(PROMPT, model=model)) for _ in range(10)]
        await _await_until(
            lambda: (
                (key := next(iter(client.engine.aflights()[0]._calls), None)) is not None
                and client.engine.aflights()[0].waiters(key) == 9
            ),
            "9 tasks joining the flight",
        )
        assert provider.agate is not None
        provider.agate.set()
        results = await asyncio.gather(*tasks)
        totals = client.usage_totals
    cost = results[0].cost_usd
    assert totals.requests == 1 and totals.usage == Usage(1000, 500, 1500)
    assert totals.shared == 9
    if cost is None:
        assert (totals.cost_usd, totals.unpriced_requests) == (0.0, 1)
    else:
        assert cost > 0 and totals.cost_usd == pytest.approx(cost)


class _GatedChunks(FakeProvider):
    """Streams ``a b c d``; after the first chunk, each chunk waits for ``go``. Records
    whether the stream ran to its end or was closed early."""

    def __init__(self) -> None:
        super().__init__("fake")
        self.go = asyncio.Event()
        self.finished = 0
        self.closed_early = 0

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        done = False
        try:
            for i, word in enumerate(("a ", "b ", "c ", "d")):
                if i:
                    await self.go.wait()
                last = "stop" if word == "d" else None
                yield ChatChunk(id="c", model="m", content=word, finish_reason=last)
            done = True
        finally:
            if done:
                self.finished += 1
            else:
                self.closed_early += 1


@pytest.mark.parametrize("cancelled", [99, 100])
def test_a_reader_cancelled_while_it_pulls_leaves_the_shared_stream_to_the_others(
    cancelled: int,
) -> None:
    # concepts.md, single-flight: "the provider's stream is closed only when the last of
    # them leaves early". Task 0 pulls the second chunk for all 100 readers; cancelling it
    # (a client that disconnected, its own asyncio.timeout) used to throw the cancellation
    # into the shared stream: every other reader failed with a RuntimeError.
    provider = _GatedChunks()
    client = make_client(provider, {"modelbus": {"cache": "memory"}})
    first_read = 0

    async def main() -> list[Any]:
        async def read() -> str:
            nonlocal first_read
            got: list[str] = []
            async for chunk in client.astream(PROMPT):
                got.append(chunk.content or "")
                first_read += len(got) == 1
            return "".join(got)

        tasks = [asyncio.create_task(read()) for _ in range(100)]
        await _await_until(lambda: first_read == 100, "100 readers at the first chunk")
        for _ in range(10):  # everyone waits for the second chunk: task 0 pulls it
            await asyncio.sleep(0)
        for t in tasks[:cancelled]:
            t.cancel()
        for _ in range(10):
            await asyncio.sleep(0)
        provider.go.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert client.engine.aflights()[1].in_flight() == {}
        if cancelled < 100:  # the answer was stored: the same stream is a hit
            assert "".join([c.content or "" async for c in client.astream(PROMPT)]) == "a b c d"
        return results

    results = asyncio.run(main())
    assert all(isinstance(r, asyncio.CancelledError) for r in results[:cancelled])
    assert results[cancelled:] == ["a b c d"] * (100 - cancelled)
    assert provider.calls == 1
    if cancelled < 100:
        assert (provider.finished, provider.closed_early) == (1, 0)
    else:  # the last reader left: the provider's stream was closed, once
        assert (provider.finished, provider.closed_early) == (0, 1)
