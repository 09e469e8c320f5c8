"""What plugins registered, by kind and name; the host side of the ``register`` callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import attrs
from attrs import field, frozen

from .errors import PluginError

# kind → the hook that fills it. The kind names are the config's section names.
KINDS: dict[str, str] = {
    "providers": "modelbus_register_providers",
    "caches": "modelbus_register_caches",
    "retry_policies": "modelbus_register_retry_policies",
    "token_counters": "modelbus_register_token_counters",
    "rate_limiters": "modelbus_register_rate_limiters",
    "tools": "modelbus_register_tools",
    "response_formats": "modelbus_register_response_formats",
    "catalog": "modelbus_register_catalog",
    "doctor_checks": "modelbus_register_doctor_checks",
    "templates": "modelbus_register_templates",
    "observers": "modelbus_register_observers",
}


class Register(Protocol):
    """The callback a ``modelbus_register_*`` hook receives (see :mod:`modelbus.hookspecs`)."""

    def __call__(
        self,
        name: str,
        factory: Any,
        settings: type | None = None,
        description: str | None = None,
    ) -> None: ...


@frozen
class Registration:
    """One registered thing: its ``kind`` (config section name), ``name``, ``factory``,
    attrs ``settings`` class (or ``None``), and the plugin/distribution that registered it."""

    kind: str
    name: str
    factory: Any
    settings: type | None = None
    description: str | None = None
    plugin: str = ""
    distribution: str | None = None

    @property
    def origin(self) -> str:
        """The distribution name, else the plugin name: what an error should name."""
        return self.distribution or self.plugin


@attrs.define
class Registry:
    """Registrations by kind and name. A name registered twice for a kind is an error
    naming both distributions (:class:`PluginError`)."""

    _by_kind: dict[str, dict[str, Registration]] = field(
        factory=lambda: {k: {} for k in KINDS}, alias="by_kind"
    )
    # (kind, name) registered by two plugins → the error naming both. The first
    # registration stays listed, but using the name raises: neither is picked silently.
    _contested: dict[tuple[str, str], PluginError] = field(factory=dict, alias="contested")

    def add(self, reg: Registration) -> None:
        """Add ``reg``; raises :class:`PluginError` if its name is taken for its kind."""
        if reg.kind not in self._by_kind:
            raise PluginError(f"unknown kind {reg.kind!r}", plugin=reg.plugin)
        if reg.settings is not None and not attrs.has(reg.settings):
            raise PluginError(
                f"{reg.kind} {reg.name!r}: settings must be an attrs class, got {reg.settings!r}",
                plugin=reg.origin,
                hook=KINDS[reg.kind],
            )
        taken = self._by_kind[reg.kind].get(reg.name)
        if taken is not None:
            err = PluginError(
                f"{reg.kind} name {reg.name!r} is registered twice: by {taken.origin!r} "
                f"and by {reg.origin!r}; block one of them with "
                "[modelbus.plugins] block = [...] or MODELBUS_DISABLE_PLUGINS",
                plugin=reg.origin,
                hook=KINDS[reg.kind],
            )
            self._contested[(reg.kind, reg.name)] = err
            raise err
        self._by_kind[reg.kind][reg.name] = reg

    def get(self, kind: str, name: str) -> Registration:
        """The registration, or :class:`PluginError` naming the registered names (or, for
        a name two plugins registered, naming both distributions)."""
        contested = self._contested.get((kind, name))
        if contested is not None:
            raise PluginError(str(contested), plugin=contested.plugin, hook=contested.hook)
        try:
            return self._by_kind[kind][name]
        except KeyError:
            known = ", ".join(sorted(self._by_kind.get(kind, {}))) or "(none)"
            raise PluginError(
                f"no {kind[:-1] if kind.endswith('s') else kind} named {name!r} is installed; "
                f"installed: {known}"
            ) from None

    def copy(self, exclude: tuple[str, str] | None = None) -> Registry:
        """A new registry with the same registrations, less ``exclude`` (kind, name)."""
        new = Registry()
        for kind, regs in self._by_kind.items():
            for name, reg in regs.items():
                if (kind, name) != exclude:
                    new._by_kind[kind][name] = reg
        new._contested = {k: v for k, v in self._contested.items() if k != exclude}
        return new

    def names(self, kind: str) -> list[str]:
        """Registered names of ``kind``, in registration order."""
        return list(self._by_kind[kind])

    def of_kind(self, kind: str) -> Iterator[Registration]:
        return iter(self._by_kind[kind].values())

    def __contains__(self, kind_name: tuple[str, str]) -> bool:
        kind, name = kind_name
        return name in self._by_kind.get(kind, {})

    def registrar(
        self, kind: str, plugin: str, distribution: str | None, errors: list[BaseException]
    ) -> Callable[..., None]:
        """A ``register`` callback that records ``plugin``/``distribution`` on each entry and
        collects collisions into ``errors`` instead of aborting the whole plugin load."""

        def register(
            name: str,
            factory: Any,
            settings: type | None = None,
            description: str | None = None,
        ) -> None:
            reg = Registration(kind, name, factory, settings, description, plugin, distribution)
            try:
                self.add(reg)
            except PluginError as exc:
                errors.append(exc)

        return register
