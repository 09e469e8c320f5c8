"""Putting a FakeProvider into a real Client, through the real registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from .._client import Client
from .._config.config import Config
from .._plugins.loading import load_plugins
from .._plugins.registry import Registration
from ..hookspecs import hookimpl
from ._fake import FakeClock, FakeProvider

__all__ = ["fake_plugin", "make_client"]


def fake_plugin(provider: FakeProvider, name: str | None = None) -> Any:
    """A plugin object (for ``PluginManager.register``) whose hook registers ``provider``
    under ``name`` (default ``provider.name``); the factory returns that same instance."""
    pname = name or provider.name

    @hookimpl
    def modelbus_register_providers(register: Callable[..., None]) -> None:
        register(pname, lambda: provider, description="scripted FakeProvider")

    return SimpleNamespace(modelbus_register_providers=modelbus_register_providers)


def make_client(
    provider: FakeProvider | None = None,
    config: Mapping[str, Any] | None = None,
    *,
    clock: FakeClock | None = None,
    **overrides: Any,
) -> Client:
    """A real :class:`Client` with ``provider`` registered as ``provider.name`` (and made
    the default provider) on top of the installed plugins, and ``clock`` injected (a
    :class:`FakeClock` by default, so retries never sleep for real).

    The fake is added to a copy of the registry, so clients never leak fakes to each other.
    """
    provider = provider or FakeProvider()
    clock = clock or provider.clock or FakeClock()
    provider.clock = clock
    data = dict(config or {})
    core = dict(data.get("modelbus") or {})
    core.setdefault("provider", provider.name)
    data["modelbus"] = core
    cfg = Config.from_dict(data)
    loaded = load_plugins(cfg.modelbus.plugins.allow, cfg.modelbus.plugins.block)
    registry = loaded.registry.copy(exclude=("providers", provider.name))
    registry.add(
        Registration(
            "providers",
            provider.name,
            lambda: provider,
            description="scripted FakeProvider",
            plugin="modelbus.testing",
        )
    )
    return Client(cfg, clock=clock.as_clock(), registry=registry, **overrides)
