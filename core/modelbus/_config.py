"""``modelbus.toml``: finding it, reading it, and checking its shape.

Found in this order: an explicit path, ``$MODELBUS_CONFIG``, ``./modelbus.toml``, then
``modelbus.toml`` in the user config dir (platformdirs: ``~/.config/modelbus`` on Linux).
A dict of the same shape works in code. Plugin sections (``[providers.X]``,
``[caches.X]``...) are structured into the settings class the plugin registered when the
client is built (:meth:`Config.section`), since only then are the plugins known.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
from attrs import define, field, frozen

from ._settings import structure_settings
from .errors import ConfigError

__all__ = [
    "Config",
    "CoreSettings",
    "ModelAlias",
    "PluginsSettings",
    "RateLimit",
    "RetryBudgetSettings",
    "find_config",
]


@frozen
class PluginsSettings:
    """``[modelbus.plugins]``: ``allow`` (only these entry-point/distribution names load)
    and ``block`` (these never load). Core built-ins are always loaded."""

    allow: list[str] | None = None
    block: list[str] = field(factory=list)


@frozen
class RetryBudgetSettings:
    """``[modelbus.retry_budget]``: the retry quota of the AWS SDKs' standard retry mode
    (AWS SDKs and Tools Reference Guide, "Retry behavior"; botocore
    ``retries/standard.py``), one per client and provider (``modelbus._retry.RetryQuota``).
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


@frozen
class CoreSettings:
    """``[modelbus]``, the composition.

    - ``provider``: default provider name (``None``: picked from the environment, see
      ``modelbus.client``); ``model``: default model or alias.
    - ``cache``: a registered cache name or ``"none"``; ``cache_ttl_s``: default TTL in
      seconds (``None``: no expiry).
    - ``retry_policy``, ``rate_limiter``, ``token_counter``: registered names
      (``token_counter = None`` picks by model); ``retry_budget``: see
      :class:`RetryBudgetSettings`.
    - ``max_cost_usd``: a per-client budget in US dollars; ``truncate``: context policy
      (``None`` raises ContextLengthExceededError, ``"oldest"``, ``"middle"``).
    - ``unsupported_params``: what to do with a parameter the model's catalog entry says
      it refuses (``max_tokens`` or ``temperature`` on a reasoning model): ``"adapt"``
      renames or drops it with a logged ``params_adapted`` note, ``"error"`` raises
      BadRequestError before sending (see ``modelbus._adapt_params``).
    - ``log_format``: ``"console"`` or ``"json"``; ``log_level``: a logging level name
      (``info`` shows one ``modelbus.call`` event per call). Both ``None``: modelbus leaves
      structlog as the application configured it.
    - ``templates_dir``: a folder of prompt templates (``*.toml``).
    - ``observers``: registered observer names (``["otel"]``) that receive every call's
      events (:mod:`modelbus.events`), in this order; ``[observers.NAME]`` configures one.
    """

    provider: str | None = None
    model: str | None = None
    cache: str = "memory"
    cache_ttl_s: float | None = None
    retry_policy: str = "exponential"
    rate_limiter: str = "local"
    token_counter: str | None = None
    max_cost_usd: float | None = None
    truncate: Literal["oldest", "middle"] | None = None
    unsupported_params: Literal["adapt", "error"] = "adapt"
    log_format: Literal["console", "json"] | None = None
    log_level: str | None = None
    templates_dir: str | None = None
    observers: list[str] = field(factory=list)
    plugins: PluginsSettings = field(factory=PluginsSettings)
    retry_budget: RetryBudgetSettings = field(factory=RetryBudgetSettings)


@frozen
class ModelAlias:
    """``[models.NAME]``: an alias routing to ``provider``/``model`` with default ``params``;
    ``fallbacks`` (``"provider/model"`` or alias names) are tried in order when the primary
    is unavailable; ``context_window_fallback`` on ContextLengthExceededError."""

    model: str
    provider: str | None = None
    params: dict[str, Any] = field(factory=dict)
    fallbacks: list[str] = field(factory=list)
    context_window_fallback: str | None = None


@frozen
class RateLimit:
    """``[rate_limits."provider"]`` or ``[rate_limits."provider/model"]``: ``rpm``:
    requests per minute; ``tpm``: tokens per minute (estimated prompt tokens plus
    ``max_tokens``). ``None``: unlimited."""

    rpm: float | None = None
    tpm: float | None = None


PLUGIN_SECTIONS = (
    "providers",
    "caches",
    "retry_policies",
    "token_counters",
    "rate_limiters",
    "observers",
)
TOP_LEVEL = ("modelbus", *PLUGIN_SECTIONS, "models", "catalog", "rate_limits", "logging")


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

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Config:
        """Read the config file found by :func:`find_config` (defaults when none exists).

        Raises :class:`ConfigError` for unreadable TOML or a bad shape, naming the file."""
        found = find_config(path)
        if found is None:
            return cls.from_dict({}, source="<defaults>")
        try:
            data = tomllib.loads(found.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", source=str(found)) from exc
        except OSError as exc:
            raise ConfigError(f"cannot read config: {exc.strerror}", source=str(found)) from exc
        return cls.from_dict(data, source=str(found), base_dir=found.parent)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<dict>", base_dir: Path | None = None
    ) -> Config:
        """Check and structure a config dict of the TOML shape, then apply env overrides
        (``MODELBUS_PROVIDER``, ``MODELBUS_MODEL``, ``MODELBUS_CACHE``)."""
        for key in data:
            if key not in TOP_LEVEL:
                raise ConfigError(
                    f"unknown section {key!r}", key=key, source=source, accepted=TOP_LEVEL
                )
        core = dict(data.get("modelbus") or {})
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
            raw = data.get(kind) or {}
            for name, body in raw.items():
                if not isinstance(body, Mapping):
                    raise ConfigError(
                        f"[{kind}.{name}] must be a table", key=f"{kind}.{name}", source=source
                    )
            sections[kind] = {name: dict(body) for name, body in raw.items()}
        models = {
            name: structure_settings(ModelAlias, body, dotted=f"models.{name}", source=source)
            for name, body in (data.get("models") or {}).items()
        }
        limits = {
            name: structure_settings(RateLimit, body, dotted=f"rate_limits.{name}", source=source)
            for name, body in (data.get("rate_limits") or {}).items()
        }
        return cls(
            settings, sections, models, dict(data.get("catalog") or {}), limits, source, base_dir
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
