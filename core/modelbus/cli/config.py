"""``modelbus config check|show``: validate a config against the installed plugins, and
print the effective config with every default filled in and secrets masked."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import click

from ._common import build_catalog, config_option, echo_json, load_config, plugins_for

if TYPE_CHECKING:
    from .._config.config import Config
    from .._plugins.registry import Registry

__all__ = ["check_config", "config", "effective_config", "selected_components"]

# [modelbus] key → the registry kind its value names.
_SELECTORS = {
    "cache": "caches",
    "retry_policy": "retry_policies",
    "rate_limiter": "rate_limiters",
    "budget_store": "budget_stores",
    "token_counter": "token_counters",
    "provider": "providers",
    "pool_state": "pool_states",
}


def selected_components(cfg: Config, registry: Registry) -> dict[str, list[str]]:
    """kind → names the config uses: its plugin sections, the ``[modelbus]`` selectors
    (``cache = "none"`` selects nothing), alias providers and, when no provider is named,
    the one picked from the environment (if any)."""
    from .._routing.resolve import pick_default_provider
    from ..errors import ConfigError

    out: dict[str, list[str]] = {kind: list(names) for kind, names in cfg.sections.items()}

    def add(kind: str, name: str | None) -> None:
        if name is not None and name not in out.setdefault(kind, []):
            out[kind].append(name)

    core = cfg.modelbus
    for key, kind in _SELECTORS.items():
        value = getattr(core, key)
        if not (key == "cache" and value == "none"):
            add(kind, value)
    for alias in cfg.models.values():
        add("providers", alias.provider)
        for dep in alias.deployments:
            add("providers", dep.partition("/")[0])
    for name in core.observers:
        add("observers", name)
    if core.provider is None:
        # Nothing to pick from is no error here; `modelbus chat` says so when it needs one.
        with contextlib.suppress(ConfigError):
            add("providers", pick_default_provider(cfg, registry)[0])
    return out


def check_config(cfg: Config, registry: Registry) -> None:
    """Everything a client would check at start, without starting anything: plugin
    sections against their settings classes, every selected name against the registry,
    alias fallbacks, ``templates_dir``, the settings of selected components (defaults and
    required keys), the catalog. Values, ranges and alias ``params`` are checked when
    the config is read (:meth:`Config.from_dict`).

    Raises :class:`ConfigError` naming the key, the file and the accepted names."""
    from .._engine.policies import check_policies
    from .._routing.instances import check_deployments, with_instances
    from ..errors import ConfigError

    registry = with_instances(cfg, registry)
    cfg.check_sections(registry)
    core = cfg.modelbus
    for key, kind in _SELECTORS.items():
        value = getattr(core, key)
        if value is None or (key == "cache" and value == "none"):
            continue
        if (kind, value) not in registry:
            raise ConfigError(
                f"no {kind} plugin named {value!r} is installed",
                key=f"modelbus.{key}",
                source=cfg.source,
                accepted=registry.names(kind),
            )
    for name in core.observers:
        if ("observers", name) not in registry:
            raise ConfigError(
                f"no observers plugin named {name!r} is installed",
                key="modelbus.observers",
                source=cfg.source,
                accepted=registry.names("observers"),
            )
    for name, alias in cfg.models.items():
        if alias.provider is not None and ("providers", alias.provider) not in registry:
            raise ConfigError(
                f"no providers plugin named {alias.provider!r} is installed",
                key=f"models.{name}.provider",
                source=cfg.source,
                accepted=registry.names("providers"),
            )
    _check_targets(cfg, registry)
    check_deployments(cfg, registry)
    check_policies(cfg, registry)
    _check_templates_dir(cfg)
    for kind, names in selected_components(cfg, registry).items():
        for name in names:
            cfg.section(kind, name, registry.get(kind, name).settings)
    build_catalog(cfg, registry)


def _check_targets(cfg: Config, registry: Registry) -> None:
    """Each ``fallbacks`` entry and ``context_window_fallback`` of an alias names another
    alias or ``"provider/model"`` with an installed provider (a bare name would silently
    become a model of the default provider)."""
    from ..errors import ConfigError

    providers = registry.names("providers")
    accepted = [*sorted(cfg.models), *(f"{p}/MODEL" for p in providers)]
    for name, alias in cfg.models.items():
        targets = [(f"models.{name}.fallbacks", t) for t in alias.fallbacks]
        if alias.context_window_fallback is not None:
            targets.append(
                (f"models.{name}.context_window_fallback", alias.context_window_fallback)
            )
        for key, target in targets:
            if target in cfg.models:
                continue
            head, slash, tail = target.partition("/")
            if slash and tail and head in providers:
                continue
            why = (
                f"no provider named {head!r} is installed"
                if slash
                else "it is neither an alias ([models.NAME]) nor provider/model"
            )
            raise ConfigError(
                f"fallback target {target!r}: {why}", key=key, source=cfg.source, accepted=accepted
            )


def _check_templates_dir(cfg: Config) -> None:
    from pathlib import Path

    from ..errors import ConfigError

    raw = cfg.modelbus.templates_dir
    if not raw:
        return
    d = Path(raw).expanduser()
    if not d.is_absolute() and cfg.base_dir is not None:
        d = cfg.base_dir / d
    if not d.is_dir():
        raise ConfigError(
            f"templates_dir {str(d)!r} is not a folder",
            key="modelbus.templates_dir",
            source=cfg.source,
        )


def effective_config(cfg: Config, registry: Registry) -> dict[str, Any]:
    """The config as a client would use it: ``[modelbus]`` and each selected plugin's
    settings object (so defaults show), aliases, catalog overrides, rate limits and cost
    budgets, with secrets shown as ``'**********'``."""
    from .._config.settings import settings_to_dict
    from .._routing.instances import with_instances

    registry = with_instances(cfg, registry)
    out: dict[str, Any] = {"source": cfg.source, "modelbus": settings_to_dict(cfg.modelbus)}
    for kind, names in selected_components(cfg, registry).items():
        section: dict[str, Any] = out.setdefault(kind, {})
        for name in names:
            settings = cfg.section(kind, name, registry.get(kind, name).settings)
            section[name] = {} if settings is None else settings_to_dict(settings)
    out["models"] = {name: settings_to_dict(a) for name, a in cfg.models.items()}
    out["catalog"] = cfg.catalog
    out["rate_limits"] = {name: settings_to_dict(r) for name, r in cfg.rate_limits.items()}
    out["budgets"] = {name: settings_to_dict(b) for name, b in cfg.budgets.items()}
    return out


@click.group()
def config() -> None:
    """Check or show the configuration."""


@config.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def check(path: str | None) -> None:
    """Check PATH (default: the config found by search) against the installed plugins.

    Exit status 0 when valid; 2 with the key, the file and the accepted keys otherwise.
    """
    cfg = load_config(path)
    check_config(cfg, plugins_for(cfg).registry)
    click.echo(f"ok: {cfg.source}")


@config.command()
@config_option
def show(config_path: str | None) -> None:
    """Print the effective config as JSON: defaults filled in, secrets masked."""
    cfg = load_config(config_path)
    registry = plugins_for(cfg).registry
    check_config(cfg, registry)
    echo_json(effective_config(cfg, registry))
