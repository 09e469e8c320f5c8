"""Named provider instances and deployment pools as registered providers.

``[providers.azure-west] use = "azure"`` runs the ``azure`` plugin a second time with the
settings of its own section (endpoint, key...): everything that names a provider
(``-m azure-west/gpt-4o``, fallbacks, deployments, ``[rate_limits."azure-west"]``,
``modelbus doctor``) accepts the instance name, because :func:`with_instances` adds it to
the client's registry as a provider of its own, with the plugin's factory, settings
class and doctor checks. A pool (``[models.X] deployments = [...]``, two or more) is
added the same way, as the provider ``pool:X`` (see ``modelbus._pools.provider``; built
by ``modelbus._pools.compose``).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import attrs

from .._plugins.registry import Registration, Registry
from ..errors import ConfigError

if TYPE_CHECKING:
    from .._client import Client
    from .._config.config import Config

__all__ = ["POOL_PREFIX", "check_deployments", "instance_plugin", "pool_name", "with_instances"]

POOL_PREFIX = "pool:"


def pool_name(alias: str) -> str:
    """The provider name of the pool of alias ``alias`` (``pool:gpt-4o``)."""
    return POOL_PREFIX + alias


def with_instances(config: Config, registry: Registry, client: Client | None = None) -> Registry:
    """``registry`` with the config's named instances added as providers (and, given the
    ``client`` that will run them, its pools); ``registry`` itself when there are none.

    Raises :class:`ConfigError` (key ``providers.NAME.use``) when ``use`` names no
    installed provider plugin, names another instance, or the instance name is already
    a plugin's."""
    pools = [name for name, a in config.models.items() if len(a.deployments) > 1]
    if not config.instances and not (pools and client is not None):
        return registry
    out = registry.copy()
    plugins = registry.names("providers")
    for name, plugin in config.instances.items():
        key = f"providers.{name}.use"
        if ("providers", name) in registry:
            raise ConfigError(
                f"instance name {name!r} is already a provider plugin's name; name the "
                "instance otherwise",
                key=key,
                source=config.source,
            )
        if plugin in config.instances:
            raise ConfigError(
                f"use = {plugin!r} names another instance; name the plugin it runs",
                key=key,
                source=config.source,
                accepted=plugins,
            )
        if ("providers", plugin) not in registry:
            raise ConfigError(
                f"no provider plugin named {plugin!r} is installed",
                key=key,
                source=config.source,
                accepted=plugins,
            )
        base = registry.get("providers", plugin)
        out.add(
            attrs.evolve(
                base,
                name=name,
                description=f"instance of {plugin!r}"
                + (f": {base.description}" if base.description else ""),
                builtin=False,
            )
        )
        if ("doctor_checks", plugin) in registry and ("doctor_checks", name) not in registry:
            out.add(attrs.evolve(registry.get("doctor_checks", plugin), name=name))
    if client is not None:
        ref = weakref.ref(client)
        check_deployments(config, out)
        for alias in pools:
            out.add(
                Registration(
                    "providers",
                    pool_name(alias),
                    _pool_factory(ref, alias),
                    description=f"deployment pool of [models.{alias}]",
                    plugin="modelbus",
                )
            )
    return out


def check_deployments(config: Config, registry: Registry) -> None:
    """Raise :class:`ConfigError` (key ``models.X.deployments[i]``) for a deployment
    whose instance is no provider of ``registry`` (instances added)."""
    for alias, a in config.models.items():
        for i, dep in enumerate(a.deployments):
            head = dep.partition("/")[0]
            if ("providers", head) not in registry:
                raise ConfigError(
                    f"deployment {dep!r}: no provider or instance named {head!r}",
                    key=f"models.{alias}.deployments[{i}]",
                    source=config.source,
                    accepted=registry.names("providers"),
                )


def _pool_factory(ref: weakref.ref[Client], alias: str) -> Any:
    def make() -> Any:
        from .._pools.compose import pool_provider

        client = ref()
        if client is None:  # pragma: no cover - the client builds its own providers
            raise RuntimeError("the client of this pool is gone")
        return pool_provider(client.engine, alias)

    return make


def instance_plugin(config: Config, name: str) -> str:
    """The provider plugin that serves provider ``name``: ``use`` of an instance, else
    ``name`` itself."""
    return config.instances.get(name, name)
