"""One set of behaviours, run in all four call modes (chat, achat, stream, astream).

The modes share one engine (``modelbus._engine``): the same arguments, the same cache
plan, single-flight, retries, fallbacks, templates, tool loop, response formats, budgets
and accounting. Each test here is parametrized over the modes, so a behaviour that one
mode lost fails by name (in the spirit of simonw/llm's async parity tests).
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelbus import ChatChunk, ChatRequest, ChatResponse, Client, Config, Usage
from modelbus._plugins.loading import load_plugins
from modelbus._plugins.registry import Registration
from modelbus.errors import BudgetExceededError, CacheMiss
from modelbus.events import CallEvent, CallFinished, CallStarted, FirstChunk
from modelbus.testing import FakeClock, FakeProvider, make_client

MODES = ["chat", "achat", "stream", "astream"]


def run(c: Client, mode: str, *args: Any, **kw: Any) -> tuple[ChatResponse, list[str]]:
    """The response of one call in ``mode``, and the text of its chunks (streams)."""
    if mode == "chat":
        return c.chat(*args, **kw), []
    if mode == "achat":
        return asyncio.run(c.achat(*args, **kw)), []
    if mode == "stream":
        s = c.stream(*args, **kw)
        chunks = [ch.content or "" for ch in s]
        return s.response, chunks

    async def astream() -> tuple[ChatResponse, list[str]]:
        s = c.astream(*args, **kw)
        chunks = [ch.content or "" async for ch in s]
        return s.response, chunks

    return asyncio.run(astream())


@pytest.mark.parametrize("mode", MODES)
def test_a_plain_call_answers_and_is_counted_once(mode: str) -> None:
    fake = FakeProvider()
    fake.enqueue_text("hello there", usage=Usage(7, 3, 10))
    c = make_client(fake, {"modelbus": {"cache": "none"}})
    resp, chunks = run(c, mode, "hi")
    assert resp.content == "hello there" and resp.provider == "fake"
    assert resp.attempts == 1 and not resp.cached and resp.latency_s > 0
    assert resp.usage == Usage(7, 3, 10)
    if mode.endswith("stream"):
        assert "".join(chunks) == "hello there"
    totals = c.usage_totals
    assert (totals.requests, totals.cache_hits, totals.shared) == (1, 0, 0)
    assert totals.usage.total_tokens == 10


@pytest.mark.parametrize("mode", MODES)
def test_the_second_identical_call_is_a_cache_hit(mode: str) -> None:
    fake = FakeProvider()
    fake.enqueue_text("cached answer")
    c = make_client(fake, {"modelbus": {"cache": "memory"}})
    first, _ = run(c, mode, "q")
    second, chunks = run(c, mode, "q")
    assert not first.cached and second.cached and second.attempts == 0
    assert second.content == "cached answer" and fake.calls == 1
    if mode.endswith("stream"):
        assert "".join(chunks) == "cached answer"  # replayed as chunks
    assert (c.usage_totals.requests, c.usage_totals.cache_hits) == (1, 1)


@pytest.mark.parametrize("mode", MODES)
def test_cache_modes_only_bypass_refresh(mode: str) -> None:
    fake = FakeProvider()
    c = make_client(fake, {"modelbus": {"cache": "memory"}})
    with pytest.raises(CacheMiss):
        run(c, mode, "q", cache="only")
    assert fake.calls == 0
    fake.enqueue_text("one")
    run(c, mode, "q")
    fake.enqueue_text("two")
    bypassed, _ = run(c, mode, "q", cache="bypass")
    assert bypassed.content == "two" and not bypassed.cached
    assert run(c, mode, "q")[0].content == "one"  # bypass neither read nor wrote
    fake.enqueue_text("three")
    assert run(c, mode, "q", cache="refresh")[0].content == "three"
    assert run(c, mode, "q", cache="only")[0].content == "three"  # refresh overwrote
    assert fake.calls == 3


def test_cache_only_without_a_cache_raises_in_every_mode() -> None:
    c = make_client(FakeProvider(), {"modelbus": {"cache": "none"}})
    for mode in MODES:
        with pytest.raises(CacheMiss, match="no cache is configured"):
            run(c, mode, "q", cache="only")


@pytest.mark.parametrize("mode", MODES)
def test_a_transient_error_is_retried(mode: str) -> None:
    fake = FakeProvider()
    fake.enqueue_error(503, "busy").enqueue_text("after retry")
    c = make_client(fake, {"modelbus": {"cache": "none"}})
    resp, _ = run(c, mode, "q")
    assert resp.content == "after retry" and resp.attempts == 2 and fake.calls == 2


def _two_providers(config: dict[str, Any]) -> tuple[Client, FakeProvider, FakeProvider]:
    clock = FakeClock()
    primary = FakeProvider("primary", clock=clock)
    backup = FakeProvider("backup", model="b", clock=clock)
    reg = load_plugins().registry.copy()
    for p in (primary, backup):
        reg.add(Registration("providers", p.name, (lambda p=p: p), plugin="parity"))
    client = Client(Config.from_dict(config), clock=clock.as_clock(), registry=reg)
    return client, primary, backup


@pytest.mark.parametrize("mode", MODES)
def test_an_unavailable_model_falls_back(mode: str) -> None:
    c, primary, backup = _two_providers(
        {
            "modelbus": {"cache": "none", "model": "main"},
            "models": {"main": {"provider": "primary", "model": "p", "fallbacks": ["backup/b"]}},
            "retry_policies": {"exponential": {"max_attempts": 1}},
        }
    )
    primary.enqueue_error(500, "down")
    backup.enqueue_text("from backup")
    resp, _ = run(c, mode, "q")
    assert resp.content == "from backup" and resp.provider == "backup"
    assert (primary.calls, backup.calls) == (1, 1)


@pytest.mark.parametrize("mode", MODES)
def test_a_template_renders_in_every_mode(mode: str, tmp_path: Path) -> None:
    (tmp_path / "greet.toml").write_text(
        'system = "Be brief."\nuser = "Say hello to {{ name }}."\n'
    )
    fake = FakeProvider()
    c = make_client(fake, {"modelbus": {"cache": "none", "templates_dir": str(tmp_path)}})
    resp, _ = run(c, mode, template="greet", variables={"name": "Ada"})
    sent = fake.requests[-1].messages
    assert [m.role for m in sent] == ["system", "user"]
    assert sent[1].text == "Say hello to Ada." and resp.content == "echo: Say hello to Ada."


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.mark.parametrize("mode", MODES)
def test_the_tool_loop_runs_in_every_mode(mode: str) -> None:
    fake = FakeProvider()
    fake.enqueue_tool_call("add", '{"a": 2, "b": 3}').enqueue_text("The sum is 5.")
    c = make_client(fake, {"modelbus": {"cache": "none"}})
    resp, chunks = run(c, mode, "2+3?", tools=[add], max_tool_rounds=2)
    assert resp.content == "The sum is 5." and fake.calls == 2
    assert [m.role for m in resp.transcript] == ["user", "assistant", "tool", "assistant"]
    assert resp.transcript[2].text == "5"
    assert resp.usage.total_tokens == 30  # both rounds
    if mode.endswith("stream"):
        assert "".join(chunks) == "The sum is 5."
    assert fake.requests[1].messages[-1].role == "tool"


@dataclass
class City:
    name: str
    population: int


@pytest.mark.parametrize("mode", MODES)
def test_a_response_format_is_parsed_in_every_mode(mode: str) -> None:
    pytest.importorskip("modelbus_structured_output")
    fake = FakeProvider()
    fake.enqueue_text('{"name": "Paris", "population": 2100000}')
    c = make_client(fake, {"modelbus": {"cache": "none"}})
    if mode in ("chat", "achat"):
        resp, _ = run(c, mode, "a city", response_format=City)
        assert resp.parsed == City("Paris", 2100000)
        return
    if mode == "stream":
        s = c.stream("a city", response_format=City)
        partials = list(s)
    else:

        async def go() -> tuple[Any, list[Any]]:
            s = c.astream("a city", response_format=City)
            return s, [p async for p in s]

        s, partials = asyncio.run(go())
    assert partials and s.response.parsed == City("Paris", 2100000)


@pytest.mark.parametrize("mode", MODES)
def test_a_budget_refuses_a_call_that_could_overspend(mode: str) -> None:
    fake = FakeProvider(model="bm")
    catalog = {"bm": {"input_per_1m": 0.0, "output_per_1m": 1.0}}
    c = make_client(
        fake, {"modelbus": {"cache": "none", "max_cost_usd": 0.0015}, "catalog": catalog}
    )
    run(c, mode, "q", max_tokens=1000)  # reserves $0.001, settles to 5 output tokens
    with pytest.raises(BudgetExceededError):
        run(c, mode, "q", max_tokens=2000)  # $0.002 worst case > what is left
    assert fake.calls == 1


@pytest.mark.parametrize("mode", MODES)
def test_observers_see_the_same_events(mode: str) -> None:
    seen: list[CallEvent] = []

    class Recorder:
        def on_event(self, event: CallEvent) -> None:
            seen.append(event)

    fake = FakeProvider()
    fake.enqueue_text("observed")
    reg = load_plugins().registry.copy()
    reg.add(Registration("providers", "fake", lambda: fake, plugin="parity"))
    reg.add(Registration("observers", "rec", Recorder, plugin="parity"))
    cfg = {"modelbus": {"provider": "fake", "cache": "memory", "observers": ["rec"]}}
    c = Client(Config.from_dict(cfg), clock=FakeClock().as_clock(), registry=reg)
    run(c, mode, "q")
    kinds = [type(e).__name__ for e in seen]
    expected = ["CallStarted", "CacheMissed", "CacheStored", "CallFinished"]
    if mode.endswith("stream"):
        expected.insert(2, "FirstChunk")
        assert isinstance(seen[0], CallStarted) and seen[0].stream
        assert any(isinstance(e, FirstChunk) for e in seen)
    assert kinds == expected
    done = seen[-1]
    assert isinstance(done, CallFinished) and done.cache == "miss" and done.attempts == 1


# --- single-flight in all four modes ------------------------------------------------------


class Gated(FakeProvider):
    """A FakeProvider whose replies (whole or streamed) wait at a gate the test opens."""

    def __init__(self) -> None:
        super().__init__("fake", clock=FakeClock())
        self.gate = threading.Event()

    def chat(self, request: ChatRequest) -> ChatResponse:
        assert self.gate.wait(30), "the test never opened the gate"
        return super().chat(request)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        while not self.gate.is_set():
            await asyncio.sleep(0.001)
        return await super().achat(request)

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        assert self.gate.wait(30), "the test never opened the gate"
        yield from super().stream(request)

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        while not self.gate.is_set():
            await asyncio.sleep(0.001)
        async for chunk in super().astream(request):
            yield chunk


def _joined(c: Client, mode: str) -> int:
    """Callers that have joined the call in flight, beyond its leader."""
    e = c.engine
    if mode == "chat":
        return sum(e.flight.in_flight().values())
    if mode == "stream":
        return sum(e.stream_flights.in_flight().values()) - 1
    flight, streams = e.aflights()
    if mode == "achat":
        return sum(flight.waiters(k) for k in list(flight._calls))
    return sum(streams.in_flight().values()) - 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [2, 8])
def test_identical_concurrent_calls_share_one_provider_call(mode: str, n: int) -> None:
    fake = Gated()
    fake.enqueue_text("one answer for all")
    c = make_client(fake, {"modelbus": {"cache": "memory"}})
    if mode in ("chat", "stream"):
        results: list[tuple[ChatResponse, list[str]]] = []
        lock = threading.Lock()

        def one() -> None:
            got = run(c, mode, "same")
            with lock:
                results.append(got)

        threads = [threading.Thread(target=one) for _ in range(n)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while _joined(c, mode) < n - 1:
            assert time.monotonic() < deadline, "callers never joined the call in flight"
            time.sleep(0.001)
        fake.gate.set()
        for t in threads:
            t.join(30)
    else:

        async def main() -> list[tuple[ChatResponse, list[str]]]:
            async def one() -> tuple[ChatResponse, list[str]]:
                if mode == "achat":
                    return await c.achat("same"), []
                s = c.astream("same")
                chunks = [ch.content or "" async for ch in s]
                return s.response, chunks

            tasks = [asyncio.create_task(one()) for _ in range(n)]
            for _ in range(100_000):
                if _joined(c, mode) >= n - 1:
                    break
                await asyncio.sleep(0)
            fake.gate.set()
            return list(await asyncio.gather(*tasks))

        results = asyncio.run(main())
    assert fake.calls == 1
    assert len(results) == n
    assert all(r.content == "one answer for all" for r, _ in results)
    if mode.endswith("stream"):
        assert all("".join(chunks) == "one answer for all" for _, chunks in results)
    totals = c.usage_totals
    assert (totals.requests, totals.shared) == (1, n - 1)
    assert totals.usage.total_tokens == 15  # one provider call, counted once


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_follower_keeps_the_shared_stream_when_the_leader_leaves(mode: str) -> None:
    fake = FakeProvider()
    fake.enqueue_text("a b c d")
    c = make_client(fake, {"modelbus": {"cache": "memory"}})
    if mode == "stream":
        leader, follower = c.stream("q"), c.stream("q")
        next(iter(leader))  # the leader opens the provider stream
        got = [ch.content or "" for ch in follower]  # from the first chunk on
        leader.close()
        assert "".join(got) == "a b c d" and follower.response.content == "a b c d"
    else:

        async def main() -> None:
            leader, follower = c.astream("q"), c.astream("q")
            it = aiter(leader)
            await anext(it)
            got = [ch.content or "" async for ch in follower]
            await leader.aclose()
            assert "".join(got) == "a b c d" and follower.response.content == "a b c d"

        asyncio.run(main())
    assert fake.calls == 1


class Endless(FakeProvider):
    """A provider stream of 50 words that waits at a gate before its first chunk and
    counts how often it is closed (``closes``). The async stream is a long answer still
    being generated after its fifth word (the shared async stream reads ahead of its
    readers): it ends only when closed."""

    def __init__(self) -> None:
        super().__init__("fake")
        self.gate = threading.Event()
        self.closes = 0

    def _words(self) -> Iterator[ChatChunk]:
        for i in range(50):
            yield ChatChunk(id="c", model="m", content=f"w{i} ")
        yield ChatChunk(id="c", model="m", finish_reason="stop")

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        self.requests.append(request)
        assert self.gate.wait(10), "the test never opened the gate"
        try:
            yield from self._words()
        finally:
            self.closes += 1

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        while not self.gate.is_set():
            await asyncio.sleep(0)
        try:
            for i, chunk in enumerate(self._words()):
                if i == 5:
                    await asyncio.Event().wait()  # never set
                yield chunk
        finally:
            self.closes += 1


@pytest.mark.parametrize(("mode", "n"), [("stream", 8), ("astream", 100)])
def test_the_shared_provider_stream_is_closed_when_its_last_reader_leaves(
    mode: str, n: int
) -> None:
    # concepts.md, single-flight: identical streams share one provider stream, "closed
    # only when the last of them leaves early". Each of n readers (threads, tasks) reads
    # a few chunks and leaves: the provider's stream stays open until the last one has
    # left, then is closed at once (not at garbage collection: the connection and the
    # budget reservation are held until then), and once.
    fake = Endless()
    c = make_client(fake, {"modelbus": {"cache": "memory"}})
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection must not close what the client left open
    try:
        if mode == "stream":
            _threads_leave_one_by_one(c, fake, n)
        else:
            asyncio.run(_tasks_leave_one_by_one(c, fake, n))
    finally:
        if gc_was_enabled:
            gc.enable()
    assert fake.calls == 1 and fake.closes == 1


def _threads_leave_one_by_one(c: Client, fake: Endless, n: int) -> None:
    read = [threading.Event() for _ in range(n)]
    leave = [threading.Event() for _ in range(n)]
    got: list[list[str]] = [[] for _ in range(n)]

    def reader(i: int) -> None:
        s = c.stream("same")
        it = iter(s)
        for _ in range(1 + i % 5):  # each stops at its own point
            got[i].append(next(it).content or "")
        read[i].set()
        assert leave[i].wait(10)
        s.close()

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while _joined(c, "stream") < n - 1:
        assert time.monotonic() < deadline, "the readers never joined one stream"
        time.sleep(0.001)
    fake.gate.set()
    for ev in read:
        assert ev.wait(10)
    # half of them leave one at a time: the others still read it
    for i in range(n // 2):
        leave[i].set()
        threads[i].join(10)
        assert fake.closes == 0, f"closed after {i + 1} of {n} readers left"
    # the rest leave together: whichever is last closes it, once
    for ev in leave[n // 2 :]:
        ev.set()
    for t in threads:
        t.join(10)
        assert not t.is_alive()
    assert all(g == [f"w{k} " for k in range(1 + i % 5)] for i, g in enumerate(got))
    assert fake.closes == 1, "closed as the last reader left"
    assert _joined(c, "stream") == -1, "the abandoned stream left the registry"


async def _tasks_leave_one_by_one(c: Client, fake: Endless, n: int) -> None:
    leave = [asyncio.Event() for _ in range(n)]
    read = [asyncio.Event() for _ in range(n)]

    async def reader(i: int) -> list[str]:
        s = c.astream("same")
        it = aiter(s)
        got = [(await anext(it)).content or "" for _ in range(1 + i % 5)]
        read[i].set()
        await leave[i].wait()
        await s.aclose()
        return got

    tasks = [asyncio.create_task(reader(i)) for i in range(n)]
    for _ in range(100_000):
        if _joined(c, "astream") >= n - 1:
            break
        await asyncio.sleep(0)
    assert _joined(c, "astream") == n - 1, "the readers never joined one stream"
    fake.gate.set()
    await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in read)), 10)
    for i in range(n // 2):
        leave[i].set()
        await asyncio.wait_for(tasks[i], 10)
        assert fake.closes == 0, f"closed after {i + 1} of {n} readers left"
    for ev in leave[n // 2 :]:
        ev.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert all(g == [f"w{k} " for k in range(1 + i % 5)] for i, g in enumerate(results))
    # checked before asyncio.run ends: its shutdown_asyncgens would close it anyway
    assert fake.closes == 1, "closed as the last reader left"
    assert _joined(c, "astream") == -1, "the abandoned stream left the registry"
