"""The budget step of ``prepare``: which budgets a call charges, its worst case, and the
:class:`Hold` that settles or refunds it afterwards (the ledger itself is ``_budget``).

Budgets come from ``[modelbus] max_cost_usd`` (window ``total``, scope ``client``),
``[models.X] max_cost_usd`` (the same, for the calls routed through alias ``X``: its
fallbacks are other routes) and ``[budgets.NAME]``. ``client``-scoped ones live in the
client's own ledger; ``namespace`` and ``model`` ones in the configured budget store
(``[modelbus] budget_store``), where every client of the namespace sharing the store sees
them. A call reserves on the
client's ledger first, then on the store (one atomic step each); a refusal by the store
gives the first reservation back. Transiently both may hold a call that one of them then
refuses: that can refuse a concurrent call early, never let one overspend.

A store that cannot answer (Redis unreachable) refuses the call: a shared budget that
cannot be checked is treated as spent, so an outage never means unlimited spending.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .._wire.types import Usage
from ..errors import BudgetExceededError
from .budget_ledger import BudgetLedger, Charge, Refusal, Scope, Window, from_nano, period, to_nano
from .holds import Hold, abilled_attempts, billed_attempts, may_be_billed

if TYPE_CHECKING:
    from .._catalog import CatalogEntry
    from .._engine import Engine
    from .._engine.prepare import Estimate
    from .._routing.resolve import Route
    from ..protocols import BudgetStore

T = TypeVar("T")

__all__ = [
    "Hold",
    "abilled_attempts",
    "areserve",
    "billed_attempts",
    "budgets_configured",
    "close_store",
    "may_be_billed",
    "reserve",
    "worst_case_cost_usd",
]


def worst_case_cost_usd(
    entry: CatalogEntry, prompt_tokens: int, max_output_tokens: int, service_tier: str | None = None
) -> float | None:
    """US dollars a request can cost at most: ``prompt_tokens`` at the input price, or
    at the cache-write price where that is higher (a provider may write the whole prompt
    to its cache: OpenAI from GPT-5.6 on, at 1.25x input), plus ``max_output_tokens`` at
    the output price, at ``service_tier``'s prices when the catalog lists them (cache
    discounts ignored). ``None`` when a price is unknown or the prompt is in a price tier
    the catalog does not hold."""
    input_price = entry.price("input_per_1m", service_tier)
    if input_price is None:
        return None
    if entry.price("output_per_1m", service_tier) is None:
        return None
    write_price = entry.price("cache_write_per_1m", service_tier)
    written = prompt_tokens if write_price is not None and write_price > input_price else 0
    usage = Usage(
        prompt_tokens,
        max_output_tokens,
        prompt_tokens + max_output_tokens,
        cache_write_tokens=written,
    )
    return entry.cost(usage, service_tier)


@attrs.frozen
class _Spec:
    name: str
    limit: int
    window: Window
    scope: Scope
    models: frozenset[str] | None
    alias: str | None = None  # [models.X] max_cost_usd: only calls routed through X


class _State:
    """A client's budgets: their specs, its own ledger and (built on first use) the store."""

    def __init__(self, c: Engine, specs: tuple[_Spec, ...]) -> None:
        self.specs = specs
        self.ledger = BudgetLedger()
        self.shared = any(s.scope != "client" for s in specs)
        self._store: BudgetStore | None = None
        self._lock = threading.Lock()
        self.warned: set[str] = set()

    def store(self, c: Engine) -> BudgetStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = c.build("budget_stores", c.config.modelbus.budget_store)
        return self._store


# Each engine's state is kept in its ``step_state`` under this name (``None``: no
# budget configured), built on its first call.
_KEY = "budgets"
_states_lock = threading.Lock()


def _state(c: Engine) -> _State | None:
    try:
        return c.step_state[_KEY]  # type: ignore[no-any-return]
    except KeyError:
        pass
    cfg = c.config
    specs = [
        _Spec(
            f"budgets.{name}",
            to_nano(b.max_cost_usd, up=False),
            b.window,
            b.scope,
            None if b.models is None else frozenset(b.models),
        )
        for name, b in cfg.budgets.items()
    ]
    specs += [
        _Spec(
            f"models.{name}.max_cost_usd",
            to_nano(a.max_cost_usd, up=False),
            "total",
            "client",
            None,
            name,
        )
        for name, a in cfg.models.items()
        if a.max_cost_usd is not None
    ]
    if cfg.modelbus.max_cost_usd is not None:
        limit = to_nano(cfg.modelbus.max_cost_usd, up=False)
        specs.insert(0, _Spec("max_cost_usd", limit, "total", "client", None))
    st = _State(c, tuple(specs)) if specs else None
    with _states_lock:
        return c.step_state.setdefault(_KEY, st)  # type: ignore[no-any-return]


def _charges(
    c: Engine, st: _State, model: str, alias: str | None = None
) -> tuple[list[Charge], list[Charge]]:
    # A clock object from before ``Clock.wall`` existed (duck-typed) reads the real time.
    now = getattr(c.clock, "wall", time.time)()
    local: list[Charge] = []
    shared: list[Charge] = []
    ns = c.namespace
    for s in st.specs:
        if s.models is not None and model not in s.models:
            continue
        if s.alias is not None and s.alias != alias:
            continue
        label, end = period(s.window, now)
        if s.scope == "client":
            key, value, into = f"{s.name}\x1f{label}", "", local
        elif s.scope == "namespace":
            key, value, into = f"{ns}\x1f{s.name}\x1f{label}", ns, shared
        else:
            key, value, into = f"{ns}\x1f{s.name}\x1f{label}\x1f{model}", model, shared
        into.append(Charge(key, s.limit, s.name, s.window, s.scope, label, value, end))
    return local, shared


@attrs.define
class _Plan:
    state: _State
    local: list[Charge]
    shared: list[Charge]
    amount: int
    prompt: int
    output: int
    model: str


def _plan(c: Engine, route: Route, est: Estimate) -> _Plan | None:
    """What the call must reserve, or ``None`` when no budget applies (or its model is
    unpriced and not strict). Raises :class:`BudgetExceededError` for an unpriced model
    under ``budget_strict`` and for a cost it cannot bound."""
    st = _state(c)
    if st is None:
        return None
    req = est.request
    model = req.model
    local, shared = _charges(c, st, model, route.alias)
    if not local and not shared:
        return None
    entry, tier = est.entry, req.service_tier
    names = ", ".join(ch.name for ch in (*local, *shared))
    if (
        entry is None
        or entry.price("input_per_1m", tier) is None
        or (entry.price("output_per_1m", tier) is None)
    ):
        if c.config.modelbus.budget_strict:
            raise BudgetExceededError(
                f"{model} has no price in the catalog, so its cost cannot be counted against "
                f"{names}; budget_strict = true refuses it: add its prices under "
                f"[catalog.{model!r}] or set budget_strict = false",
                budget=(*local, *shared)[0].name,
                model=model,
            )
        if model not in st.warned:
            st.warned.add(model)
            c.log_warning(
                "budget_unpriced_model",
                model=model,
                provider=route.provider,
                budgets=names,
                detail="the catalog has no price for this model: its calls are sent and NOT "
                "counted against any budget (set [modelbus] budget_strict = true to refuse "
                "them, or add its prices under [catalog])",
            )
        return None
    prompt = est.prompt_tokens
    output = est.max_output_tokens or entry.max_output_tokens
    if not output and entry.context_window is not None:
        output = max(0, entry.context_window - prompt)
    worst = None if not output else worst_case_cost_usd(entry, prompt, output, tier)
    if worst is None:
        raise BudgetExceededError(
            f"cannot bound the cost of this {model} request ({prompt} prompt tokens, "
            f"output limit unknown or prompt above the catalog's price tier) under "
            f"{names}; set max_tokens",
            budget=(*local, *shared)[0].name,
            model=model,
        )
    return _Plan(st, local, shared, to_nano(worst), prompt, output or 0, model)


def _refused(plan: _Plan, r: Refusal) -> BudgetExceededError:
    ch = r.charge
    worst, spent, held = from_nano(r.amount), from_nano(r.spent), from_nano(r.reserved)
    limit = from_nano(ch.limit)
    return BudgetExceededError(
        f"{plan.model} request could cost up to ${worst:.6f} ({plan.prompt} prompt tokens + "
        f"{plan.output} output tokens); with ${spent:.6f} spent and ${held:.6f} reserved by "
        f"calls in flight that exceeds {ch.name}=${limit:g} "
        f"(window {ch.window}{'' if ch.window == 'total' else ' ' + ch.period}, "
        f"scope {ch.scope}{' ' + repr(ch.scope_value) if ch.scope_value else ''}); "
        "not sent",
        budget=ch.name,
        limit_usd=limit,
        window=ch.window,
        scope=ch.scope,
        spent_usd=spent,
        reserved_usd=held,
        worst_case_usd=worst,
        model=plan.model,
    )


def _unavailable(c: Engine, plan: _Plan, exc: BaseException) -> BudgetExceededError:
    ch = plan.shared[0]
    return BudgetExceededError(
        f"{plan.model} request refused: the budget store "
        f"{c.config.modelbus.budget_store!r} holding {ch.describe()} cannot be reached "
        f"({type(exc).__name__}: {exc}); a shared budget that cannot be checked is treated "
        "as spent until the store answers again",
        budget=ch.name,
        limit_usd=from_nano(ch.limit),
        window=ch.window,
        scope=ch.scope,
        worst_case_usd=from_nano(plan.amount),
        model=plan.model,
    )


def _take(c: Engine, plan: _Plan) -> None:
    """Reserve ``plan.amount`` on the client's ledger, then on the store (one atomic step
    each); raises :class:`BudgetExceededError`, giving the first back when the second
    refuses or cannot be reached."""
    refusal = plan.state.ledger.reserve(plan.local, plan.amount)
    if refusal is not None:
        raise _refused(plan, refusal)
    if plan.shared:
        try:
            refusal = plan.state.store(c).reserve(plan.shared, plan.amount)
        except Exception as exc:
            plan.state.ledger.settle(plan.local, plan.amount, 0)
            raise _unavailable(c, plan, exc) from exc
        if refusal is not None:
            plan.state.ledger.settle(plan.local, plan.amount, 0)
            raise _refused(plan, refusal)


async def _atake(c: Engine, plan: _Plan) -> None:
    """The async twin of :func:`_take` (awaits the store's ``areserve``)."""
    refusal = plan.state.ledger.reserve(plan.local, plan.amount)
    if refusal is not None:
        raise _refused(plan, refusal)
    if plan.shared:
        try:
            refusal = await plan.state.store(c).areserve(plan.shared, plan.amount)
        except Exception as exc:
            plan.state.ledger.settle(plan.local, plan.amount, 0)
            raise _unavailable(c, plan, exc) from exc
        if refusal is not None:
            plan.state.ledger.settle(plan.local, plan.amount, 0)
            raise _refused(plan, refusal)


def budgets_configured(c: Engine) -> bool:
    """Whether any budget is configured on ``c`` (``[modelbus] max_cost_usd``,
    ``[budgets.X]``, ``[models.X] max_cost_usd``)."""
    return _state(c) is not None


def reserve(c: Engine, route: Route, est: Estimate) -> Hold | None:
    """Reserve the call's worst case on every budget it charges (module doc); ``None``
    when none applies. Raises :class:`BudgetExceededError` when one has no room, when
    the store cannot be reached, or as :func:`_plan` says."""
    plan = _plan(c, route, est)
    if plan is None:
        return None
    _take(c, plan)
    return Hold(c, plan)


async def areserve(c: Engine, route: Route, est: Estimate) -> Hold | None:
    """The async twin of :func:`reserve` (awaits the store's ``areserve``)."""
    plan = _plan(c, route, est)
    if plan is None:
        return None
    await _atake(c, plan)
    return Hold(c, plan)


def close_store(c: Engine) -> Any:
    """The client's budget store if one was built (for ``Client.close``), else ``None``."""
    st = c.step_state.get(_KEY)
    return None if st is None else st._store
