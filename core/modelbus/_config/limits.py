"""``[rate_limits."provider"]`` and ``[budgets.NAME]``: the settings of client-side rate
limits and cost budgets (carried out by ``modelbus._limits``)."""

from __future__ import annotations

from typing import Literal

import attrs
from attrs import field, frozen

from .validators import usd

__all__ = ["BudgetSettings", "RateLimit"]

_at_least_one = attrs.validators.optional(attrs.validators.ge(1))


@frozen
class RateLimit:
    """``[rate_limits."provider"]`` or ``[rate_limits."provider/model"]``: ``rpm``:
    requests per minute; ``tpm``: tokens per minute (estimated prompt tokens plus
    ``max_tokens``). Both at least 1; leave a key out for no limit (``0``, a negative
    number or ``nan`` is an error, never a limit switched off; below 1 a wait could
    exceed what the OS can sleep)."""

    rpm: float | None = field(default=None, validator=_at_least_one)
    tpm: float | None = field(default=None, validator=_at_least_one)


@frozen
class BudgetSettings:
    """``[budgets.NAME]``: a cost budget. A call reserves its worst case (estimated prompt
    tokens + ``max_tokens``, or else the model's output limit, at the catalog price of its
    service tier) on every budget that applies before it is sent, and settles to its real
    cost when answered; calls in flight count against each other
    (``modelbus._limits.budget_ledger``).

    - ``max_cost_usd``: the limit in US dollars (finite, >= 0).
    - ``window``: ``"total"`` (default: never resets), ``"day"`` or ``"month"`` (UTC
      calendar days and months of the client's ``Clock.wall``).
    - ``scope``: ``"client"`` (default: this Client object's own calls),
      ``"namespace"`` (every client of the same ``namespace`` sharing the budget store:
      this process with ``budget_store = "memory"``, all processes with ``"redis"``) or
      ``"model"`` (as ``namespace``, with a separate limit for each model).
    - ``models``: the models the budget applies to (``None``, the default: all).
    """

    max_cost_usd: float = field(validator=usd)
    window: Literal["total", "day", "month"] = "total"
    scope: Literal["client", "namespace", "model"] = "client"
    models: list[str] | None = None
