"""The budget part of the whole-client machine (``_client_machine``): the reference
:class:`BudgetModel` and :class:`BudgetRules`, the rules that call a priced model under
the client's ``max_cost_usd`` one at a time, from concurrent tasks and from concurrent
threads (the fakes they use are in ``_budget_fakes``)."""

from __future__ import annotations

import asyncio
import functools
import itertools
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from .._wire.types import ChatResponse
from ._budget_fakes import (
    BACKOFF_S,
    LATENCY_S,
    LIMIT_NANO,
    MAX_TOKENS,
    PRICED,
    PRICED_MODEL,
    BillingProvider,
    Step,
    bill_for,
    cost_nano,
    reply_for,
    run_gated,
    steps,
)
from ._fault_strategies import Turns, interleavings

if TYPE_CHECKING:
    from .._client import Client
    from ._client_machine import ClientModel
    from ._loop_clock import LoopClock

__all__ = ["BudgetModel", "BudgetRules"]


class BudgetModel:
    """The reference for the budget (docs/how-to/budgets.md): a call that is not a cache
    hit reserves its worst case (prompt tokens and ``max_tokens`` at the catalog price)
    and is refused with ``BudgetExceededError`` when ``spent + reserved + worst > limit``;
    an answer settles to its cost, an error status refunds, a timed-out attempt counts
    its worst case as spent and the retry reserves again. ``spent``, ``billed`` (what the
    provider billed) and ``cost`` (the answers' costs, in ``usage_totals``) are
    nano-dollars."""

    def __init__(self, limit: int = LIMIT_NANO) -> None:
        self.limit = limit
        self.spent = self.billed = self.cost = 0
        self.cache: dict[tuple[str, int], str] = {}

    def fits(self, worst: int, reserved: int = 0) -> bool:
        return self.spent + reserved + worst <= self.limit

    def answer(self, prompt: str, max_tokens: int, bill: int) -> str:
        self.spent += bill
        self.billed += bill
        self.cost += bill
        text = self.cache[prompt, max_tokens] = f"priced {prompt}"
        return text

    def call(
        self, m: ClientModel, prompt: str, max_tokens: int, prompt_tokens: int, script: list[Step]
    ) -> tuple[str | None, str | None]:
        """One call at a time: ``(text, error type name)``; updates ``m`` too."""
        if (prompt, max_tokens) in self.cache:
            m.cache_hits += 1
            return self.cache[prompt, max_tokens], None
        worst = cost_nano(prompt_tokens, max_tokens)
        if not self.fits(worst):
            return None, "BudgetExceededError"
        for n, step in enumerate(script, 1):
            m.calls["primary"] += 1
            if step.kind == "ok":
                m.requests += 1
                return self.answer(prompt, max_tokens, cost_nano(prompt_tokens, step.out)), None
            if step.kind == "400":
                return None, "BadRequestError"  # refunded
            if step.kind == "timeout":  # billed: its worst case stays spent
                self.spent += worst
                self.billed += worst
            m.sleeps.append(BACKOFF_S[n - 1])
            if step.kind == "timeout" and not self.fits(worst):
                return None, "BudgetExceededError"  # the retry cannot reserve again
        raise AssertionError("a script ends with an answer")

    def overlapping(
        self, m: ClientModel, calls: list[tuple[int, str, int, int, int]], order: list[int]
    ) -> list[bool]:
        """Calls ``(start s, prompt, max_tokens, worst, bill)`` that each answer
        ``LATENCY_S`` after they start: each reserves when it starts (those starting
        together in ``order``) and settles when it answers, so the calls in flight hold
        their worst cases. Start times are whole seconds and ``LATENCY_S`` is not, so no
        call starts as another answers. Which calls were sent; updates ``m`` too."""
        admitted = [False] * len(calls)
        flying: list[int] = []
        for i in order:
            start = calls[i][0]
            for j in [j for j in flying if calls[j][0] + LATENCY_S < start]:
                flying.remove(j)
                self.answer(calls[j][1], calls[j][2], calls[j][4])
            if self.fits(calls[i][3], sum(calls[j][3] for j in flying)):
                flying.append(i)
                admitted[i] = True
                m.calls["primary"] += 1
                m.requests += 1
                m.sleeps.append(LATENCY_S)
        for j in flying:
            self.answer(calls[j][1], calls[j][2], calls[j][4])
        return admitted


_fresh = itertools.count()


class BudgetRules:
    """Rules and invariants for :class:`~modelbus.testing.machines.ClientMachine` (a
    mixin): calls of the priced model through the client's budget, predicted exactly by
    :class:`BudgetModel`, and the invariant that must hold whatever the interleaving:
    the provider never bills more than the limit. ``check_budget = False`` turns them
    off, for a subclass whose ``config()`` has no budget."""

    check_budget = True

    client: Client
    primary: BillingProvider
    model: ClientModel
    clock: LoopClock
    budget: BudgetModel
    join_timeout_s: float

    def _tokens(self, prompt: str) -> int:
        return self.client.count_tokens(prompt, model=PRICED_MODEL)

    @precondition(lambda self: self.check_budget)
    @rule(data=st.data(), prompt=st.sampled_from(("p0", "p1")), mode=st.sampled_from(("s", "a")))
    def budget_chat(self, data: st.DataObject, prompt: str, mode: str) -> None:
        """One priced call (faults, retries, a cache hit for a prompt answered before)."""
        max_tokens = data.draw(st.sampled_from(MAX_TOKENS), label="max_tokens")
        script = data.draw(steps(max_tokens), label="script")
        pt = self._tokens(prompt)
        self.primary.script(
            prompt, [(reply_for(s, prompt, pt), bill_for(s, pt, max_tokens)) for s in script]
        )
        before = self.primary.calls
        expected = self.budget.call(self.model, prompt, max_tokens, pt, script)
        try:
            if mode == "s":
                resp = self.client.chat(prompt, model=PRICED, max_tokens=max_tokens)
            else:
                coro = self.client.achat(prompt, model=PRICED, max_tokens=max_tokens)
                resp = self.clock.run(coro)
            got: tuple[str | None, str | None] = (resp.content, None)
        except Exception as exc:
            got = (None, type(exc).__name__)
        self.primary.script(prompt, [])
        assert got == expected, (got, expected, self.primary.calls - before)

    @precondition(lambda self: self.check_budget)
    @rule(
        calls=st.lists(
            st.tuples(st.integers(0, 3), st.sampled_from(MAX_TOKENS), st.integers(0, 4)),
            min_size=2,
            max_size=6,
        ),
        stream=st.booleans(),
        data=st.data(),
    )
    def budget_concurrent_achat(
        self, calls: list[tuple[int, int, int]], stream: bool, data: st.DataObject
    ) -> None:
        """Tasks make priced calls (``(start s, max_tokens, quarters of it used)``; with
        ``stream``, ``astream`` calls) that overlap in fake time: each reserves when it
        starts (ties in a drawn order) and settles ``LATENCY_S`` later (a stream at its
        end), so which ones fit is known exactly."""
        n = len(calls)
        schedule = data.draw(interleavings(n), label="arrival order among ties")
        order = sorted(range(n), key=lambda i: (calls[i][0], schedule.index(i)))
        prompts = [f"c{next(_fresh):05d}" for _ in range(n)]
        bills: list[tuple[int, int]] = []  # (worst case, bill) in nano-dollars
        for i, (_, max_tokens, q) in enumerate(calls):
            pt = self._tokens(prompts[i])
            step = Step("ok", max_tokens * q // 4)
            bills.append((cost_nano(pt, max_tokens), bill_for(step, pt, max_tokens)))
            self.primary.script(
                prompts[i], [(reply_for(step, prompts[i], pt, LATENCY_S), bills[i][1])]
            )
        admitted = self.budget.overlapping(
            self.model,
            [(calls[i][0], prompts[i], calls[i][1], *bills[i]) for i in range(n)],
            order,
        )
        expected = [
            f"priced {p}" if ok else "BudgetExceededError"
            for p, ok in zip(prompts, admitted, strict=True)
        ]
        turns = Turns(order)

        async def one(i: int) -> str | None:
            await asyncio.sleep(calls[i][0])
            await turns.atake(i)
            kw: dict[str, Any] = {"model": PRICED, "max_tokens": calls[i][1]}
            try:
                if not stream:
                    return (await self.client.achat(prompts[i], **kw)).content
                return "".join(
                    [c.content or "" async for c in self.client.astream(prompts[i], **kw)]
                )
            except Exception as exc:
                return type(exc).__name__

        async def main() -> list[str | None]:
            return list(await asyncio.gather(*(one(i) for i in range(n))))

        assert self.clock.run(main()) == expected

    @precondition(lambda self: self.check_budget)
    @rule(n=st.integers(2, 5), max_tokens=st.sampled_from(MAX_TOKENS), q=st.integers(0, 4))
    def budget_concurrent_chat(self, n: int, max_tokens: int, q: int) -> None:
        """``n`` threads make priced calls of the same worst case at once: each reserves
        before any is answered, so exactly as many as fit are sent, whatever the order."""
        prompts = [f"t{next(_fresh):05d}" for _ in range(n)]
        step = Step("ok", max_tokens * q // 4)
        pt = self._tokens(prompts[0])
        assert all(self._tokens(p) == pt for p in prompts), "the rule needs equal prompts"
        worst, bill = cost_nano(pt, max_tokens), bill_for(step, pt, max_tokens)
        for p in prompts:
            self.primary.script(p, [(reply_for(step, p, pt), bill)])
        fit = 0
        while fit < n and self.budget.fits(worst, fit * worst):
            fit += 1
        calls = [
            functools.partial(self.client.chat, p, model=PRICED, max_tokens=max_tokens)
            for p in prompts
        ]
        # Every thread at the provider's gate or refused: then all have reserved.
        results = run_gated(
            self.primary,
            calls,
            lambda rs: self.primary.waiting + sum(r is not None for r in rs) == n,
            self.join_timeout_s,
        )
        # Which threads were sent depends on the OS; how many, and what each got, does not.
        sent = [isinstance(r, ChatResponse) for r in results]
        got = [r.content if ok else type(r).__name__ for r, ok in zip(results, sent, strict=True)]
        want = [
            f"priced {p}" if ok else "BudgetExceededError"
            for p, ok in zip(prompts, sent, strict=True)
        ]
        assert got == want and sum(sent) == fit, (got, fit)
        for p, ok in zip(prompts, sent, strict=True):
            if ok:
                self.budget.answer(p, max_tokens, bill)
        self.model.calls["primary"] += fit
        self.model.requests += fit

    # --- invariants --------------------------------------------------------------------
    @precondition(lambda self: self.check_budget)
    @invariant()
    def budget_never_overspent(self) -> None:
        # What must hold under any interleaving, with or without an exact model.
        assert self.primary.billed <= self.budget.limit, (self.primary.billed, self.budget.limit)

    @precondition(lambda self: self.check_budget)
    @invariant()
    def budget_matches(self) -> None:
        assert self.primary.billed == self.budget.billed
        cost = self.client.usage_totals.cost_usd
        assert abs(cost * 1e9 - self.budget.cost) < 1e-3, (cost, self.budget.cost)
