"""The budget part of the whole-client machine (``_client_machine``): a priced model
under the client's ``max_cost_usd``, a fake provider that bills what it answers, the
reference :class:`BudgetModel` and :class:`BudgetRules`, the rules that call the priced
model one at a time, from concurrent tasks and from concurrent threads.

Prices are round on purpose: $1 per 1M prompt tokens and $4 per 1M completion tokens
are 1,000 and 4,000 nano-dollars a token, so the model's sums are exact integers, as
the client's ledger's are (``_limits.budget_ledger``)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from .._wire.types import ChatRequest, ChatResponse, Message, Usage
from ..errors import APITimeoutError
from ._fake import FakeProvider, FakeReply, _error
from ._fault_strategies import Turns, interleavings

if TYPE_CHECKING:
    from .._client import Client
    from ._client_machine import ClientModel
    from ._loop_clock import LoopClock

__all__ = [
    "LIMIT_USD",
    "PRICED",
    "BillingProvider",
    "BudgetModel",
    "BudgetRules",
    "budget_config",
    "run_gated",
]

PRICED = "priced"  # the alias of the priced model: no fallbacks, so a refusal is final
PRICED_MODEL = "priced-model"
INPUT_NANO, OUTPUT_NANO = 1_000, 4_000  # per token: $1 and $4 per 1M tokens
LIMIT_USD = 0.002  # room for 2 to 9 worst cases of MAX_TOKENS
LIMIT_NANO = 2_000_000
MAX_TOKENS = (50, 100, 200, 400)
LATENCY_S = 2.5  # the provider's fake latency in the concurrent rules: never a whole second
BACKOFF_S = (0.5, 1.5)  # the machine's retry policy: the delays before attempts 2 and 3


def budget_config() -> dict[str, Any]:
    """The config keys the budget adds to the machine's: the client's limit, the priced
    alias and its prices in the catalog."""
    return {
        "max_cost_usd": LIMIT_USD,
        "models": {PRICED: {"provider": "primary", "model": PRICED_MODEL}},
        "catalog": {PRICED_MODEL: {"input_per_1m": 1.0, "output_per_1m": 4.0}},
    }


def cost_nano(prompt_tokens: int, completion_tokens: int) -> int:
    """What the provider bills for a reply, in nano-dollars."""
    return prompt_tokens * INPUT_NANO + completion_tokens * OUTPUT_NANO


@attrs.frozen
class Step:
    """One attempt's reply in a budget rule: ``kind`` is ``"ok"`` (an answer of ``out``
    completion tokens), ``"500"`` (retryable, not billed), ``"400"`` (not retryable, not
    billed) or ``"timeout"`` (the client gave up; the provider generated the whole
    ``max_tokens`` reply and bills it)."""

    kind: str
    out: int = 0


def steps(max_tokens: int, faults: int = 2) -> st.SearchStrategy[list[Step]]:
    """Up to ``faults`` faults, then an answer of 0 to ``max_tokens`` completion tokens."""
    fault = st.sampled_from(("500", "400", "timeout")).map(Step)
    ok = st.integers(0, 4).map(lambda q: Step("ok", max_tokens * q // 4))
    return st.tuples(st.lists(fault, max_size=faults), ok).map(lambda t: [*t[0], t[1]])


class BillingProvider(FakeProvider):
    """The machine's primary provider. Requests for the priced model are answered from
    per-prompt queues (:meth:`script`), so concurrent calls each get their own reply
    whatever order they arrive in, and what each reply costs is added to ``billed``
    (nano-dollars) when it is produced: the provider's side of the bill, which the
    client never sees. Sync calls wait for ``gate`` when one is set (``waiting`` counts
    them), so that the threads of a concurrent rule all reach the provider, or are
    refused, before any of them is answered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate: threading.Event | None = None
        self.waiting = 0
        self.billed = 0
        self._priced: dict[str, deque[tuple[FakeReply, int]]] = {}

    def script(self, prompt: str, replies: list[tuple[FakeReply, int]]) -> None:
        """Answer the priced model's calls of ``prompt`` with ``replies`` (a reply and
        its bill in nano-dollars, attempt by attempt), replacing any left over."""
        self._priced[prompt] = deque(replies)

    def chat(self, request: Any) -> ChatResponse:
        gate = self.gate
        if gate is not None:
            with self._lock:
                self.waiting += 1
            if not gate.wait(10):
                raise AssertionError("the concurrent rule never opened the gate")
        return super().chat(request)

    def _take(self, request: ChatRequest) -> FakeReply | ChatResponse:
        users = [m for m in request.messages if m.role == "user"]
        queue = self._priced.get(users[-1].text or "") if users else None
        if request.model != PRICED_MODEL:
            return super()._take(request)
        if not queue:  # a call no rule expected: the default answer, billed as such
            with self._lock:
                self.billed += cost_nano(10, 5)
            return super()._take(request)
        with self._lock:
            self.requests.append(request)
            reply, bill = queue.popleft()
            self.billed += bill
        return reply


def run_gated(
    provider: BillingProvider,
    calls: Sequence[Callable[[], Any]],
    ready: Callable[[list[Any]], bool],
    timeout_s: float,
) -> list[Any]:
    """Run ``calls`` on threads of their own while ``provider`` holds its sync calls at a
    gate, opened once ``ready(results)`` (polled; ``results`` has ``None`` for a call
    still running) or after ``timeout_s`` real seconds (``AssertionError``). Each call's
    result, or the exception it raised."""
    results: list[Any] = [None] * len(calls)
    gate = provider.gate = threading.Event()
    provider.waiting = 0

    def call(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # checked by the caller, in the test's thread
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not ready(results):
            if time.monotonic() > deadline:
                raise AssertionError("the threads never got where the rule waits for them")
            time.sleep(0.001)
    finally:
        gate.set()
        for t in threads:
            t.join(10)
        provider.gate = None
    return results


def reply_for(step: Step, prompt: str, prompt_tokens: int, latency_s: float = 0.0) -> FakeReply:
    """The :class:`FakeReply` the provider gives for ``step``."""
    if step.kind == "ok":
        usage = Usage(prompt_tokens, step.out, prompt_tokens + step.out)
        msg = Message("assistant", f"priced {prompt}")
        resp = ChatResponse("fake-priced", PRICED_MODEL, msg, finish_reason="stop", usage=usage)
        return FakeReply(resp, latency_s=latency_s)
    if step.kind == "timeout":
        err: BaseException = APITimeoutError("no answer in time (scripted)", provider="primary")
    else:
        err = _error(int(step.kind), f"scripted {step.kind}", None, "primary", None)
    return FakeReply(error=err, latency_s=latency_s)


def bill_for(step: Step, prompt_tokens: int, max_tokens: int) -> int:
    """What the provider bills for ``step``: an answer's tokens, a timed-out request's
    whole ``max_tokens`` reply, nothing for an error status."""
    if step.kind == "ok":
        return cost_nano(prompt_tokens, step.out)
    if step.kind == "timeout":
        return cost_nano(prompt_tokens, max_tokens)
    return 0


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
