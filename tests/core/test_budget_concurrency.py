"""Budgets through the client: concurrent calls see each other's reservations (threads,
asyncio tasks, batches, streams), windows roll over on the injected wall clock, named
budgets and scopes, strict mode."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from modelbus import ChatChunk, ChatRequest, ChatResponse, Clock, Usage
from modelbus.errors import (
    APITimeoutError,
    BudgetExceededError,
    ConfigError,
    ProviderError,
    ServerError,
)
from modelbus.testing import FakeClock, FakeProvider, FakeReply, make_client

# $1 per 1M output tokens, input free: a call with max_tokens=1000 reserves exactly $0.001
# whatever its prompt, and costs exactly that when the reply uses all 1000 tokens.
CATALOG = {"bm": {"input_per_1m": 0.0, "output_per_1m": 1.0}}
WORST = 0.001


class Metered(FakeProvider):
    """Replies using ``max_tokens`` output tokens (the worst case) after a real pause
    (threads) or a few event-loop turns (tasks), so that calls overlap; records how many
    were in flight at once."""

    def __init__(self, pause_s: float = 0.02, used: float = 1.0) -> None:
        super().__init__(model="bm")
        self.pause_s = pause_s
        self.used = used
        self.in_flight = 0
        self.peak = 0
        self._gate = threading.Lock()

    def _reply(self, request: ChatRequest) -> ChatResponse:
        resp = self._next(request)
        n = int((request.max_tokens or 0) * self.used)
        return attrs.evolve(resp, model="bm", usage=Usage(0, n, n))

    def _enter(self) -> None:
        with self._gate:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def _leave(self) -> None:
        with self._gate:
            self.in_flight -= 1

    def chat(self, request: ChatRequest) -> ChatResponse:
        self._enter()
        try:
            time.sleep(self.pause_s)
            return self._reply(request)
        finally:
            self._leave()

    async def achat(self, request: ChatRequest) -> ChatResponse:
        self._enter()
        try:
            for _ in range(5):
                await asyncio.sleep(0)
            return self._reply(request)
        finally:
            self._leave()


def _client(provider: FakeProvider, limit: float | None = None, **more: Any) -> Any:
    core: dict[str, Any] = {"cache": "none"}
    if limit is not None:
        core["max_cost_usd"] = limit
    config = {"modelbus": core, "catalog": CATALOG, **more}
    return make_client(provider, config)


@pytest.mark.parametrize("n", [8, 200])
def test_concurrent_threads_never_spend_more_than_the_limit(n: int) -> None:
    allowed = 5 if n == 8 else 37
    limit = allowed * WORST + WORST / 2
    fake = Metered(pause_s=0.02 if n == 8 else 0.05)
    c = _client(fake, limit)
    results = c.batch(
        [
            {"messages": [{"role": "user", "content": f"q{i}"}], "max_tokens": 1000}
            for i in range(n)
        ],
        concurrency=n,
    )
    ok = [r for r in results if r.ok]
    refused = [r for r in results if isinstance(r.error, BudgetExceededError)]
    assert fake.peak > 1  # the calls did overlap
    assert len(ok) == allowed and len(refused) == n - allowed and fake.calls == allowed
    assert c.usage_totals.cost_usd == pytest.approx(allowed * WORST)
    assert c.usage_totals.cost_usd <= limit


@pytest.mark.parametrize("n", [8, 200])
async def test_concurrent_tasks_never_spend_more_than_the_limit(n: int) -> None:
    allowed = 3 if n == 8 else 64
    limit = allowed * WORST + WORST / 3
    fake = Metered()
    c = _client(fake, limit)
    outcomes = await asyncio.gather(
        *(c.achat(f"q{i}", max_tokens=1000) for i in range(n)), return_exceptions=True
    )
    ok = [o for o in outcomes if isinstance(o, ChatResponse)]
    refused = [o for o in outcomes if isinstance(o, BudgetExceededError)]
    assert fake.peak > 1
    assert len(ok) == allowed and len(refused) == n - allowed
    assert c.usage_totals.cost_usd == pytest.approx(allowed * WORST) and fake.calls == allowed


async def test_abatch_gives_refused_requests_an_error_line() -> None:
    fake = Metered()
    c = _client(fake, 2 * WORST)
    results = await c.abatch([{"messages": "q", "max_tokens": 1000}] * 6, concurrency=6)
    lines = [r.to_openai() for r in results]
    assert sum(r.ok for r in results) == 2
    errors = [line["error"] for line in lines if line["error"] is not None]
    assert len(errors) == 4
    assert all(e["type"] == "BudgetExceededError" for e in errors), errors


async def test_real_costs_below_the_worst_case_leave_room_for_more_calls() -> None:
    fake = Metered(used=0.25)  # each call costs a quarter of its reservation
    c = _client(fake, 2 * WORST)
    for _ in range(5):  # room while spent + $0.001 <= $0.002: spent 0, .25, .5, .75, 1 (e-3)
        await c.achat("q", max_tokens=1000)
    with pytest.raises(BudgetExceededError, match=r"\$0.001250 spent"):
        await c.achat("q", max_tokens=1000)
    assert fake.calls == 5 and c.usage_totals.cost_usd == pytest.approx(5 * WORST / 4)


def test_the_error_says_limit_window_scope_spent_reserved_and_worst_case() -> None:
    fake = Metered(pause_s=0)
    c = _client(fake, budgets={"daily": {"max_cost_usd": 0.0015, "window": "day"}})
    c.chat("q", max_tokens=1000)
    with pytest.raises(BudgetExceededError) as info:
        c.chat("q", max_tokens=1000)
    e = info.value
    assert (e.budget, e.window, e.scope, e.model) == ("budgets.daily", "day", "client", "bm")
    assert (e.limit_usd, e.spent_usd, e.reserved_usd) == (0.0015, WORST, 0.0)
    assert e.worst_case_usd == WORST
    text = str(e)
    assert "budgets.daily=$0.0015" in text and "window day" in text and "scope client" in text
    assert "$0.001000 spent" in text and "$0.000000 reserved" in text


def test_a_failed_call_is_refunded_a_timed_out_one_is_not() -> None:
    fake = Metered(pause_s=0)
    c = _client(fake, 2 * WORST, retry_policies={"exponential": {"max_attempts": 1}})
    fake.enqueue_error(500)
    fake.enqueue_error(408)  # the server gave up reading the request: not billed
    for _ in range(2):
        with pytest.raises(ProviderError):
            c.chat("q", max_tokens=1000)
    c.chat("q", max_tokens=1000)
    fake.enqueue(FakeReply(error=APITimeoutError("no answer in time", provider="fake")))
    with pytest.raises(APITimeoutError):
        c.chat("q", max_tokens=1000)  # may have been billed: its worst case stays counted
    with pytest.raises(BudgetExceededError, match=r"\$0.002000 spent"):
        c.chat("q", max_tokens=1000)
    assert fake.calls == 4


def _wall(*ymdhms: int) -> float:
    return datetime(*ymdhms, tzinfo=UTC).timestamp()  # type: ignore[arg-type]


def test_day_and_month_windows_roll_over_on_the_injected_wall_clock() -> None:
    now = [_wall(2026, 1, 31, 23, 0)]
    fc = FakeClock()
    fake = Metered(pause_s=0)
    fake.clock = fc
    clock = Clock(fc.monotonic, fc.sleep, fc.asleep, wall=lambda: now[0])
    from modelbus import Client

    c = Client(
        {
            "modelbus": {"provider": "fake", "cache": "none"},
            "catalog": CATALOG,
            "budgets": {
                "daily": {"max_cost_usd": WORST, "window": "day"},
                "monthly": {"max_cost_usd": 2 * WORST, "window": "month"},
            },
        },
        clock=clock,
        registry=make_client(fake).registry,
    )
    c.chat("q", max_tokens=1000)
    with pytest.raises(BudgetExceededError, match="budgets.daily"):
        c.chat("q", max_tokens=1000)
    now[0] = _wall(2026, 2, 1, 0, 0, 1)  # a new day and a new month
    c.chat("q", max_tokens=1000)
    now[0] = _wall(2026, 2, 2, 9)  # a new day, same month
    c.chat("q", max_tokens=1000)
    now[0] = _wall(2026, 2, 3, 9)
    with pytest.raises(BudgetExceededError, match="budgets.monthly") as info:
        c.chat("q", max_tokens=1000)
    assert info.value.window == "month" and "2026-02" in str(info.value)
    assert fake.calls == 3


def test_scopes_namespace_is_shared_by_clients_and_model_splits_by_model() -> None:
    ns = f"shared-{time.monotonic_ns()}"  # the memory store is the process's
    budgets = {
        "team": {"max_cost_usd": 3 * WORST, "scope": "namespace"},
        "each": {"max_cost_usd": 2 * WORST, "scope": "model"},
    }
    catalog = {**CATALOG, "bm2": {"input_per_1m": 0.0, "output_per_1m": 1.0}}
    fake = Metered(pause_s=0)
    config = {"modelbus": {"cache": "none"}, "catalog": catalog, "budgets": budgets}
    a, b = make_client(fake, config), make_client(fake, config)
    a.namespace = b.namespace = ns
    a.chat("q", max_tokens=1000, model="bm")
    b.chat("q", max_tokens=1000, model="bm")
    with pytest.raises(BudgetExceededError, match="budgets.each") as info:
        a.chat("q", max_tokens=1000, model="bm")  # bm has spent its 2 across both clients
    assert info.value.scope == "model" and "'bm'" in str(info.value)
    b.chat("q", max_tokens=1000, model="bm2")
    with pytest.raises(BudgetExceededError, match="budgets.team"):
        a.chat("q", max_tokens=1000, model="bm2")  # the namespace's 3 are spent
    other = make_client(fake, config)
    other.namespace = ns + "-other"
    other.chat("q", max_tokens=1000, model="bm")


def test_a_budget_limited_to_some_models_ignores_the_others() -> None:
    fake = Metered(pause_s=0)
    catalog = {**CATALOG, "bm2": {"input_per_1m": 0.0, "output_per_1m": 1.0}}
    c = make_client(
        fake,
        {
            "modelbus": {"cache": "none"},
            "catalog": catalog,
            "budgets": {"bm-only": {"max_cost_usd": WORST, "models": ["bm"]}},
        },
    )
    c.chat("q", max_tokens=1000, model="bm")
    for _ in range(3):
        c.chat("q", max_tokens=1000, model="bm2")
    with pytest.raises(BudgetExceededError):
        c.chat("q", max_tokens=1000, model="bm")


def test_strict_mode_refuses_an_unpriced_model_and_the_default_warns_once() -> None:
    fake = FakeProvider(model="local-llama")
    strict = make_client(fake, {"modelbus": {"max_cost_usd": 1.0, "budget_strict": True}})
    with pytest.raises(BudgetExceededError, match="local-llama has no price") as info:
        strict.chat("a")
    assert info.value.model == "local-llama" and fake.calls == 0
    loose = make_client(fake, {"modelbus": {"max_cost_usd": 1.0, "cache": "none"}})
    with structlog.testing.capture_logs() as logs:
        loose.chat("a")
        loose.chat("b")
    warned = [e for e in logs if e["event"] == "budget_unpriced_model"]
    assert len(warned) == 1 and "NOT counted" in warned[0]["detail"]
    assert fake.calls == 2


class MeteredStreams(Metered):
    """Streams two chunks, the last with the worst case's usage (``max_tokens`` output
    tokens), after a real pause (threads) or a few event-loop turns (tasks) between them,
    so that streams overlap; records how many were open at once."""

    def _chunks(self, request: ChatRequest) -> tuple[ChatChunk, ChatChunk]:
        self.requests.append(request)
        n = int((request.max_tokens or 0) * self.used)
        last = ChatChunk(
            id="s", model="bm", content="b", finish_reason="stop", usage=Usage(0, n, n)
        )
        return ChatChunk(id="s", model="bm", content="a"), last

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        first, last = self._chunks(request)
        self._enter()
        try:
            yield first
            time.sleep(self.pause_s)
            yield last
        finally:
            self._leave()

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        first, last = self._chunks(request)
        self._enter()
        try:
            yield first
            for _ in range(5):
                await asyncio.sleep(0)
            yield last
        finally:
            self._leave()


@pytest.mark.parametrize(("mode", "n"), [("stream", 16), ("astream", 200)])
def test_concurrent_streams_never_spend_more_than_the_limit(mode: str, n: int) -> None:
    # budgets.md: streams reserve their worst case before the first chunk, so streams
    # open at once see each other's reservations, as calls do.
    allowed = 5 if n == 16 else 37
    limit = allowed * WORST + WORST / 2
    fake = MeteredStreams(pause_s=0.05)
    c = _client(fake, limit)
    outcomes: list[object] = []
    if mode == "stream":
        lock = threading.Lock()

        def read(i: int) -> None:
            out: object
            try:
                out = "".join(ch.content or "" for ch in c.stream(f"q{i}", max_tokens=1000))
            except BudgetExceededError as exc:
                out = exc
            with lock:
                outcomes.append(out)

        threads = [threading.Thread(target=read, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    else:

        async def main() -> list[object]:
            async def read(i: int) -> str:
                return "".join(
                    [ch.content or "" async for ch in c.astream(f"q{i}", max_tokens=1000)]
                )

            return await asyncio.gather(*(read(i) for i in range(n)), return_exceptions=True)

        outcomes = asyncio.run(main())
    refused = [o for o in outcomes if isinstance(o, BudgetExceededError)]
    assert fake.peak > 1  # the streams did overlap
    assert outcomes.count("ab") == allowed and len(refused) == n - allowed
    assert fake.calls == allowed
    assert c.usage_totals.cost_usd == pytest.approx(allowed * WORST)
    assert c.usage_totals.cost_usd <= limit


def test_streams_reserve_before_the_first_chunk_and_settle_when_done() -> None:
    fake = Metered(pause_s=0)
    fake.enqueue_text("abc", usage=Usage(0, 400, 400))
    c = _client(fake, 2 * WORST)
    stream = c.stream("q", max_tokens=1000)
    it = iter(stream)
    next(it)  # the first chunk is out: the stream's $0.001 is reserved
    c.chat("q", max_tokens=1000)
    with pytest.raises(BudgetExceededError, match=r"\$0.001000 spent and \$0.001000 reserved"):
        c.chat("q", max_tokens=1000)
    list(it)  # finished: settled to its real cost, $0.0004
    assert stream.response.cost_usd == pytest.approx(0.0004)
    with pytest.raises(BudgetExceededError, match=r"\$0.001400 spent and \$0.000000 reserved"):
        c.chat("q", max_tokens=1000)


async def test_an_abandoned_stream_keeps_its_reservation_unless_usage_was_seen() -> None:
    fake = Metered(pause_s=0)
    c = _client(fake, 3 * WORST)
    fake.enqueue_text("abc", usage=Usage(0, 400, 400))
    async with c.astream("q", max_tokens=1000) as s:
        async for _ in s:
            break  # abandoned after the first chunk, before its usage arrived
    with pytest.raises(BudgetExceededError, match=r"\$0.001000 spent"):
        await c.achat("q", max_tokens=3000)  # the worst case stays counted
    fake.enqueue_text("abc", usage=Usage(0, 400, 400))
    with c.stream("q", max_tokens=1000) as s2:
        chunks = list(s2)[:-1]  # read to the end: its usage was seen
    assert chunks
    with pytest.raises(BudgetExceededError, match=r"\$0.001400 spent and \$0.000000"):
        await c.achat("q", max_tokens=2000)
    assert c.usage_totals.cost_usd == pytest.approx(0.0004)  # only the finished stream


def test_named_budget_keys_are_validated() -> None:
    with pytest.raises(ConfigError) as info:
        make_client(FakeProvider(), {"budgets": {"d": {"max_cost_usd": 1, "window": "week"}}})
    assert "budgets.d" in str(info.value) and "window" in str(info.value)
    with pytest.raises(ConfigError, match="budgets.d"):
        make_client(FakeProvider(), {"budgets": {"d": {"max_cost_usd": float("nan")}}})
    with pytest.raises(ConfigError, match="budgets.d"):
        make_client(FakeProvider(), {"budgets": {"d": {"max_cost_usd": -1}}})
    with pytest.raises(ConfigError, match="budgets.d"):
        make_client(FakeProvider(), {"budgets": {"d": {"window": "day"}}})
    with pytest.raises(ConfigError, match="max_cost_usd"):
        make_client(FakeProvider(), {"modelbus": {"max_cost_usd": float("inf")}})
    with pytest.raises(ConfigError, match="budgets"):
        make_client(FakeProvider(), {"budgets": {"d": 5}})


class Scripted(FakeProvider):
    """Call ``q{i}`` yields to the event loop ``turns[i]`` times, then fails with a 500
    (``fail[i]``) or answers using ``used[i]`` of its ``max_tokens``."""

    def __init__(self, turns: list[int], used: list[float], fail: list[bool]) -> None:
        super().__init__(model="bm")
        self.turns, self.used, self.fail = turns, used, fail

    async def achat(self, request: ChatRequest) -> ChatResponse:
        i = int((request.messages[-1].text or "q0")[1:])
        for _ in range(self.turns[i]):
            await asyncio.sleep(0)
        if self.fail[i]:
            raise ServerError("boom", provider="fake", status_code=500)
        n = int((request.max_tokens or 0) * self.used[i])
        return attrs.evolve(self._next(request), model="bm", usage=Usage(0, n, n))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 30).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 6), min_size=n, max_size=n),
            st.lists(st.floats(0, 1), min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.lists(st.integers(1, 3), min_size=n, max_size=n),
        )
    ),
    st.integers(0, 8),
)
def test_any_interleaving_of_tasks_stays_under_the_limit(
    script: tuple[list[int], list[float], list[bool], list[int]], units: int
) -> None:
    turns, used, fail, sizes = script
    limit = units * WORST + WORST / 7
    fake = Scripted(turns, used, fail)
    c = _client(fake, limit, retry_policies={"exponential": {"max_attempts": 1}})

    async def run() -> list[Any]:
        calls = (c.achat(f"q{i}", max_tokens=1000 * k) for i, k in enumerate(sizes))
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(run())
    spent = c.usage_totals.cost_usd
    assert spent <= limit + 1e-12
    paid = [o for o in outcomes if isinstance(o, ChatResponse)]
    assert spent == pytest.approx(sum(o.cost_usd for o in paid))
    assert all(isinstance(o, (ChatResponse, BudgetExceededError, ServerError)) for o in outcomes)
    state = c.engine.step_state["budgets"]
    assert state is not None
    held, reserved = state.ledger.usage("max_cost_usd\x1ftotal")
    assert reserved == 0  # every reservation was settled or refunded
    assert held == pytest.approx(spent * 1e9, abs=len(paid))


@pytest.mark.parametrize("mode", ["chat", "achat", "stream", "astream"])
def test_a_retried_timeout_counts_each_attempt_that_may_be_billed(mode: str) -> None:
    """A timed-out attempt may have been generated and billed: its worst case stays
    spent, and its retry must find room for a new worst case (found by the campaign:
    a provider billed 1.3x a limit through retried timeouts)."""
    from modelbus.errors import APITimeoutError
    from modelbus.testing import FakeReply
    from tests.core.test_parity import run

    fake = FakeProvider(model="bm")
    c = _client(fake, 1.5 * WORST)
    fake.enqueue(FakeReply(error=APITimeoutError("no answer in time", provider="fake")))
    fake.enqueue_text("late", usage=Usage(0, 1000, 1000))
    with pytest.raises(BudgetExceededError):
        run(c, mode, "q", max_tokens=1000)
    assert fake.calls == 1  # the retry was refused before sending
    # Room for two worst cases: the timeout counts one, the retry answers with the other.
    fake2 = FakeProvider(model="bm")
    c2 = _client(fake2, 2 * WORST)
    fake2.enqueue(FakeReply(error=APITimeoutError("no answer in time", provider="fake")))
    fake2.enqueue_text("late", usage=Usage(0, 400, 400))
    resp, _ = run(c2, mode, "q", max_tokens=1000)
    assert resp.content == "late" and resp.attempts == 2
    with pytest.raises(BudgetExceededError, match=r"\$0.001400 spent"):
        run(c2, mode, "q", max_tokens=1000)


def test_a_call_straddling_midnight_settles_in_the_day_it_reserved_in() -> None:
    # budgets.md: "a reservation settles in the period it was made in".
    now = [_wall(2026, 3, 1, 23, 59, 59)]
    fake = MeteredStreams(pause_s=0)
    from modelbus import Client

    c = Client(
        {
            "modelbus": {"provider": "fake", "cache": "none"},
            "catalog": CATALOG,
            "budgets": {"daily": {"max_cost_usd": WORST, "window": "day"}},
        },
        clock=Clock(wall=lambda: now[0]),
        registry=make_client(fake).registry,
    )
    it = iter(c.stream("q", max_tokens=1000))
    assert next(it).content == "a"  # reserved on March 1st
    now[0] = _wall(2026, 3, 2, 0, 0, 1)
    assert "".join(ch.content or "" for ch in it) == "b"  # settled after midnight: worst case
    assert c.chat("q", max_tokens=1000).cost_usd == pytest.approx(WORST)  # March 2nd: room
    now[0] = _wall(2026, 3, 1, 23, 59, 59)  # (an injected clock may go back)
    with pytest.raises(BudgetExceededError, match="budgets.daily") as info:
        c.chat("q", max_tokens=1000)  # March 1st holds the stream's cost
    assert "2026-03-01" in str(info.value)
