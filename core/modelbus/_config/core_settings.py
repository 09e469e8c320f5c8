"""``[modelbus]``: the composition (which plugins a client uses, its defaults and
policies) and its nested tables ``[modelbus.plugins]`` and ``[modelbus.retry_budget]``."""

from __future__ import annotations

from typing import Any, Literal

import attrs
from attrs import field, frozen
from attrs.validators import optional

from .._engine.timeouts import DEFAULT_STREAM_IDLE_TIMEOUT_S
from .validators import path, seconds, usd

__all__ = ["LOG_LEVELS", "CoreSettings", "PluginsSettings", "RetryBudgetSettings"]


@frozen
class PluginsSettings:
    """``[modelbus.plugins]``: ``allow`` (only these entry-point/distribution names load;
    built-ins always do) and ``block`` (these never load: entry-point or distribution
    names, or a built-in's module name such as ``modelbus.builtins.caches``)."""

    allow: list[str] | None = None
    block: list[str] = field(factory=list)


@frozen
class RetryBudgetSettings:
    """``[modelbus.retry_budget]``: the retry quota of the AWS SDKs' standard retry mode
    (AWS SDKs and Tools Reference Guide, "Retry behavior"; botocore
    ``retries/standard.py``), one per client and provider (``modelbus._retry.runner.RetryQuota``).
    Every retry the policy wants is made while the quota has tokens for it; a success
    gives back what its last retry took, or ``no_retry_increment`` when it needed none.
    At everyday fault rates (10 % 429s and 5xx) every retry is made; in an outage
    ``capacity / retry_cost`` retries (100) are made, then each call gets one attempt.

    - ``enabled``: ``false`` turns the quota off (the retry policy alone decides).
    - ``capacity``: tokens in the bucket, full at start and at most (default 500).
    - ``retry_cost``: tokens a retry takes (default 5).
    - ``timeout_retry_cost``: tokens a retry after a timeout takes (default 10).
    - ``throttling_retry_cost``: tokens a retry after a 429 takes (``None``, the default:
      ``retry_cost``; the 2026 revision of AWS standard mode uses 5 with ``retry_cost = 14``).
    - ``no_retry_increment``: tokens a success without any retry adds back (default 1).
    """

    enabled: bool = True
    capacity: int = field(default=500, validator=attrs.validators.ge(0))
    retry_cost: int = field(default=5, validator=attrs.validators.ge(0))
    timeout_retry_cost: int = field(default=10, validator=attrs.validators.ge(0))
    throttling_retry_cost: int | None = field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )
    no_retry_increment: int = field(default=1, validator=attrs.validators.ge(0))


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _log_level(_inst: Any, _attr: Any, value: str | None) -> None:
    if value is not None and value.lower() not in LOG_LEVELS:
        raise ValueError(f"'log_level' must be one of {', '.join(LOG_LEVELS)}: {value!r}")


_positive = attrs.validators.optional(attrs.validators.gt(0))


@frozen
class CoreSettings:
    """``[modelbus]``, the composition.

    - ``provider``: default provider name (``None``: picked from the environment, see
      ``modelbus.client``); ``model``: default model or alias.
    - ``cache``: a registered cache name or ``"none"``; ``cache_ttl_s``: default TTL in
      seconds, > 0 (``None``: no expiry).
    - ``retry_policy``, ``rate_limiter``, ``token_counter``: registered names
      (``token_counter = None`` picks by model); ``retry_budget``: see
      :class:`RetryBudgetSettings`.
    - ``max_cost_usd``: a per-client budget in US dollars (finite, >= 0) over the
      client's lifetime (window ``total``, scope ``client``; more budgets:
      ``[budgets.NAME]``, see :class:`BudgetSettings`). ``budget_strict``: ``true`` refuses
      a call to a model the catalog cannot price while any budget applies
      (BudgetExceededError naming it); ``false`` (default) sends it uncounted with a
      ``budget_unpriced_model`` warning, once per client and model. ``budget_store``:
      where ``namespace`` and ``model`` scoped budgets are kept, a registered budget store
      (``"memory"``, the default: this process; ``"redis"`` with modelbus-redis-cache:
      every process and machine using the same Redis namespace, see
      ``[budget_stores.redis]``).
    - ``truncate``: context policy (``None`` raises ContextLengthExceededError,
      ``"oldest"``, ``"middle"``).
    - ``unsupported_params``: what to do with a parameter the model's catalog entry says
      it refuses (``max_tokens`` or ``temperature`` on a reasoning model) or that its
      provider does not honour (``Capabilities.params``: ``service_tier`` on a local
      model): ``"adapt"`` renames or drops it with a logged ``params_adapted`` note,
      ``"error"`` raises BadRequestError (``code="unsupported_parameter"``, naming the
      parameter and the model or provider) before sending. What the reply must obey
      (``tools``, ``stop``, ``web_search_options``, audio...) is refused in either
      policy (see ``modelbus._engine.adapt_params`` and ``modelbus._engine.param_support``).
    - ``log_format``: ``"console"`` or ``"json"``; ``log_level``: ``debug``, ``info``
      (one ``modelbus.call`` event per call), ``warning``, ``error`` or ``critical``.
      Both ``None``: modelbus leaves structlog as the application configured it.
    - ``templates_dir``: a folder of prompt templates (``*.toml``).
    - ``stream_idle_timeout_s``: seconds a stream may stay silent once it has answered
      (default 60: the read timeout of nginx and AWS load balancers, see
      ``modelbus._engine.timeouts``); a stall raises APITimeoutError, retried only before the
      first chunk. ``None``: no limit.
    - ``observers``: registered observer names (``["otel"]``) that receive every call's
      events (:mod:`modelbus.events`), in this order; ``[observers.NAME]`` configures one.
    - ``pool_state``: where deployment pools keep cooldowns, calls in flight and this
      minute's usage (``"memory"``, the default: each client its own; ``"redis"`` with
      modelbus-redis-cache: every process using the same Redis namespace, see
      ``[pool_states.redis]``).
    """

    provider: str | None = None
    model: str | None = None
    cache: str = "memory"
    cache_ttl_s: float | None = field(default=None, validator=_positive)
    retry_policy: str = "exponential"
    rate_limiter: str = "local"
    token_counter: str | None = None
    max_cost_usd: float | None = field(default=None, validator=optional(usd))
    budget_strict: bool = False
    budget_store: str = "memory"
    truncate: Literal["oldest", "middle"] | None = None
    unsupported_params: Literal["adapt", "error"] = "adapt"
    log_format: Literal["console", "json"] | None = None
    log_level: str | None = field(default=None, validator=_log_level)
    templates_dir: str | None = field(default=None, validator=path)
    stream_idle_timeout_s: float | None = field(
        default=DEFAULT_STREAM_IDLE_TIMEOUT_S, validator=seconds
    )
    observers: list[str] = field(factory=list)
    pool_state: str = "memory"
    plugins: PluginsSettings = field(factory=PluginsSettings)
    retry_budget: RetryBudgetSettings = field(factory=RetryBudgetSettings)
