"""``modelbus.toml``: finding it, reading it, and checking its shape.

Found in this order: an explicit path, ``$MODELBUS_CONFIG``, ``./modelbus.toml``, then
``modelbus.toml`` in the user config dir (platformdirs: ``~/.config/modelbus`` on Linux).
A dict of the same shape works in code. Plugin sections (``[providers.X]``,
``[caches.X]``...) are structured into the settings class the plugin registered when the
client is built (:meth:`Config.section`), since only then are the plugins known.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
from attrs import define, field, frozen
from attrs.validators import optional

from .._engine.timeouts import DEFAULT_STREAM_IDLE_TIMEOUT_S, check_timeout
from ..errors import ConfigError
from .settings import structure_settings

__all__ = [
    "STRATEGIES",
    "BudgetSettings",
    "Config",
    "CoreSettings",
    "ModelAlias",
    "PluginsSettings",
    "RateLimit",
    "RetryBudgetSettings",
    "find_config",
]


def _seconds(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A finite number of seconds > 0, or ``None`` (``inf``/``nan`` would disable the
    limit silently or crash the first call)."""
    check_timeout(value, attribute.name)


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
_at_least_one = attrs.validators.optional(attrs.validators.ge(1))


def _usd(_inst: Any, attr: attrs.Attribute[Any], value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{attr.name} must be a finite number of US dollars >= 0, got {value!r}")


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

    max_cost_usd: float = field(validator=_usd)
    window: Literal["total", "day", "month"] = "total"
    scope: Literal["client", "namespace", "model"] = "client"
    models: list[str] | None = None


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
    max_cost_usd: float | None = field(default=None, validator=optional(_usd))
    budget_strict: bool = False
    budget_store: str = "memory"
    truncate: Literal["oldest", "middle"] | None = None
    unsupported_params: Literal["adapt", "error"] = "adapt"
    log_format: Literal["console", "json"] | None = None
    log_level: str | None = field(default=None, validator=_log_level)
    templates_dir: str | None = None
    stream_idle_timeout_s: float | None = field(
        default=DEFAULT_STREAM_IDLE_TIMEOUT_S, validator=_seconds
    )
    observers: list[str] = field(factory=list)
    pool_state: str = "memory"
    plugins: PluginsSettings = field(factory=PluginsSettings)
    retry_budget: RetryBudgetSettings = field(factory=RetryBudgetSettings)


@frozen
class RateLimit:
    """``[rate_limits."provider"]`` or ``[rate_limits."provider/model"]``: ``rpm``:
    requests per minute; ``tpm``: tokens per minute (estimated prompt tokens plus
    ``max_tokens``). Both at least 1; leave a key out for no limit (``0``, a negative
    number or ``nan`` is an error, never a limit switched off; below 1 a wait could
    exceed what the OS can sleep)."""

    rpm: float | None = field(default=None, validator=_at_least_one)
    tpm: float | None = field(default=None, validator=_at_least_one)


STRATEGIES = ("weighted", "least-busy", "latency", "usage")


def _weights(_inst: Any, attr: attrs.Attribute[Any], value: dict[str, float]) -> None:
    for name, w in value.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise ValueError(f"weight of {name!r} must be a finite number > 0, got {w!r}")


@frozen
class ModelAlias:
    """``[models.NAME]``: an alias routing to ``provider``/``model`` with default ``params``
    (OpenAI chat parameters: ``temperature``, ``max_tokens``...; checked when the config is
    read, see ``modelbus._wire.params``); ``fallbacks`` (``"provider/model"`` or alias names)
    are tried in order when the primary is unavailable; ``context_window_fallback`` on
    ContextLengthExceededError; ``timeout_s``: seconds each attempt may take (replaces the
    provider's ``timeout_s``; a call's ``timeout=`` replaces it in turn).

    A deployment pool (see ``modelbus._pools.provider``; guide: "Deployment pools"):

    - ``deployments``: ``"instance/model"`` entries (a provider plugin or a named
      instance, ``[providers.NAME] use = "PLUGIN"``) serving this model; each attempt
      of a call goes to one of them. With ``deployments``, ``model`` is the logical
      model name (for the catalog's prices and context window; default: the
      deployments' model when they all name the same one, else the alias name).
    - ``strategy``: ``"weighted"`` (default: random in proportion to ``weights``),
      ``"least-busy"`` (fewest calls in flight), ``"latency"`` (lowest recent
      latency) or ``"usage"`` (most rpm/tpm head-room left this minute under
      ``[rate_limits."instance"]`` / ``[rate_limits."instance/model"]``).
    - ``weights``: deployment → weight > 0 (default 1 each).
    - ``cooldown_s``: seconds a deployment is skipped after a 429, a 5xx, a timeout
      or a connection error without ``Retry-After`` (default 5; its ``Retry-After``
      when it sends one).
    - ``account_cooldown_s``: seconds a deployment is skipped after an account failure:
      a 429 ``insufficient_quota`` (out of credit), a 401 (key refused) or a 403 (no
      access); the call moves on to a healthy deployment at once. Default 600: credit and
      keys come back only when a person acts, so a short cooldown would spend an attempt
      of many calls on a deployment that cannot answer, and ten minutes bound the time a
      fixed deployment waits to be used again (one attempt per 10 minutes probes it).

    Per-model policies (a call's own arguments still win):

    - ``retry_policy``: a registered retry policy name (``"exponential"``), or a table
      ``{ use = "exponential", max_attempts = 5 }`` with that policy's settings;
      replaces ``[modelbus] retry_policy`` for this model.
    - ``rate_limit``: ``{ rpm = 60, tpm = 100000 }`` for this model's calls (key
      ``"models/NAME"``), on top of ``[rate_limits]``.
    - ``max_cost_usd``: a budget in US dollars for this model's calls over the
      client's lifetime (as ``[budgets.NAME]`` with ``scope = "client"``, ``window =
      "total"``, named ``models.NAME.max_cost_usd``).
    """

    model: str | None = None
    provider: str | None = None
    params: dict[str, Any] = field(factory=dict)
    fallbacks: list[str] = field(factory=list)
    context_window_fallback: str | None = None
    timeout_s: float | None = field(default=None, validator=_seconds)
    deployments: list[str] = field(factory=list)
    strategy: Literal["weighted", "least-busy", "latency", "usage"] = field(
        default="weighted", validator=attrs.validators.in_(STRATEGIES)
    )
    weights: dict[str, float] = field(factory=dict, validator=_weights)
    cooldown_s: float = field(default=5.0, validator=attrs.validators.gt(0))
    account_cooldown_s: float = field(default=600.0, validator=attrs.validators.gt(0))
    retry_policy: str | dict[str, Any] | None = None
    rate_limit: RateLimit | None = None
    max_cost_usd: float | None = field(default=None, validator=optional(_usd))


PLUGIN_SECTIONS = (
    "providers",
    "caches",
    "retry_policies",
    "token_counters",
    "rate_limiters",
    "budget_stores",
    "observers",
    "pool_states",
)
TOP_LEVEL = (
    "modelbus",
    *PLUGIN_SECTIONS,
    "models",
    "catalog",
    "rate_limits",
    "budgets",
    "log",
)


def _table(value: Any, key: str, source: str) -> Mapping[str, Any]:
    """``value`` when it is a TOML table (``None``: empty), else a ConfigError at ``key``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"[{key}] must be a table, got {type(value).__name__}", key=key, source=source
        )
    return value


@define
class Config:
    """The parsed configuration. ``source`` is the file path, ``"<dict>"`` or ``"<defaults>"``."""

    modelbus: CoreSettings = field(factory=CoreSettings)
    sections: dict[str, dict[str, dict[str, Any]]] = field(factory=dict)
    models: dict[str, ModelAlias] = field(factory=dict)
    catalog: dict[str, dict[str, Any]] = field(factory=dict)
    rate_limits: dict[str, RateLimit] = field(factory=dict)
    source: str = "<defaults>"
    base_dir: Path | None = None
    budgets: dict[str, BudgetSettings] = field(factory=dict)
    instances: dict[str, str] = field(factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Config:
        """Read the config file found by :func:`find_config` (defaults when none exists).

        Raises :class:`ConfigError` for unreadable TOML or a bad shape, naming the file."""
        found = find_config(path)
        if found is None:
            return cls.from_dict({}, source="<defaults>")
        try:
            text = found.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"cannot read config: {why}", source=str(found)) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"invalid TOML: {exc}", key=_toml_error_key(text, str(exc)), source=str(found)
            ) from None
        return cls.from_dict(data, source=str(found), base_dir=found.parent)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<dict>", base_dir: Path | None = None
    ) -> Config:
        """Check and structure a config dict of the TOML shape, then apply env overrides
        (``MODELBUS_PROVIDER``, ``MODELBUS_MODEL``, ``MODELBUS_CACHE``)."""
        for key in data:
            if key not in TOP_LEVEL:
                hint = " (logging is set in [modelbus]: log_level, log_format)"
                raise ConfigError(
                    f"unknown section {key!r}" + (hint if key == "logging" else ""),
                    key=key,
                    source=source,
                    accepted=TOP_LEVEL,
                )
        core = dict(_table(data.get("modelbus"), "modelbus", source))
        for env, key in (
            ("MODELBUS_PROVIDER", "provider"),
            ("MODELBUS_MODEL", "model"),
            ("MODELBUS_CACHE", "cache"),
        ):
            if os.environ.get(env):
                core[key] = os.environ[env]
        settings = structure_settings(
            CoreSettings, core, dotted="modelbus", source=source, base_dir=base_dir
        )
        sections: dict[str, dict[str, dict[str, Any]]] = {}
        for kind in PLUGIN_SECTIONS:
            raw = _table(data.get(kind), kind, source)
            for name, body in raw.items():
                if not isinstance(body, Mapping):
                    raise ConfigError(
                        f"[{kind}.{name}] must be a table", key=f"{kind}.{name}", source=source
                    )
            sections[kind] = {name: dict(body) for name, body in raw.items()}
        _log_section(data, sections, source, base_dir)
        from .aliases import read_alias, read_instances

        instances = read_instances(sections["providers"], source)
        models = {
            name: read_alias(name, _table(body, f"models.{name}", source), source)
            for name, body in _table(data.get("models"), "models", source).items()
        }
        limits = {
            name: structure_settings(
                RateLimit,
                _table(body, f"rate_limits.{name}", source),
                dotted=f"rate_limits.{name}",
                source=source,
            )
            for name, body in _table(data.get("rate_limits"), "rate_limits", source).items()
        }
        catalog = dict(_table(data.get("catalog"), "catalog", source))
        budgets = {
            name: structure_settings(BudgetSettings, body, dotted=f"budgets.{name}", source=source)
            for name, body in _tables(data, "budgets", source).items()
        }
        return cls(
            settings, sections, models, catalog, limits, source, base_dir, budgets, instances
        )

    def section(self, kind: str, name: str, settings_cls: type | None) -> Any:
        """The structured settings of ``[kind.name]`` (``None`` when the plugin takes no
        settings; then a non-empty section is an error)."""
        body = self.sections.get(kind, {}).get(name)
        if settings_cls is None:
            if body:
                raise ConfigError(
                    f"{kind} {name!r} takes no settings", key=f"{kind}.{name}", source=self.source
                )
            return None
        return structure_settings(
            settings_cls, body, dotted=f"{kind}.{name}", source=self.source, base_dir=self.base_dir
        )

    def check_sections(self, registry: Any) -> None:
        """Raise :class:`ConfigError` for a plugin section whose name nothing registered
        or whose keys its settings class rejects."""
        for kind, by_name in self.sections.items():
            for name in by_name:
                if (kind, name) not in registry:
                    raise ConfigError(
                        f"no {kind} plugin named {name!r} is installed",
                        key=f"{kind}.{name}",
                        source=self.source,
                        accepted=registry.names(kind),
                    )
                self.section(kind, name, registry.get(kind, name).settings)

    def evolve(self, **core: Any) -> Config:
        """A copy with ``[modelbus]`` keys replaced (used for ``Client(**overrides)``)."""
        return attrs.evolve(self, modelbus=attrs.evolve(self.modelbus, **core))


_AT_LINE = re.compile(r"at line (\d+), column \d+")
_HEADER = re.compile(r"^\s*\[\[?([^\]=#]+?)\s*(?:\]|$)")
_KEY_LINE = re.compile(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=")


def _dotted(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def _toml_error_key(text: str, message: str) -> str | None:
    """The dotted key at the line a TOML error points to (its table header, or the key
    of a ``key = value`` line under the last header), so that a syntax error names a key
    like any other config error. Only names are taken from the line, never values."""
    m = _AT_LINE.search(message)
    lines = text.splitlines()
    if m is None or not 1 <= int(m.group(1)) <= len(lines):
        return None
    line_no = int(m.group(1))
    table = ""
    for line in lines[: line_no - 1]:
        h = _HEADER.match(line)
        if h:
            table = _dotted(h.group(1))
    line = lines[line_no - 1]
    h = _HEADER.match(line)
    if h:
        return _dotted(h.group(1))
    k = _KEY_LINE.match(line)
    if k:
        key = _dotted(k.group(1))
        return f"{table}.{key}" if table else key
    return table or None


def _tables(data: Mapping[str, Any], section: str, source: str) -> Mapping[str, Any]:
    raw = data.get(section) or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"[{section}] must be a table of tables", key=section, source=source)
    for name, body in raw.items():
        if not isinstance(body, Mapping):
            raise ConfigError(
                f"[{section}.{name}] must be a table", key=f"{section}.{name}", source=source
            )
    return raw


def _log_section(
    data: Mapping[str, Any],
    sections: dict[str, dict[str, dict[str, Any]]],
    source: str,
    base_dir: Path | None,
) -> None:
    """``[log]`` is the call log's section (the built-in observer ``log``,
    ``modelbus.builtins.calllog``): checked here so that an error names ``log.KEY``, then
    kept as ``[observers.log]``, where the observer's settings are read from."""
    if "log" not in data:
        return
    from ..builtins.calllog import LogSettings

    body = dict(_table(data["log"], "log", source))
    structure_settings(LogSettings, body, dotted="log", source=source, base_dir=base_dir)
    if "log" in sections["observers"]:
        raise ConfigError(
            "the call log is set in [log] and in [observers.log]: keep one",
            key="observers.log",
            source=source,
        )
    sections["observers"]["log"] = body


def find_config(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to use (see module doc), or ``None``. An explicit path or
    ``$MODELBUS_CONFIG`` that does not exist is a :class:`ConfigError`."""
    explicit = path if path is not None else os.environ.get("MODELBUS_CONFIG")
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ConfigError("config file not found", source=str(p))
        return p
    local = Path("modelbus.toml")
    if local.is_file():
        return local.resolve()
    import platformdirs

    user = Path(platformdirs.user_config_dir("modelbus")) / "modelbus.toml"
    return user if user.is_file() else None
