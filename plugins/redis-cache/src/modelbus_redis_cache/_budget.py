"""The ``redis`` budget store: cost budgets shared by every process of a namespace.

The core's ledger (``modelbus._limits.budget_ledger``) run in Lua on Redis
(``_scripts.BUDGET_RESERVE`` and ``BUDGET_SETTLE``): one key per budget, scope value and
period, holding the spent and reserved nano-dollars; a reservation over several keys is
all or nothing, in one round trip, so calls of all processes see each other's
reservations.

Nothing local ever means "allow". A busy pool is waited on again (it is this process's
own concurrency). A real outage (connection refused or reset, a timeout, a failed AUTH)
opens the circuit breaker and, like a failed script, raises: the client then refuses the
call with BudgetExceededError. Unlike the rate limiter there is no in-process stand-in:
a budget's history is in Redis, and a local ledger starting at zero would let each
process spend the whole limit again.

A settlement that cannot reach Redis is kept in the process and sent after the next
command that succeeds (and at ``close``), so a blip does not leave reservations behind;
until then, and for good if the process ends first, the reservation stays counted in
Redis at its worst case: the budget errs on the spent side.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from modelbus.plugin import Charge, Refusal

from . import _scripts
from ._breaker import FALLBACK, PROBE
from ._component import FAILED, RedisComponent
from ._link import OUTAGE_ERRORS, POOL_FULL
from ._settings import RedisBudgetStoreSettings

__all__ = ["RedisBudgetStore"]


class RedisBudgetStore(RedisComponent):
    """A :class:`modelbus.protocols.BudgetStore` in Redis (see the module doc). ``clock``
    drives only the circuit breaker (monotonic seconds)."""

    settings: RedisBudgetStoreSettings

    def __init__(
        self,
        settings: RedisBudgetStoreSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect(
            settings or RedisBudgetStoreSettings(), component="budget_store", keys="b:", clock=clock
        )
        # Settlements that could not be sent: (keys, reserved, cost), sent later.
        self._pending: list[tuple[list[str], int, int]] = []
        self._pending_lock = threading.Lock()

    def _keys(self, charges: Sequence[Charge]) -> list[str]:
        return [self.prefix + ch.key for ch in charges]

    @staticmethod
    def _reserve_args(charges: Sequence[Charge], amount: int) -> list[Any]:
        args: list[Any] = [amount]
        for ch in charges:
            args += [ch.limit, "" if ch.expires_at is None else repr(ch.expires_at)]
        return args

    @staticmethod
    def _refusal(charges: Sequence[Charge], amount: int, reply: Any) -> Refusal | None:
        i = int(reply[0])
        if i == 0:
            return None
        return Refusal(charges[i - 1], int(reply[1]), int(reply[2]), amount)

    def _closed(self) -> int:
        mode = self.breaker.enter()
        if mode == FALLBACK:
            raise redis.exceptions.ConnectionError(
                f"Redis at {self._link.redacted_url} is unreachable (circuit open; the next "
                f"probe is at most {self.breaker.probe_interval_s:g} s away)"
            )
        return mode

    def _failed(self, mode: int, exc: BaseException) -> None:
        if isinstance(exc, OUTAGE_ERRORS):
            self._link.outage(exc, "refuse")
        else:  # a failed script on a working server: Redis answers, the call is refused
            self._ok(mode)
            self._link.warn("redis_budget_error", exc)

    def _ok(self, mode: int) -> None:
        if mode == PROBE:
            self._link.recovered()

    def _run(self, source: str, keys: list[str], args: list[Any]) -> Any:
        while True:
            mode = self._closed()
            try:
                reply = self._link.script(source)(keys=keys, args=args)
            except POOL_FULL as e:
                if mode == PROBE:
                    self.breaker.failure()
                self._link.warn("redis_pool_busy", e)
                continue
            except FAILED as e:
                self._failed(mode, e)
                raise
            self._ok(mode)
            return reply

    async def _arun(self, source: str, keys: list[str], args: list[Any]) -> Any:
        while True:
            mode = self._closed()
            try:
                reply = await self._link.ascript(source)(keys=keys, args=args)
            except POOL_FULL as e:
                if mode == PROBE:
                    self.breaker.failure()
                self._link.warn("redis_pool_busy", e)
                continue
            except FAILED as e:
                self._failed(mode, e)
                raise
            self._ok(mode)
            return reply

    def reserve(self, charges: Sequence[Charge], amount: int) -> Refusal | None:
        """Reserve ``amount`` nano-dollars on every charge, or none (``BudgetStore``).
        Raises redis-py's errors when Redis cannot answer. Settlements kept during an
        outage are sent first, so they make room before this call asks for it."""
        self._flush()
        args = self._reserve_args(charges, amount)
        reply = self._run(_scripts.BUDGET_RESERVE, self._keys(charges), args)
        return self._refusal(charges, amount, reply)

    async def areserve(self, charges: Sequence[Charge], amount: int) -> Refusal | None:
        """The async twin of :meth:`reserve` (this event loop's pool)."""
        await self._aflush()
        args = self._reserve_args(charges, amount)
        reply = await self._arun(_scripts.BUDGET_RESERVE, self._keys(charges), args)
        return self._refusal(charges, amount, reply)

    def settle(self, charges: Sequence[Charge], reserved: int, cost: int) -> None:
        """Release ``reserved`` and add ``cost`` on every charge (``BudgetStore``); when
        Redis cannot take it now, it is kept and sent later (module doc)."""
        job = (self._keys(charges), reserved, cost)
        try:
            self._run(_scripts.BUDGET_SETTLE, job[0], [reserved, cost])
        except FAILED:
            self._defer(job)
            return
        self._flush()

    async def asettle(self, charges: Sequence[Charge], reserved: int, cost: int) -> None:
        """The async twin of :meth:`settle`."""
        job = (self._keys(charges), reserved, cost)
        try:
            await self._arun(_scripts.BUDGET_SETTLE, job[0], [reserved, cost])
        except FAILED:
            self._defer(job)
            return
        await self._aflush()

    @property
    def pending(self) -> int:
        """Settlements waiting for Redis."""
        return len(self._pending)

    def _defer(self, job: tuple[list[str], int, int]) -> None:
        with self._pending_lock:
            first = not self._pending
            self._pending.append(job)
        if first:
            self._link.warn(
                "redis_budget_settle_deferred",
                ConnectionError("settlement kept in this process until Redis answers"),
            )

    def _take(self) -> list[tuple[list[str], int, int]]:
        if not self._pending:  # the hot path takes no lock
            return []
        with self._pending_lock:
            jobs, self._pending = self._pending, []
        return jobs

    def _flush(self) -> None:
        jobs = self._take()
        for i, (keys, reserved, cost) in enumerate(jobs):
            try:
                self._run(_scripts.BUDGET_SETTLE, keys, [reserved, cost])
            except FAILED:
                with self._pending_lock:
                    self._pending[:0] = jobs[i:]
                return

    async def _aflush(self) -> None:
        jobs = self._take()
        for i, (keys, reserved, cost) in enumerate(jobs):
            try:
                await self._arun(_scripts.BUDGET_SETTLE, keys, [reserved, cost])
            except FAILED:
                with self._pending_lock:
                    self._pending[:0] = jobs[i:]
                return

    def usage(self, charge: Charge) -> tuple[int, int]:
        """``(spent, reserved)`` nano-dollars of ``charge`` now. Raises redis-py's errors:
        for inspection and tests, not on the request path."""
        s, r = self._link.sync.hmget(self.prefix + charge.key, ["s", "r"])
        return int(s or 0), int(r or 0)

    def close(self) -> None:
        """Send the settlements still kept (if Redis answers), then disconnect."""
        self._flush()
        self._link.close()

    async def aclose(self) -> None:
        """The async twin of :meth:`close`."""
        await self._aflush()
        await self._link.aclose()
