"""The budget ledger (``modelbus._limits.budget_ledger``): reserve / settle / refund on interleavings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelbus._limits.budget_ledger import BudgetLedger, Charge, from_nano, period, to_nano


def _charge(key: str, limit: int) -> Charge:
    return Charge(key, limit, f"budgets.{key}")


@st.composite
def _runs(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, int, str]], list[int]]:
    """Limits of 1-2 budgets, N calls (worst case, real cost <= worst, outcome) and an
    interleaving: each call index appears twice, its reserve then its finish."""
    limits = draw(st.lists(st.integers(0, 5_000), min_size=1, max_size=2))
    n = draw(st.integers(1, 12))
    calls = []
    for _ in range(n):
        worst = draw(st.integers(0, 2_000))
        calls.append((worst, draw(st.integers(0, worst)), draw(st.sampled_from(["ok", "fail"]))))
    order = draw(st.permutations([i for i in range(n) for _ in (0, 1)]))
    return limits, calls, order


@settings(max_examples=300, deadline=None)
@given(_runs())
def test_interleaved_calls_never_spend_more_than_the_limit(
    run: tuple[list[int], list[tuple[int, int, str]], list[int]],
) -> None:
    limits, calls, order = run
    ledger = BudgetLedger()
    charges = [_charge(f"b{i}", lim) for i, lim in enumerate(limits)]
    held: dict[int, bool] = {}
    spent = reserved = 0  # the reference model (every charge sees the same calls)
    for i in order:
        worst, cost, outcome = calls[i]
        if i not in held:  # its first step: reserve
            refusal = ledger.reserve(charges, worst)
            fits = all(spent + reserved + worst <= c.limit for c in charges)
            assert (refusal is None) == fits
            if refusal is not None:
                assert refusal.amount == worst and (refusal.spent, refusal.reserved) == (
                    spent,
                    reserved,
                )
            held[i] = fits
            reserved += worst if fits else 0
        elif held[i]:  # its second step: settle or refund
            real = cost if outcome == "ok" else 0
            ledger.settle(charges, worst, real)
            reserved -= worst
            spent += real
        for c in charges:
            s, r = ledger.usage(c.key)
            assert (s, r) == (spent, reserved)
            assert r >= 0 and s + r <= c.limit and s <= c.limit
    assert reserved == 0
    assert spent == sum(calls[i][1] for i, ok in held.items() if ok and calls[i][2] == "ok")


def test_a_refusal_on_one_budget_leaves_the_others_untouched() -> None:
    ledger = BudgetLedger()
    roomy, tight = _charge("roomy", 100), _charge("tight", 10)
    refusal = ledger.reserve([roomy, tight], 11)
    assert refusal is not None and refusal.charge == tight
    assert ledger.usage("roomy") == (0, 0) and ledger.usage("tight") == (0, 0)


def test_a_refund_restores_the_room_and_settling_never_goes_negative() -> None:
    ledger = BudgetLedger()
    c = _charge("b", 10)
    assert ledger.reserve([c], 10) is None
    assert ledger.reserve([c], 1) is not None
    ledger.settle([c], 10, 0)
    assert ledger.usage("b") == (0, 0)
    ledger.settle([c], 10, 0)  # a second settlement of the same reservation
    assert ledger.usage("b") == (0, 0)
    assert ledger.reserve([c], 10) is None
    with pytest.raises(ValueError, match=">= 0"):
        ledger.reserve([c], -1)


def test_nano_dollars_round_so_that_no_room_is_invented() -> None:
    assert to_nano(0.3) == 300_000_000  # 0.3 * 1e9 is 299999999.99999994 in floats
    assert to_nano(1e-10) == 1 and to_nano(1e-10, up=False) == 0
    assert to_nano(0.0005, up=False) == 500_000
    assert from_nano(1_500_000_000) == 1.5


def _at(*ymdhms: int) -> float:
    return datetime(*ymdhms, tzinfo=UTC).timestamp()  # type: ignore[arg-type]


def test_windows_are_utc_calendar_periods() -> None:
    assert period("total", _at(2026, 12, 3)) == ("total", None)
    assert period("day", _at(2026, 12, 3, 23, 59, 59)) == ("2026-12-03", _at(2026, 12, 4))
    assert period("month", _at(2026, 12, 31, 12)) == ("2026-12", _at(2027, 1, 1))
    assert period("month", _at(2026, 2, 1)) == ("2026-02", _at(2026, 3, 1))
    with pytest.raises(ValueError, match="window"):
        period("week", 0.0)  # type: ignore[arg-type]


def test_keys_of_periods_long_over_are_dropped() -> None:
    ledger = BudgetLedger()
    old = Charge("d1", 10, "budgets.d", "day", expires_at=_at(2026, 1, 2))
    assert ledger.reserve([old], 3) is None
    ledger.settle([old], 3, 3)
    recent = Charge("d2", 10, "budgets.d", "day", expires_at=_at(2026, 1, 20))
    assert ledger.reserve([recent], 1) is None
    assert len(ledger) == 2  # within a month of the newest period: kept
    later = Charge("d3", 10, "budgets.d", "day", expires_at=_at(2026, 3, 1))
    assert ledger.reserve([later], 1) is None
    assert ledger.usage("d1") == (0, 0) and len(ledger) == 1
