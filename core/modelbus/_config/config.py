"""``modelbus.toml``: reading it and checking its shape (:class:`Config`).

The file is found by :func:`find_config` (``toml_file.py``: an explicit path,
``$MODELBUS_CONFIG``, ``./modelbus.toml``, then the user config dir). A dict of the same
shape works in code. The core's own tables are structured into their settings classes
here (``core_settings.py``, ``aliases.py``, ``limits.py``); plugin sections
(``[providers.X]``, ``[caches.X]``...) are structured into the settings class the plugin
registered when the client is built (:meth:`Config.section`), since only then are the
plugins known.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from attrs import define, field

from ..errors import ConfigError
from .aliases import STRATEGIES, ModelAlias, read_alias, read_instances
from .core_settings import CoreSettings, PluginsSettings, RetryBudgetSettings
from .limits import BudgetSettings, RateLimit
from .settings import structure_settings
from .toml_file import find_config, read_toml

# The settings classes and find_config are re-exported: ``modelbus``, ``modelbus.plugin``,
# the routing and the tests import them from here.
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
        return cls.from_dict(read_toml(found), source=str(found), base_dir=found.parent)

    @classmethod
    def coerce(
        cls,
        config: Config | Mapping[str, Any] | str | os.PathLike[str] | None,
        overrides: Mapping[str, Any],
    ) -> Config:
        """The config ``Client(config, **overrides)`` runs on: ``config`` as given (a
        :class:`Config`), structured (a mapping of the TOML shape) or loaded (a path, or
        ``None`` to search), then ``overrides`` replacing ``[modelbus]`` keys.

        Raises :class:`ConfigError` for a bad config or an unknown override key (naming
        the accepted ones)."""
        if isinstance(config, Config):
            cfg = config
        elif isinstance(config, Mapping):
            cfg = cls.from_dict(config)
        else:
            cfg = cls.load(config)
        if not overrides:
            return cfg
        try:
            return cfg.evolve(**overrides)
        except TypeError as exc:
            raise ConfigError(
                f"unknown client override: {exc}",
                source="Client(...)",
                accepted=[a.name for a in attrs.fields(type(cfg.modelbus))],
            ) from None

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
