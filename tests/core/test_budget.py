"""``max_cost_usd``: a request whose worst case would cross the budget is not sent."""

from __future__ import annotations

import pytest
import structlog

from modelbus import Usage
from modelbus._catalog import CatalogEntry
from modelbus._limits.budgets import worst_case_cost_usd
from modelbus.errors import BudgetExceededError
from modelbus.testing import FakeProvider, make_client

# gpt-4o-mini in the shipped catalog: $0.15 input, $0.60 output per 1M tokens, 16384
# max output tokens.
IN, OUT = 0.15e-6, 0.60e-6


def test_worst_case_cost() -> None:
    e = CatalogEntry("m", input_per_1m=2.0, output_per_1m=8.0)
    assert worst_case_cost_usd(e, 1000, 500) == pytest.approx((1000 * 2 + 500 * 8) / 1e6)
    assert worst_case_cost_usd(CatalogEntry("m", input_per_1m=2.0), 1, 1) is None
    tiered = CatalogEntry("m", input_per_1m=2.0, output_per_1m=8.0, tier_above_prompt_tokens=10)
    assert worst_case_cost_usd(tiered, 10, 5) is not None
    assert worst_case_cost_usd(tiered, 11, 5) is None


def test_a_request_over_budget_is_not_sent() -> None:
    fake = FakeProvider(model="gpt-4o-mini")
    c = make_client(fake, max_cost_usd=0.0001)
    prompt = c.count_tokens("hello there")
    with pytest.raises(BudgetExceededError) as info:
        c.chat("hello there", max_tokens=1000)  # 1000 * 0.6e-6 = 0.0006 > 0.0001
    assert fake.calls == 0
    worst = prompt * IN + 1000 * OUT
    assert f"${worst:.6f}" in str(info.value) and "max_cost_usd=$0.0001" in str(info.value)
    c.chat("hello there", max_tokens=100)  # 100 * 0.6e-6 = 0.00006 fits
    assert fake.calls == 1


def test_without_max_tokens_the_models_output_limit_is_the_worst_case() -> None:
    fake = FakeProvider(model="gpt-4o-mini")
    c = make_client(fake, {"modelbus": {"max_cost_usd": 0.005}})
    with pytest.raises(BudgetExceededError, match="16384 output tokens"):
        c.chat("hi")  # 16384 * 0.6e-6 = 0.0098 > 0.005
    c.chat("hi", max_completion_tokens=1000)
    assert fake.calls == 1


def test_spending_accumulates_until_the_next_request_would_cross() -> None:
    fake = FakeProvider(model="gpt-4o-mini")
    c = make_client(fake, {"modelbus": {"max_cost_usd": 0.001, "cache": "none"}})
    per_call = Usage(1000, 500, 1500)
    spent_each = 1000 * IN + 500 * OUT  # 0.00045
    sent = 0
    with pytest.raises(BudgetExceededError, match="spent"):
        for _ in range(10):
            fake.enqueue_text("ok", usage=per_call)
            c.chat("q", max_tokens=500)
            sent += 1
    # 0.00045 spent + worst (prompt + 500 * 0.6e-6 = 0.0003+) crosses 0.001 on the third
    assert sent == 2 and fake.calls == 2
    assert c.usage_totals.cost_usd == pytest.approx(2 * spent_each)


async def test_async_and_stream_paths_check_the_budget() -> None:
    fake = FakeProvider(model="gpt-4o-mini")
    c = make_client(fake, max_cost_usd=0.0001)
    with pytest.raises(BudgetExceededError):
        await c.achat("hi", max_tokens=1000)
    with pytest.raises(BudgetExceededError):
        for _ in c.stream("hi", max_tokens=1000):
            pass
    with pytest.raises(BudgetExceededError):
        async for _ in c.astream("hi", max_tokens=1000):
            pass
    assert fake.calls == 0


def test_a_priced_model_with_no_output_bound_is_refused() -> None:
    fake = FakeProvider(model="my-model")
    c = make_client(
        fake,
        {
            "modelbus": {"max_cost_usd": 1.0},
            "catalog": {"my-model": {"input_per_1m": 1.0, "output_per_1m": 2.0}},
        },
    )
    with pytest.raises(BudgetExceededError, match="cannot bound.*set max_tokens"):
        c.chat("hi")
    c.chat("hi", max_tokens=10)
    assert fake.calls == 1


def test_unpriced_models_are_sent_with_one_warning() -> None:
    fake = FakeProvider(model="local-llama")
    c = make_client(fake, {"modelbus": {"max_cost_usd": 0.0, "cache": "none"}})
    with structlog.testing.capture_logs() as logs:
        c.chat("a")
        c.chat("b")
    assert fake.calls == 2
    warnings = [e for e in logs if e["event"] == "budget_unpriced_model"]
    assert len(warnings) == 1 and warnings[0]["model"] == "local-llama"


def test_no_budget_means_no_check() -> None:
    fake = FakeProvider(model="gpt-4o-mini")
    c = make_client(fake)
    c.chat("hi")  # no max_tokens, no catalog bound needed
    assert fake.calls == 1


def test_limits_and_prices_past_any_real_amount_count_without_overflow() -> None:
    # max_cost_usd = 1e308 (or a price of 1e308) passed the config checks (finite, >= 0)
    # and crashed the first call: OverflowError converting float infinity to an integer.
    catalog = {"bm": {"input_per_1m": 1.0, "output_per_1m": 1.0}}
    c = make_client(
        FakeProvider(model="bm"),
        {"modelbus": {"cache": "none", "max_cost_usd": 1e308}, "catalog": catalog},
    )
    assert c.chat("hi", max_tokens=10).content == "echo: hi"  # no limit in practice
    dear = {"bm": {"input_per_1m": 1e308, "output_per_1m": 1e308}}
    c2 = make_client(
        FakeProvider(model="bm"),
        {"modelbus": {"cache": "none", "max_cost_usd": 5.0}, "catalog": dear},
    )
    with pytest.raises(BudgetExceededError, match="could cost up to"):
        c2.chat("hi", max_tokens=10)  # refused, as any cost above the limit
