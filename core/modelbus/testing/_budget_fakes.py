"""The fakes and scripts of the whole-client machine's budget rules (``_client_budget``):
the priced model and the client's limit, a provider that bills what it answers, the
attempt scripts of a priced call, and the thread runner of the concurrent rules.

Prices are round on purpose: $1 per 1M prompt tokens and $4 per 1M completion tokens
are 1,000 and 4,000 nano-dollars a token, so the sums are exact integers, as the
client's ledger's are (``_limits.budget_ledger``)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from hypothesis import strategies as st

from .._wire.types import ChatRequest, ChatResponse, Message, Usage
from ..errors import APITimeoutError
from ._fake import FakeProvider, FakeReply, _error

__all__ = [
    "BACKOFF_S",
    "LATENCY_S",
    "LIMIT_NANO",
    "LIMIT_USD",
    "MAX_TOKENS",
    "PRICED",
    "PRICED_MODEL",
    "BillingProvider",
    "Step",
    "bill_for",
    "budget_config",
    "cost_nano",
    "reply_for",
    "run_gated",
    "steps",
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
