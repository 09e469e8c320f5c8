"""Single-flight: concurrent identical requests in one process make one provider call.

The provider is held at a gate until every other caller has joined the call in flight
(read from the flight's ``waiters``), so the overlap is certain, not a matter of timing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from modelbus import ChatRequest, ChatResponse, Message, cache_key
from modelbus._engine.singleflight import AsyncSingleFlight, SingleFlight
from modelbus.errors import BadRequestError
from modelbus.testing import FakeClock, FakeProvider, make_client

PROMPT = "the same question"
KEY = cache_key(
    ChatRequest(model="fake-model", messages=(Message("user", PROMPT),)),
    provider="fake",
    endpoint="fake://",
)


class GatedProvider(FakeProvider):
    """A FakeProvider whose calls wait at a gate the test opens."""

    def __init__(self) -> None:
        super().__init__("fake", clock=FakeClock())
        self.entered = threading.Event()
        self.entries = 0  # calls that reached the provider (``calls`` counts answered ones)
        self.gate = threading.Event()
        self.agate: asyncio.Event | None = None

    def chat(self, request: ChatRequest) -> ChatResponse:
        with self._lock:
            self.entries += 1
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return super().chat(request)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        self.entries += 1
        self.entered.set()
        if self.agate is None:
            self.agate = asyncio.Event()
        await self.agate.wait()
        return await super().achat(request)


def _wait_until(cond: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


async def _await_until(cond: Any, what: str) -> None:
    for _ in range(100_000):
        if cond():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


def _config(kind: str, tmp_path: Path) -> dict[str, Any]:
    if kind == "sqlite":
        return {
            "modelbus": {"cache": "sqlite"},
            "caches": {"sqlite": {"path": str(tmp_path / "c.db")}},
        }
    return {"modelbus": {"cache": kind}}


@pytest.mark.parametrize("cache", ["memory", "sqlite"])
async def test_100_concurrent_tasks_make_one_call(cache: str, tmp_path: Path) -> None:
    provider = GatedProvider()
    provider.enqueue_text("the one answer")
    async with make_client(provider, _config(cache, tmp_path)) as client:
        tasks = [asyncio.create_task(client.achat(PROMPT)) for _ in range(100)]
        flight = client.engine.aflights()[0]
        await _await_until(lambda: flight.waiters(KEY) == 99, "99 tasks joining the flight")
        assert provider.entries == 1
        assert provider.agate is not None
        provider.agate.set()
        results = await asyncio.gather(*tasks)
        assert provider.entries == provider.calls == 1
        assert {r.content for r in results} == {"the one answer"}
        assert sum(not r.cached for r in results) == 100  # all answered by the one call
        assert (await client.achat(PROMPT)).cached  # and it was stored once
        assert client.cache.stats().sets == 1


def test_16_concurrent_threads_make_one_call() -> None:
    provider = GatedProvider()
    provider.enqueue_text("the one answer")
    with make_client(provider) as client:
        results: list[Any] = []

        def call() -> None:
            results.append(client.chat(PROMPT))

        threads = [threading.Thread(target=call) for _ in range(16)]
        for t in threads:
            t.start()
        _wait_until(
            lambda: client.engine.flight.waiters(KEY) == 15, "15 threads joining the flight"
        )
        assert provider.entries == 1
        provider.gate.set()
        for t in threads:
            t.join(30)
        assert provider.entries == provider.calls == 1
        assert len(results) == 16 and {r.content for r in results} == {"the one answer"}
        assert client.cache.stats().sets == 1


async def test_waiting_tasks_get_the_leaders_error() -> None:
    provider = GatedProvider()
    provider.enqueue_error(400, "prompt rejected")
    async with make_client(provider) as client:
        tasks = [asyncio.create_task(client.achat(PROMPT)) for _ in range(20)]
        flight = client.engine.aflights()[0]
        await _await_until(lambda: flight.waiters(KEY) == 19, "19 tasks joining the flight")
        assert provider.agate is not None
        provider.agate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, BadRequestError) for r in results)
        assert provider.calls == 1
        assert client.cache.stats().sets == 0  # errors are never cached


def test_waiting_threads_get_the_leaders_error() -> None:
    provider = GatedProvider()
    provider.enqueue_error(400, "prompt rejected")
    with make_client(provider) as client:
        errors: list[BaseException] = []

        def call() -> None:
            try:
                client.chat(PROMPT)
            except BadRequestError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=call) for _ in range(8)]
        for t in threads:
            t.start()
        _wait_until(lambda: client.engine.flight.waiters(KEY) == 7, "7 threads joining the flight")
        provider.gate.set()
        for t in threads:
            t.join(30)
        assert len(errors) == 8 and provider.calls == 1


async def test_a_cancelled_leader_hands_over_to_a_waiter() -> None:
    provider = GatedProvider()
    provider.enqueue_text("answered by the second leader")
    async with make_client(provider) as client:
        leader = asyncio.create_task(client.achat(PROMPT))
        await _await_until(provider.entered.is_set, "the leader calling the provider")
        waiters = [asyncio.create_task(client.achat(PROMPT)) for _ in range(5)]
        flight = client.engine.aflights()[0]
        await _await_until(lambda: flight.waiters(KEY) == 5, "5 tasks joining the flight")
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        # the first waiter calls the provider itself; the others join it
        await _await_until(
            lambda: provider.entries == 2 and flight.waiters(KEY) == 4, "a waiter taking over"
        )
        assert provider.agate is not None
        provider.agate.set()
        results = await asyncio.gather(*waiters)
        assert {r.content for r in results} == {"answered by the second leader"}
        assert (provider.entries, provider.calls) == (2, 1)


async def test_a_cancelled_waiter_leaves_the_others_alone() -> None:
    flight = AsyncSingleFlight()
    gate = asyncio.Event()
    calls = 0

    async def work() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "done"

    leader = asyncio.create_task(flight.do("k", work))
    await asyncio.sleep(0)
    quitter = asyncio.create_task(flight.do("k", work))
    stayer = asyncio.create_task(flight.do("k", work))
    await _await_until(lambda: flight.waiters("k") == 2, "two waiters")
    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    gate.set()
    assert await leader == ("done", False)
    assert await stayer == ("done", True)
    assert calls == 1


def test_an_interrupted_leader_thread_makes_a_waiter_call() -> None:
    """KeyboardInterrupt-like errors of the leader are not handed to waiters."""

    class Interrupted(BaseException):
        pass

    flight = SingleFlight()
    entered, gate = threading.Event(), threading.Event()
    calls: list[str] = []
    outcome: dict[str, Any] = {}

    def leader_fn() -> str:
        calls.append("leader")
        entered.set()
        gate.wait(30)
        raise Interrupted

    def leader() -> None:
        try:
            flight.do("k", leader_fn)
        except Interrupted:
            outcome["leader"] = "interrupted"

    def waiter() -> None:
        outcome["waiter"] = flight.do("k", lambda: calls.append("waiter") or "fresh")

    t1 = threading.Thread(target=leader)
    t1.start()
    entered.wait(30)
    t2 = threading.Thread(target=waiter)
    t2.start()
    _wait_until(lambda: flight.waiters("k") == 1, "the waiter joining")
    gate.set()
    t1.join(30)
    t2.join(30)
    assert outcome == {"leader": "interrupted", "waiter": ("fresh", False)}
    assert calls == ["leader", "waiter"]


def test_different_requests_do_not_share_a_flight() -> None:
    provider = GatedProvider()
    provider.gate.set()
    with make_client(provider) as client:
        threads = [threading.Thread(target=client.chat, args=(f"q{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert provider.calls == 4
