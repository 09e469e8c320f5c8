"""A call's budget reservation after it is made: :class:`Hold` settles, refunds or
releases it, and keeps it per billable attempt across retries (:func:`billed_attempts`).
Which budgets a call charges and the reservation itself are ``budgets``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from ..errors import APITimeoutError, RetryError
from .budget_ledger import from_nano, to_nano

if TYPE_CHECKING:
    from .._engine.engine import Engine
    from .budgets import _Plan

T = TypeVar("T")

__all__ = ["Hold", "abilled_attempts", "billed_attempts", "may_be_billed"]


def may_be_billed(exc: BaseException) -> bool:
    """Whether a call that raised ``exc`` may still have been billed: a client-side
    timeout (the server may have generated the reply it did not deliver in time; not a
    408, which says the server gave up reading the request), or anything that is not an
    ``Exception`` (a cancelled task, ``KeyboardInterrupt``: the request may be out).
    Error answers with a status and connection failures are not billed."""
    if not isinstance(exc, Exception):
        return True
    if isinstance(exc, RetryError):
        return any(may_be_billed(a.error) for a in exc.attempts)
    if isinstance(exc, APITimeoutError):
        return exc.status_code is None
    return isinstance(exc, TimeoutError)


class Hold:
    """A call's reservation: :meth:`settle` it to the real cost, :meth:`refund` it, or
    :meth:`release` it after an error. Only the first of these counts; the rest do
    nothing. A failed settlement on the store is logged (``budget_settle_failed``) and
    leaves the reservation counted there: never less than was spent.

    A call is retried under its one reservation, except after an attempt that may have
    been billed (a client-side timeout: the provider may have generated the reply): that
    attempt's worst case is counted as spent (:meth:`attempt_failed`) and the next attempt
    reserves again (:meth:`renew`, which raises :class:`BudgetExceededError` when the
    budget has no room left), so retries can never spend past a limit."""

    __slots__ = ("_c", "_done", "_plan", "_renew")

    def __init__(self, c: Engine, plan: _Plan) -> None:
        self._c = c
        self._plan = plan
        self._done = False
        self._renew = False

    def attempt_failed(self, exc: BaseException) -> None:
        """An attempt failed with ``exc``: when it may have been billed, count its worst
        case now; the next attempt then needs :meth:`renew`."""
        if not self._done and may_be_billed(exc):
            self.settle(None)
            self._renew = True

    async def aattempt_failed(self, exc: BaseException) -> None:
        """The async twin of :meth:`attempt_failed`."""
        if not self._done and may_be_billed(exc):
            await self.asettle(None)
            self._renew = True

    def renew(self) -> None:
        """Before an attempt: reserve again if the previous one was counted as spent."""
        if self._renew:
            from .budgets import _take

            _take(self._c, self._plan)
            self._renew, self._done = False, False

    async def arenew(self) -> None:
        """The async twin of :meth:`renew`."""
        if self._renew:
            from .budgets import _atake

            await _atake(self._c, self._plan)
            self._renew, self._done = False, False

    @property
    def amount_usd(self) -> float:
        """The reservation in US dollars."""
        return from_nano(self._plan.amount)

    def _local(self, cost_usd: float | None) -> tuple[int, bool]:
        if self._done:
            return 0, False
        self._done = True
        p = self._plan
        cost = p.amount if cost_usd is None else to_nano(cost_usd)
        p.state.ledger.settle(p.local, p.amount, cost)
        return cost, bool(p.shared)

    def _failed(self, exc: BaseException) -> None:
        p = self._plan
        self._c.log_warning(
            "budget_settle_failed",
            budget=p.shared[0].name,
            store=self._c.config.modelbus.budget_store,
            reserved_usd=from_nano(p.amount),
            error=f"{type(exc).__name__}: {exc}",
        )

    def settle(self, cost_usd: float | None) -> None:
        """Release the reservation and count ``cost_usd`` (``None``: count the worst case,
        for a reply whose cost is unknown)."""
        cost, shared = self._local(cost_usd)
        if shared:
            p = self._plan
            try:
                p.state.store(self._c).settle(p.shared, p.amount, cost)
            except Exception as exc:
                self._failed(exc)

    async def asettle(self, cost_usd: float | None) -> None:
        """The async twin of :meth:`settle`."""
        cost, shared = self._local(cost_usd)
        if shared:
            p = self._plan
            try:
                await p.state.store(self._c).asettle(p.shared, p.amount, cost)
            except Exception as exc:
                self._failed(exc)

    def refund(self) -> None:
        """Give the whole reservation back (nothing was billed)."""
        self.settle(0.0)

    def release(self, exc: BaseException) -> None:
        """After ``exc``: refund, or keep the worst case when it may have been billed
        (:func:`may_be_billed`)."""
        self.settle(None if may_be_billed(exc) else 0.0)

    async def arelease(self, exc: BaseException) -> None:
        """The async twin of :meth:`release`."""
        await self.asettle(None if may_be_billed(exc) else 0.0)


def billed_attempts(hold: Hold | None, attempt: Callable[[], T]) -> Callable[[], T]:
    """``attempt`` (one provider attempt, for the retry runner) with the budget kept per
    billable attempt (see :class:`Hold`); ``attempt`` itself when no budget applies."""
    if hold is None:
        return attempt

    def run() -> T:
        hold.renew()
        try:
            return attempt()
        except BaseException as exc:
            hold.attempt_failed(exc)
            raise

    return run


def abilled_attempts(
    hold: Hold | None, attempt: Callable[[], Awaitable[T]]
) -> Callable[[], Awaitable[T]]:
    """The async twin of :func:`billed_attempts`."""
    if hold is None:
        return attempt

    async def run() -> T:
        await hold.arenew()
        try:
            return await attempt()
        except BaseException as exc:
            await hold.aattempt_failed(exc)
            raise

    return run
