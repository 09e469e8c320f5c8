"""Cost budgets as an I/O-free ledger: reserve the worst case, settle to the real cost.

A call that a budget covers goes through three steps (``_budgeting`` drives them):

1. **reserve** its worst case (prompt estimate + ``max_tokens`` at the catalog price) on
   every budget it charges, atomically: either all of them have room for it, counting
   what other calls have *reserved* and not settled yet, or none is touched and the call
   is refused. Concurrent calls therefore see each other: with a limit of $1 and a worst
   case of $0.30, three calls in flight hold $0.90 and the fourth waits its turn (it is
   refused), whatever the interleaving;
2. **settle** to the real cost (``ChatResponse.cost_usd``) when the reply is in: the
   reservation is released and the cost added to what was spent;
3. or **refund** (settle with cost 0) when the call failed before anything was billed.

``spent + reserved <= limit`` holds after every reserve; ``spent <= limit`` then holds as
long as every real cost is at most its reservation (what the worst case is for).

Amounts are integers of nano-dollars (1e-9 USD): sums are exact in Python and in Redis's
Lua (doubles hold integers exactly up to 2**53, i.e. $9 million), so no rounding drift
lets a long run creep over a limit. Reservations round up, limits round down.

A budget's **window** is ``total`` (never resets), ``day`` or ``month`` (UTC calendar
periods of an injected wall clock): each period is its own ledger key, so a new day
starts at zero and a reservation settles in the period it was made in.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

import attrs

__all__ = [
    "MAX_NANO",
    "SCOPES",
    "WINDOWS",
    "BudgetLedger",
    "Charge",
    "Refusal",
    "Scope",
    "Window",
    "from_nano",
    "period",
    "to_nano",
]

Window = Literal["total", "day", "month"]
Scope = Literal["client", "namespace", "model"]
WINDOWS: tuple[Window, ...] = ("total", "day", "month")
SCOPES: tuple[Scope, ...] = ("client", "namespace", "model")

_NANO = 1_000_000_000


#: The most nano-dollars an amount counts for (2**60, $1.15 billion): a larger limit
#: (``max_cost_usd = 1e308``) is no limit in practice, a larger cost is refused by any
#: smaller limit, and sums of a few such amounts still fit the 64-bit integers of a
#: shared store (Redis ``INCRBY``) where ``float`` infinity had no integer at all.
MAX_NANO = 2**60


def to_nano(usd: float, *, up: bool = True) -> int:
    """US dollars as integer nano-dollars, rounded up (``up``, for what a call may cost)
    or down (for a limit), so that rounding never makes room that is not there; at most
    :data:`MAX_NANO`."""
    x = usd * _NANO
    if not x < MAX_NANO:  # (inf too)
        return MAX_NANO
    # A float product may land a hair above an exact integer (0.3 * 1e9): snap first.
    r = round(x)
    if abs(x - r) < 1e-6:
        return int(r)
    return math.ceil(x) if up else math.floor(x)


def from_nano(n: int) -> float:
    """Integer nano-dollars as US dollars."""
    return n / _NANO


def period(window: Window, now: float) -> tuple[str, float | None]:
    """The period of ``window`` containing ``now`` (seconds since the epoch, UTC): its
    label (``"total"``, ``"2026-12-03"``, ``"2026-12"``) and when it ends (epoch
    seconds; ``None`` for ``total``)."""
    if window == "total":
        return "total", None
    t = datetime.fromtimestamp(now, UTC)
    if window == "day":
        start = datetime(t.year, t.month, t.day, tzinfo=UTC)
        return start.strftime("%Y-%m-%d"), start.timestamp() + 86_400.0
    if window == "month":
        nxt = datetime(t.year + (t.month == 12), t.month % 12 + 1, 1, tzinfo=UTC)
        return t.strftime("%Y-%m"), nxt.timestamp()
    raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")


@attrs.frozen
class Charge:
    """One budget a call charges, in the current period.

    ``key``: the ledger key (budget name, scope value and period; unique per ledger);
    ``limit``: nano-dollars; ``name``: the budget's config name (``max_cost_usd`` or
    ``budgets.NAME``); ``window``/``scope``/``period``: for errors; ``scope_value``: the
    model for a ``model`` scope, the namespace for ``namespace``; ``expires_at``: the end
    of the period in epoch seconds (``None``: never), after which the key may be dropped.
    """

    key: str
    limit: int
    name: str
    window: Window = "total"
    scope: Scope = "client"
    period: str = "total"
    scope_value: str = ""
    expires_at: float | None = None

    def describe(self) -> str:
        """``max_cost_usd ($0.5, window total, scope client)``: for error messages."""
        where = f"scope {self.scope}"
        if self.scope_value:
            where += f" {self.scope_value!r}"
        when = f"window {self.window}" + ("" if self.window == "total" else f" {self.period}")
        return f"{self.name} (${from_nano(self.limit):g}, {when}, {where})"


@attrs.frozen
class Refusal:
    """Why a reservation was refused: the first ``charge`` without room, what it had
    ``spent`` and ``reserved`` (nano-dollars) when asked, and the ``amount`` asked."""

    charge: Charge
    spent: int
    reserved: int
    amount: int


@attrs.define
class _Entry:
    spent: int = 0
    reserved: int = 0
    expires_at: float | None = None


# The longest period (a 31-day month) in seconds: a charge whose period ends at E is
# reserved at a time >= E - _LONGEST, so any key that ended before that is over.
_LONGEST = 31 * 86_400.0


class BudgetLedger:
    """Spent and reserved nano-dollars per key, in memory. Thread-safe: each operation
    takes one lock for microseconds and never blocks or awaits under it, so the same
    ledger serves threads and asyncio tasks (the async store methods call these).

    Keys of ended periods are dropped without reading a clock: a charge ending at ``E``
    shows that every key that ended more than a month before ``E`` is over."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._horizon = -math.inf

    def reserve(self, charges: Sequence[Charge], amount: int) -> Refusal | None:
        """Add ``amount`` to the reserved sum of every charge if each has room for it
        (``spent + reserved + amount <= limit``), else change nothing and return the
        :class:`Refusal` of the first without room. All or nothing."""
        if amount < 0:
            raise ValueError(f"amount must be >= 0 nano-dollars, got {amount}")
        with self._lock:
            self._prune(charges)
            entries = []
            for ch in charges:
                e = self._entries.get(ch.key)
                if e is None:
                    e = self._entries[ch.key] = _Entry(expires_at=ch.expires_at)
                if e.spent + e.reserved + amount > ch.limit:
                    return Refusal(ch, e.spent, e.reserved, amount)
                entries.append(e)
            for e in entries:
                e.reserved += amount
            return None

    def settle(self, charges: Sequence[Charge], reserved: int, cost: int) -> None:
        """Release ``reserved`` (what :meth:`reserve` took) from every charge and add
        ``cost`` to its spent sum (``cost = 0``: a refund). The reserved sum never goes
        below zero, even for a settlement without its reservation."""
        with self._lock:
            for ch in charges:
                e = self._entries.get(ch.key)
                if e is None:
                    e = self._entries[ch.key] = _Entry(expires_at=ch.expires_at)
                e.reserved = max(0, e.reserved - reserved)
                e.spent += max(0, cost)

    def usage(self, key: str) -> tuple[int, int]:
        """``(spent, reserved)`` of ``key`` in nano-dollars (zeros for an unknown key)."""
        with self._lock:
            e = self._entries.get(key)
            return (0, 0) if e is None else (e.spent, e.reserved)

    def __len__(self) -> int:
        return len(self._entries)

    def _prune(self, charges: Sequence[Charge]) -> None:
        ends = [ch.expires_at for ch in charges if ch.expires_at is not None]
        if not ends or max(ends) - _LONGEST <= self._horizon + 86_400.0:
            return  # at most once per day of periods seen
        self._horizon = max(ends) - _LONGEST
        gone = [
            k
            for k, e in self._entries.items()
            if e.expires_at is not None and e.expires_at < self._horizon
        ]
        for k in gone:
            del self._entries[k]
