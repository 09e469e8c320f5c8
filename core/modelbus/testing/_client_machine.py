"""A hypothesis state machine over a whole :class:`~modelbus.Client` (cache, single-flight,
retry, fallback, budget), checked against :class:`ClientModel`, a plain reference written from
the documented rules. Public as ``modelbus.testing.machines``."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from .._client import Client
from .._config.config import Config
from .._plugins.loading import load_plugins
from .._plugins.registry import Registration
from .._retry.runner import is_retryable
from .._wire.types import ChatResponse, Message, Usage
from ..errors import APIConnectionError
from ._budget_fakes import BillingProvider, budget_config, run_gated
from ._client_budget import BudgetModel, BudgetRules
from ._fake import FakeProvider, FakeReply
from ._fault_strategies import Turns, fault_scripts, interleavings
from ._loop_clock import LoopClock

__all__ = ["PROMPTS", "ClientMachine", "ClientModel", "Outcome"]

PROMPTS = ("p0", "p1", "p2")
LATENCY_S = 2.5  # a leader's fake latency in the concurrent rules (between whole seconds)
MAX_ATTEMPTS = 3
MAX_RETRY_AFTER_S = 2  # hints of 3 s (drawn by fault_scripts) are above it

CONFIG: dict[str, Any] = {
    "modelbus": {
        "provider": "primary",
        "model": "main",
        "cache": "memory",
        "max_cost_usd": budget_config()["max_cost_usd"],
        # The retry quota has its own tests; here it would make the model depend on the
        # whole history of the run. A budget rule can turn it on with its own model.
        "retry_budget": {"enabled": False},
    },
    "models": {
        "main": {"provider": "primary", "model": "p-model", "fallbacks": ["backup/b"]},
        **budget_config()["models"],
    },
    "catalog": budget_config()["catalog"],
    "retry_policies": {
        "exponential": {
            "max_attempts": MAX_ATTEMPTS,
            # 0.5 s then 1.5 s: never a whole second, so a server hint (1 or 2 s) that
            # was ignored shows in the sleeps.
            "initial_delay_s": 0.5,
            "multiplier": 3.0,
            "max_delay_s": 8.0,
            "jitter": "none",
            "max_retry_after_s": MAX_RETRY_AFTER_S,
        }
    },
}


@attrs.frozen
class Outcome:
    """What the model says one call does: the answer ``text`` (or ``error``, an exception
    type name), the ``provider`` that answered, ``hit`` (from the cache), the provider
    calls made (``calls``: provider name → count) and the fake ``sleeps`` (seconds)."""

    text: str | None
    error: str | None
    provider: str | None
    hit: bool
    calls: dict[str, int]
    sleeps: list[float]


class ClientModel:
    """The reference: answers cached per (provider, prompt); a call looks its route's
    cache up, else calls with retries (``MAX_ATTEMPTS`` attempts; the delay before retry
    ``n`` is the server's ``Retry-After`` when ``0 < hint <= MAX_RETRY_AFTER_S``, else
    ``min(8, 0.5 * 3**(n-1))`` s; a hint above the cap, or a non-retryable error, stops at
    once), then falls back to ``backup`` after an availability error."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], str] = {}
        self.requests = self.shared = self.cache_hits = 0
        self.calls: dict[str, int] = {"primary": 0, "backup": 0}
        self.sleeps: list[float] = []

    def call(self, prompt: str, script: list[FakeReply]) -> Outcome:
        """One call of ``prompt`` with ``script`` queued at the primary; updates the model."""
        calls = {"primary": 0, "backup": 0}
        sleeps: list[float] = []
        out = self._route("primary", prompt, script, calls, sleeps)
        if out is None:  # an availability error: the fallback
            out = self._route("backup", prompt, [], calls, sleeps)
        assert out is not None
        text, error, provider, hit = out
        for k, v in calls.items():
            self.calls[k] += v
        self.sleeps += sleeps
        if error is None:
            self.cache_hits += hit
            self.requests += not hit
        return Outcome(text, error, provider, hit, calls, sleeps)

    def _route(
        self,
        provider: str,
        prompt: str,
        script: list[FakeReply],
        calls: dict[str, int],
        sleeps: list[float],
    ) -> tuple[str | None, str | None, str, bool] | None:
        if (provider, prompt) in self.cache:
            return self.cache[provider, prompt], None, provider, True
        n = 0
        while True:
            n += 1
            calls[provider] += 1
            reply = script[n - 1] if n <= len(script) else None
            error = None if reply is None else _reply_error(reply)
            if error is None:
                text = _reply_text(reply, prompt)
                self.cache[provider, prompt] = text
                return text, None, provider, False
            if not is_retryable(error):
                return None, type(error).__name__, provider, False
            hint = getattr(error, "retry_after_s", None)
            if (hint is not None and hint > MAX_RETRY_AFTER_S) or n == MAX_ATTEMPTS:
                return None  # RateLimitError / RetryError: both availability errors
            sleeps.append(float(hint) if hint else min(8.0, 0.5 * 3.0 ** (n - 1)))


def _reply_error(reply: FakeReply) -> BaseException | None:
    if reply.cut_after is not None:
        return APIConnectionError("cut", provider="fake")
    return reply.error


def _reply_text(reply: FakeReply | None, prompt: str) -> str:
    if reply is None or reply.response is None:
        return f"echo: {prompt}"
    return reply.response.content or ""


def _text(text: str, latency_s: float = 0.0) -> FakeReply:
    resp = ChatResponse(
        id="fake-machine",
        model="p-model",
        message=Message("assistant", text),
        finish_reason="stop",
        usage=Usage(10, 5, 15),
    )
    return FakeReply(resp, latency_s=latency_s)


class ClientMachine(BudgetRules, RuleBasedStateMachine):
    """Random sequences of calls through a real client — sync and async, alone and as
    concurrent identical calls — checked against :class:`ClientModel` after every step:
    each answer, which provider answered, cache hits, provider calls, fake sleeps and
    ``usage_totals``.

    Run it with ``TestClient = ClientMachine.TestCase`` (hypothesis settings on
    ``TestClient.settings``). Extend it by subclassing: ``self.client``,
    ``self.primary`` / ``self.backup`` (:class:`FakeProvider`), ``self.clock``
    (:class:`LoopClock`) and ``self.model`` are there for new rules and invariants;
    ``config()`` returns the client's config.

    The client has a budget (``max_cost_usd``, :data:`~._budget_fakes.LIMIT_USD`) and a
    priced model (alias ``priced``): the rules of :class:`~._client_budget.BudgetRules`
    call it one at a time (faults, retries, billed timeouts), from tasks overlapping in
    fake time and from threads, checked against ``self.budget``
    (:class:`~._client_budget.BudgetModel`), and the provider never bills more than the
    limit. The other rules call an unpriced model, which the budget does not count.

    ``check_stream_single_flight`` (default ``True``) runs a rule that streams one prompt
    from several tasks at once and expects one provider call, every task receiving the
    whole reply, as for ``achat``; turn it off for a client whose streams do not share.
    """

    check_stream_single_flight = True
    # Real seconds the concurrent thread rule waits for every thread to join the call in
    # flight (they join in microseconds; a client that does not share never gets there).
    join_timeout_s = 10.0

    def __init__(self) -> None:
        super().__init__()
        self.clock = LoopClock()
        self.primary = BillingProvider("primary", clock=self.clock)
        self.backup = FakeProvider("backup", clock=self.clock)
        self.model = ClientModel()
        self.budget = BudgetModel()
        reg = load_plugins().registry.copy()
        for p in (self.primary, self.backup):
            reg.add(Registration("providers", p.name, (lambda p=p: p), plugin="machine"))
        self.client = Client(
            Config.from_dict(self.config()), clock=self.clock.as_clock(), registry=reg
        )

    def config(self) -> Mapping[str, Any]:
        return CONFIG

    # --- one call ----------------------------------------------------------------------
    @rule(
        prompt=st.sampled_from(PROMPTS),
        script=fault_scripts(max_size=MAX_ATTEMPTS, texts=st.sampled_from(("yes", "no"))),
        mode=st.sampled_from(("sync", "async")),
    )
    def chat(self, prompt: str, script: list[FakeReply], mode: str) -> None:
        before = self.primary.calls
        self.primary.enqueue(*script)
        expected = self.model.call(prompt, script)
        try:
            if mode == "sync":
                resp: ChatResponse | None = self.client.chat(prompt)
            else:
                resp = self.clock.run(self.client.achat(prompt))
            error = None
        except Exception as exc:
            resp, error = None, type(exc).__name__
        used = self.primary.calls - before
        self.primary._script.clear()  # replies the call did not reach
        assert used == expected.calls["primary"], (used, expected)
        assert error == expected.error, (error, expected)
        if resp is not None:
            assert (resp.content, resp.provider, resp.cached) == (
                expected.text,
                expected.provider,
                expected.hit,
            ), expected

    # --- concurrent identical calls (single-flight) -------------------------------------
    @rule(prompt=st.sampled_from(PROMPTS), n=st.integers(2, 5))
    def concurrent_chat(self, prompt: str, n: int) -> None:
        """``n`` threads call ``prompt`` at once: one provider call, the others join it."""
        cached = ("primary", prompt) in self.model.cache
        if not cached:
            self.primary.enqueue(_text(f"shared {prompt}"))
        flight = self.client.engine.flight
        results = run_gated(
            self.primary,
            [functools.partial(self.client.chat, prompt)] * n,
            lambda _: cached or sum(flight.in_flight().values()) >= n - 1,
            self.join_timeout_s,
        )
        text = self._expect_shared(prompt, cached, n, joined=0 if cached else n - 1)
        assert [getattr(r, "content", r) for r in results] == [text] * n

    def _expect_shared(self, prompt: str, cached: bool, n: int, joined: int) -> str:
        """Update the model after ``n`` identical calls, ``joined`` of which shared the
        leader's call (the rest, after the leader, were cache hits); the answer."""
        m = self.model
        if cached:
            m.cache_hits += n
            return m.cache["primary", prompt]
        text = m.cache["primary", prompt] = f"shared {prompt}"
        m.calls["primary"] += 1
        m.requests += 1
        m.shared += joined
        m.cache_hits += n - 1 - joined
        return text

    @rule(
        prompt=st.sampled_from(PROMPTS),
        offsets=st.lists(st.integers(0, 4), min_size=2, max_size=5),
        data=st.data(),
    )
    def concurrent_achat(self, prompt: str, offsets: list[int], data: st.DataObject) -> None:
        """Tasks call ``prompt`` at fake times ``offsets`` (seconds; the same time taken in
        the order of a drawn interleaving): those that start while the first one's call
        (``LATENCY_S`` long) is in flight share it, the later ones hit the cache."""
        cached = ("primary", prompt) in self.model.cache
        n = len(offsets)
        # Tasks starting at the same fake time arrive in the drawn order; the order of
        # the turns follows the start times, so no task waits for a later one.
        schedule = data.draw(interleavings(n), label="arrival order among ties")
        turns = Turns(sorted(range(n), key=lambda i: (offsets[i], schedule.index(i))))
        if not cached:
            self.primary.enqueue(_text(f"shared {prompt}", LATENCY_S))
            self.model.sleeps.append(LATENCY_S)

        async def one(i: int) -> str | None:
            await asyncio.sleep(offsets[i])
            await turns.atake(i)
            return (await self.client.achat(prompt)).content

        async def main() -> list[str | None]:
            return list(await asyncio.gather(*(one(i) for i in range(n))))

        got = self.clock.run(main())
        start = min(offsets)
        joined = sum(1 for o in offsets if o < start + LATENCY_S) - 1
        text = self._expect_shared(prompt, cached, n, 0 if cached else joined)
        assert got == [text] * n

    @precondition(lambda self: self.check_stream_single_flight)
    @rule(prompt=st.sampled_from(PROMPTS), n=st.integers(2, 4))
    def concurrent_astream(self, prompt: str, n: int) -> None:
        """Identical streams in flight together make one provider call, as ``achat``
        does, and every task gets the whole reply."""
        cached = ("primary", prompt) in self.model.cache
        before = self.primary.calls
        if not cached:
            self.primary.enqueue(_text(f"shared {prompt}", LATENCY_S))
            self.model.sleeps.append(LATENCY_S)

        async def one() -> str:
            parts = [c.content or "" async for c in self.client.astream(prompt)]
            return "".join(parts)

        async def main() -> list[str]:
            return list(await asyncio.gather(*(one() for _ in range(n))))

        got = self.clock.run(main())
        assert self.primary.calls - before == (0 if cached else 1), "streams not shared"
        text = self._expect_shared(prompt, cached, n, 0 if cached else n - 1)
        assert got == [text] * n

    @rule()
    def clear_cache(self) -> None:
        assert self.client.cache is not None
        self.client.cache.clear()
        self.model.cache.clear()
        self.budget.cache.clear()

    # --- invariants --------------------------------------------------------------------
    @invariant()
    def provider_calls_match(self) -> None:
        got = {"primary": self.primary.calls, "backup": self.backup.calls}
        assert got == self.model.calls

    @invariant()
    def fake_sleeps_match(self) -> None:
        assert self.clock.sleeps == self.model.sleeps

    @invariant()
    def usage_totals_match(self) -> None:
        t = self.client.usage_totals
        m = self.model
        assert (t.requests, t.shared, t.cache_hits) == (m.requests, m.shared, m.cache_hits)

    def teardown(self) -> None:
        self.client.close()
