"""A budget store from a third-party plugin (``modelbus_register_budget_stores``): a
stand-in distribution registers ``tally`` (a ledger of its own that counts calls) and
``down`` (a store whose backend is unreachable); ``[modelbus] budget_store`` picks one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import modelbus
from modelbus.errors import BudgetExceededError
from modelbus.testing import FakeProvider, make_client
from tests.core.plugin_kit import standin_dist

TALLY = '''
import attrs
import modelbus
from modelbus._limits.budget_ledger import BudgetLedger
from modelbus.builtins.budget import MemoryBudgetStore

OPS = []


@attrs.frozen
class TallySettings:
    """``label``: a name for the store, in OPS."""

    label: str = "t"


class Tally(MemoryBudgetStore):
    def __init__(self, settings):
        super().__init__(BudgetLedger())
        self.label = settings.label

    def reserve(self, charges, amount):
        OPS.append((self.label, "reserve", [c.key for c in charges], amount))
        return super().reserve(charges, amount)

    async def areserve(self, charges, amount):
        OPS.append((self.label, "areserve", [c.key for c in charges], amount))
        return super().reserve(charges, amount)

    def settle(self, charges, reserved, cost):
        OPS.append((self.label, "settle", [c.key for c in charges], cost))
        super().settle(charges, reserved, cost)

    async def asettle(self, charges, reserved, cost):
        OPS.append((self.label, "asettle", [c.key for c in charges], cost))
        super().settle(charges, reserved, cost)


class Down:
    def reserve(self, charges, amount):
        raise ConnectionError("connection refused by 127.0.0.1:1")

    async def areserve(self, charges, amount):
        raise ConnectionError("connection refused by 127.0.0.1:1")

    def settle(self, charges, reserved, cost):
        raise ConnectionError("connection refused by 127.0.0.1:1")

    async def asettle(self, charges, reserved, cost):
        raise ConnectionError("connection refused by 127.0.0.1:1")


@modelbus.hookimpl
def modelbus_register_budget_stores(register):
    register("tally", Tally, settings=TallySettings, description="counting test store")
    register("down", Down, description="an unreachable store")
'''

CATALOG = {"bm": {"input_per_1m": 0.0, "output_per_1m": 1.0}}


@pytest.fixture
def tally(fresh_plugins: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    root = standin_dist(
        tmp_path / "site", "modelbus-tally", "1.0", {"tally": "mb_tally"}, {"mb_tally": TALLY}
    )
    monkeypatch.syspath_prepend(str(root))
    import importlib

    return importlib.import_module("mb_tally")


def _config(store: str) -> dict[str, Any]:
    return {
        "modelbus": {"cache": "none", "budget_store": store},
        "catalog": CATALOG,
        "budget_stores": {"tally": {"label": "mine"}} if store == "tally" else {},
        "budgets": {"team": {"max_cost_usd": 0.002, "scope": "namespace"}},
    }


async def test_the_configured_store_keeps_namespace_budgets(tally: Any) -> None:
    loaded = modelbus.load_plugins()
    info = next(p for p in loaded.plugins if p.name == "tally")
    assert info.registered == {"budget_stores": ["tally", "down"]}
    fake = FakeProvider(model="bm")
    c = make_client(fake, _config("tally"))
    c.chat("q", max_tokens=1000)
    await c.achat("q", max_tokens=500)
    ops = [(label, op, cost) for label, op, _keys, cost in tally.OPS]
    assert ops == [
        ("mine", "reserve", 1_000_000),
        ("mine", "settle", 5_000),  # FakeProvider's usage: 5 output tokens at $1/1M
        ("mine", "areserve", 500_000),
        ("mine", "asettle", 5_000),
    ]
    assert all(keys[0].endswith("budgets.team\x1ftotal") for *_, keys, _ in tally.OPS)


async def test_an_unreachable_store_refuses_the_calls_it_cannot_check(tally: Any) -> None:
    fake = FakeProvider(model="bm")
    c = make_client(fake, _config("down"))
    with pytest.raises(BudgetExceededError, match="'down'.*cannot be reached.*ConnectionError"):
        c.chat("q", max_tokens=10)
    with pytest.raises(BudgetExceededError, match="treated as spent"):
        await c.achat("q", max_tokens=10)
    assert fake.calls == 0
