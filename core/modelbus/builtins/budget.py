"""The built-in ``memory`` budget store: budgets of one process.

Every client of the process that uses it shares one :class:`BudgetLedger`, so budgets of
``namespace`` and ``model`` scope count the calls of all the process's clients of that
namespace. It forgets everything when the process exits; share budgets between processes
with a store such as modelbus-redis-cache's ``redis``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .._limits.budget_ledger import BudgetLedger, Charge, Refusal
from ..hookspecs import hookimpl

__all__ = ["MemoryBudgetStore"]

_PROCESS = BudgetLedger()


class MemoryBudgetStore:
    """A :class:`modelbus.protocols.BudgetStore` over a :class:`BudgetLedger` (by default
    the one of the process, shared by every ``MemoryBudgetStore()``). Never fails; the
    async methods run inline (the ledger never blocks for more than a lock held for
    microseconds)."""

    def __init__(self, ledger: BudgetLedger | None = None) -> None:
        self.ledger = _PROCESS if ledger is None else ledger

    def reserve(self, charges: Sequence[Charge], amount: int) -> Refusal | None:
        return self.ledger.reserve(charges, amount)

    async def areserve(self, charges: Sequence[Charge], amount: int) -> Refusal | None:
        return self.ledger.reserve(charges, amount)

    def settle(self, charges: Sequence[Charge], reserved: int, cost: int) -> None:
        self.ledger.settle(charges, reserved, cost)

    async def asettle(self, charges: Sequence[Charge], reserved: int, cost: int) -> None:
        self.ledger.settle(charges, reserved, cost)


@hookimpl
def modelbus_register_budget_stores(register: Callable[..., None]) -> None:
    register(
        "memory",
        MemoryBudgetStore,
        description="Cost budgets kept in this process (shared by its clients)",
    )
