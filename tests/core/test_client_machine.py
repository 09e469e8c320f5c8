"""The whole-client state machine of ``modelbus.testing.machines`` (cache, single-flight
in threads and tasks, retries, fallback against a reference model), run in CI, and
shown to catch broken clients."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from modelbus._engine import Engine
from modelbus._engine import singleflight as _singleflight
from modelbus.builtins import retry
from modelbus.testing.machines import ClientMachine

SETTINGS = settings(
    max_examples=100,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestClientMachine = ClientMachine.TestCase
TestClientMachine.settings = SETTINGS


async def _never_shared(self: Any, key: str, fn: Any) -> tuple[Any, bool]:
    return await fn(), False


def _never_shared_sync(self: Any, key: str, fn: Any) -> tuple[Any, bool]:
    return fn(), False


def _ignores_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    real = retry.ExponentialBackoff.next_delay

    def next_delay(self: Any, attempt: int, error: Any, elapsed: float, prev: Any = None) -> Any:
        delay = real(self, attempt, error, elapsed, prev)
        return None if delay is None else self._backoff(attempt, prev)

    monkeypatch.setattr(retry.ExponentialBackoff, "next_delay", next_delay)


def _streams_never_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    # The gap of issue 14: identical streams each making their own provider call.
    from modelbus._engine.fanout import AsyncFlights, Flights

    monkeypatch.setattr(Flights, "join", lambda self, key, produce: (produce(), False))
    monkeypatch.setattr(AsyncFlights, "join", lambda self, key, produce: (produce(), False))


def _counts_shared_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    # The usage_totals defect of issue 15: a shared call counted once per caller.
    real = Engine.done

    def done(self: Any, call: Any, resp: Any, outcome: str, *, counted: bool = False) -> Any:
        return real(self, call, resp, "miss" if outcome == "shared" else outcome)

    monkeypatch.setattr(Engine, "done", done)


def _budget_checks_spent_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # The budget race of issue 15 (v1): a call is checked against what was spent so far
    # and reserves nothing, so calls in flight together all pass the check.
    from modelbus._limits.budget_ledger import BudgetLedger, Refusal

    def reserve(self: BudgetLedger, charges: Any, amount: int) -> Refusal | None:
        for ch in charges:
            spent, _ = self.usage(ch.key)
            if spent + amount > ch.limit:
                return Refusal(ch, spent, 0, amount)
        return None

    monkeypatch.setattr(BudgetLedger, "reserve", reserve)


def _timeouts_refunded(monkeypatch: pytest.MonkeyPatch) -> None:
    # A timed-out attempt treated as unbilled: the provider may have generated (and
    # billed) the reply, so refunding it lets later calls spend past the limit.
    from modelbus._limits import holds

    monkeypatch.setattr(holds, "may_be_billed", lambda exc: False)


BROKEN = {
    "async single-flight off": lambda mp: mp.setattr(
        _singleflight.AsyncSingleFlight, "do", _never_shared
    ),
    "thread single-flight off": lambda mp: mp.setattr(
        _singleflight.SingleFlight, "do", _never_shared_sync
    ),
    "stream single-flight off": _streams_never_shared,
    "Retry-After ignored": _ignores_retry_after,
    "shared calls counted per caller": _counts_shared_calls,
    "budget checks spent only": _budget_checks_spent_only,
    "billed timeouts refunded": _timeouts_refunded,
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_the_machine_catches_a_broken_client(monkeypatch: pytest.MonkeyPatch, broken: str) -> None:
    BROKEN[broken](monkeypatch)

    class Quick(ClientMachine):
        join_timeout_s = 0.5

    case = Quick.TestCase
    # Finding the failure is the point: no shrinking (minutes, for a failure found),
    # and the same examples given the same loaded modules (Hypothesis also draws on
    # constants of the code under test, so which tests were collected moves them: a
    # budget well past what a run needs, spent only when a bug goes unseen).
    case.settings = settings(
        SETTINGS,
        database=None,
        derandomize=True,
        max_examples=1000,
        phases=(Phase.explicit, Phase.generate),
    )
    with pytest.raises(AssertionError):
        case("runTest").runTest()


class NoBudget(ClientMachine):
    """A subclass whose client has no budget: the budget rules must be off."""

    def config(self) -> dict[str, Any]:
        cfg = dict(super().config())
        cfg["modelbus"] = {k: v for k, v in cfg["modelbus"].items() if k != "max_cost_usd"}
        return cfg


@pytest.mark.parametrize("check_budget", [False, True])
def test_check_budget_false_turns_the_budget_rules_off(check_budget: bool) -> None:
    class Machine(NoBudget):
        pass

    Machine.check_budget = check_budget
    case = Machine.TestCase
    case.settings = settings(
        SETTINGS, database=None, derandomize=True, max_examples=10, phases=(Phase.generate,)
    )
    if check_budget:  # a client that is not limited spends past the machine's limit
        with pytest.raises(AssertionError):
            case("runTest").runTest()
    else:
        case("runTest").runTest()
