"""What plugins registered, by kind and name; the host side of the ``register`` callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import attrs
from attrs import field, frozen

from ..errors import ConfigError, PluginError

if TYPE_CHECKING:
    from .._config.config import Config

# kind → the hook that fills it. The kind names are the config's section names.
KINDS: dict[str, str] = {
    "providers": "modelbus_register_providers",
    "caches": "modelbus_register_caches",
    "retry_policies": "modelbus_register_retry_policies",
    "token_counters": "modelbus_register_token_counters",
    "rate_limiters": "modelbus_register_rate_limiters",
    "budget_stores": "modelbus_register_budget_stores",
    "tools": "modelbus_register_tools",
    "response_formats": "modelbus_register_response_formats",
    "catalog": "modelbus_register_catalog",
    "doctor_checks": "modelbus_register_doctor_checks",
    "templates": "modelbus_register_templates",
    "observers": "modelbus_register_observers",
    "pool_states": "modelbus_register_pool_states",
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
    attrs ``settings`` class (or ``None``), the plugin/distribution that registered it, and
    ``builtin``: registered by one of modelbus's own plugins (wins a name clash)."""

    kind: str
    name: str
    factory: Any
    settings: type | None = None
    description: str | None = None
    plugin: str = ""
    distribution: str | None = None
    builtin: bool = False

    @property
    def origin(self) -> str:
        """The distribution name, else the plugin name: what an error should name."""
        return self.distribution or self.plugin


# "retry_policies"[:-1] would read "retry_policie" in an error message.
_SINGULAR = {
    "retry_policies": "retry policy",
    "token_counters": "token counter",
    "pool_states": "pool state store",
}


@attrs.define
class Registry:
    """Registrations by kind and name, under one clash rule (the same for CLI commands,
    see ``modelbus.cli._group.plugin_commands``), whatever the order plugins load in:

    - a built-in name (``memory``, ``exponential``...) stays the built-in's; the plugin
      that registers it too gets a :class:`PluginError` saying how to block either side;
    - a name two or more plugins register is *contested*: none of them is used, each of
      them gets the error, and using the name raises it (naming every distribution)."""

    _by_kind: dict[str, dict[str, Registration]] = field(
        factory=lambda: {k: {} for k in KINDS}, alias="by_kind"
    )
    # (kind, name) → the plugins' registrations that claim it. The first stays listed
    # (``names``, ``in``), but ``get`` raises: none is picked silently.
    _contested: dict[tuple[str, str], list[Registration]] = field(factory=dict, alias="contested")

    def add(self, reg: Registration) -> None:
        """Add ``reg``; raises :class:`PluginError` (``plugin``: the losing side's origin)
        when its name is a built-in's or another plugin's for the same kind."""
        if reg.kind not in self._by_kind:
            raise PluginError(f"unknown kind {reg.kind!r}", plugin=reg.plugin)
        if reg.settings is not None and not attrs.has(reg.settings):
            raise PluginError(
                f"{reg.kind} {reg.name!r}: settings must be an attrs class, got {reg.settings!r}",
                plugin=reg.origin,
                hook=KINDS[reg.kind],
            )
        if reg.kind == "catalog":
            # Checked here, not when a client loads the catalog: a plugin's bad entry is
            # that plugin's error, never every app's (nor the config file's).
            from .._catalog import check_catalog_entry

            try:
                check_catalog_entry(reg.name, reg.factory)
            except ValueError as exc:
                raise PluginError(str(exc), plugin=reg.origin, hook=KINDS[reg.kind]) from None
        key = (reg.kind, reg.name)
        contenders = self._contested.get(key)
        if contenders is not None:
            contenders.append(reg)
            raise self.clash_error(key)
        names = self._by_kind[reg.kind]
        taken = names.get(reg.name)
        if taken is None:
            names[reg.name] = reg
        elif taken.builtin != reg.builtin:
            kept, ignored = (taken, reg) if taken.builtin else (reg, taken)
            names[reg.name] = kept
            raise builtin_clash(reg.kind, reg.name, kept.plugin, ignored.plugin, ignored.origin)
        else:
            self._contested[key] = [taken, reg]
            raise self.clash_error(key)

    def contested(self) -> dict[tuple[str, str], tuple[Registration, ...]]:
        """(kind, name) → the registrations of the plugins that claim it (none is used)."""
        return {k: tuple(v) for k, v in self._contested.items()}

    def clash_error(self, key: tuple[str, str]) -> NameClash:
        """The error for a contested (kind, name): every claimant and how to resolve it."""
        kind, name = key
        regs = self._contested[key]
        return plugins_clash(f"{kind} name {name!r}", [r.origin for r in regs], KINDS[kind])

    def get(self, kind: str, name: str) -> Registration:
        """The registration, or :class:`PluginError` naming the registered names (or, for
        a contested name, every distribution that claims it)."""
        if (kind, name) in self._contested:
            raise self.clash_error((kind, name))
        try:
            return self._by_kind[kind][name]
        except KeyError:
            known = ", ".join(sorted(self._by_kind.get(kind, {}))) or "(none)"
            what = _SINGULAR.get(kind, kind[:-1] if kind.endswith("s") else kind)
            raise PluginError(
                f"no {what} named {name!r} is installed; installed: {known}"
            ) from None

    def copy(self, exclude: tuple[str, str] | None = None) -> Registry:
        """A new registry with the same registrations, less ``exclude`` (kind, name)."""
        new = Registry()
        for kind, regs in self._by_kind.items():
            for name, reg in regs.items():
                if (kind, name) != exclude:
                    new._by_kind[kind][name] = reg
        new._contested = {k: list(v) for k, v in self._contested.items() if k != exclude}
        return new

    def names(self, kind: str) -> list[str]:
        """Registered names of ``kind``, in registration order."""
        return list(self._by_kind[kind])

    def of_kind(self, kind: str) -> Iterator[Registration]:
        """The registrations of ``kind`` that are used, in registration order: contested
        names left out (the kinds used all at once, such as token counters and catalog
        entries, follow the clash rule too)."""
        if not self._contested:
            return iter(self._by_kind[kind].values())
        return (r for r in self._by_kind[kind].values() if (kind, r.name) not in self._contested)

    def __contains__(self, kind_name: tuple[str, str]) -> bool:
        kind, name = kind_name
        return name in self._by_kind.get(kind, {})

    def registrar(
        self,
        kind: str,
        plugin: str,
        distribution: str | None,
        errors: list[BaseException],
        builtin: bool = False,
    ) -> Callable[..., None]:
        """A ``register`` callback that records ``plugin``/``distribution`` on each entry and
        collects collisions into ``errors`` instead of aborting the whole plugin load."""

        def register(
            name: str,
            factory: Any,
            settings: type | None = None,
            description: str | None = None,
        ) -> None:
            problem = _name_problem(kind, name)
            if problem is not None:
                errors.append(PluginError(problem, plugin=distribution or plugin, hook=KINDS[kind]))
                return
            reg = Registration(
                kind, name, factory, settings, description, plugin, distribution, builtin
            )
            try:
                self.add(reg)
            except PluginError as exc:
                errors.append(exc)

        return register


def _name_problem(kind: str, name: object) -> str | None:
    """Why ``name`` cannot be registered as a ``kind``, or ``None``: a name is text with
    no spaces (it is typed in a config, ``-m``, a CLI option); a provider's also has no
    ``/`` (``provider/model`` could never reach it) and no ``:`` (``pool:NAME`` is the
    pools'). Catalog names are model names: any non-empty text."""
    if not isinstance(name, str) or not name.strip():
        return f"{kind} name {name!r}: a name is non-empty text"
    if kind == "catalog":
        return None
    if any(ch.isspace() for ch in name):
        return f"{kind} name {name!r}: a name has no spaces"
    if kind == "providers" and ("/" in name or ":" in name):
        return f"providers name {name!r}: a provider's name has no '/' or ':' (provider/model)"
    return None


def _block_hint(names: list[str]) -> str:
    listed = ", ".join(f'"{n}"' for n in names)
    return f"[modelbus.plugins] block = [{listed}] (or MODELBUS_DISABLE_PLUGINS={','.join(names)})"


def builtin_clash(
    kind: str, name: str, builtin_plugin: str, plugin: str, origin: str, hook: str | None = None
) -> PluginError:
    """The error of a plugin (``plugin``, from distribution ``origin``) that registers
    a built-in's ``name``: the built-in is kept; either side can be blocked."""
    return PluginError(
        f"{kind} name {name!r} is a built-in of modelbus (plugin {builtin_plugin!r}), so "
        f"{origin!r}'s is not used. To use it instead, block the built-in with "
        f"{_block_hint([builtin_plugin])}, which drops every name that built-in "
        f"registers; to keep the built-in without this error, block the plugin with "
        f"{_block_hint([plugin])}",
        plugin=origin,
        hook=hook if hook is not None else KINDS.get(kind),
    )


class NameClash(PluginError):
    """A name several plugins claim (see :func:`plugins_clash`)."""


def plugins_clash(what: str, origins: list[str], hook: str) -> NameClash:
    """The error of ``what`` (``"providers name 'x'"``) claimed by the plugins of
    ``origins`` (two or more): none is used until all but one are blocked."""
    claimants = " and by ".join(repr(o) for o in origins)
    twice = "twice" if len(origins) == 2 else f"{len(origins)} times"
    return NameClash(
        f"{what} is registered {twice}: by {claimants}; none of them is used until all "
        f"but one are blocked, e.g. {_block_hint(origins[1:])}",
        plugin=origins[-1],
        hook=hook,
    )


def start(reg: Registration, config: Config) -> Any:
    """Call ``reg``'s factory with its config section structured into its settings class
    (or with no argument). Raises :class:`ConfigError` for a bad section and
    :class:`PluginError` naming the plugin for anything the factory raises."""
    settings = config.section(reg.kind, reg.name, reg.settings)
    try:
        return reg.factory(settings) if reg.settings is not None else reg.factory()
    except (ConfigError, PluginError):
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # third-party code (sys.exit() too): named, never a traceback
        # Where to look: most factories fail on a setting (a path, a URL, a server).
        where = (
            ""
            if reg.settings is None
            else f" (its settings: [{reg.kind}.{reg.name}] in {config.source})"
        )
        raise PluginError(
            f"{reg.kind} {reg.name!r} from {reg.origin!r} failed to start{where}: "
            f"{type(exc).__name__}: {exc}",
            plugin=reg.origin,
            hook=KINDS[reg.kind],
        ) from exc


def start_each(registry: Registry, kind: str, config: Config) -> list[tuple[str, Any]]:
    """(name, object) for every ``kind`` registration, in registration order: for the
    kinds the core starts all of (token counters, response-format handlers). A plugin
    whose factory raises is logged (``plugin_factory_failed``, warning) and left out, so
    that apps that never need it keep working; a built-in's failure and a bad config
    section (:class:`ConfigError`) raise."""
    from .._logging import get_logger

    out = []
    for reg in registry.of_kind(kind):
        try:
            out.append((reg.name, start(reg, config)))
        except PluginError as exc:
            if reg.builtin:
                raise
            get_logger("modelbus.plugins").warning(
                "plugin_factory_failed",
                plugin=reg.plugin,
                distribution=reg.distribution,
                kind=kind,
                name=reg.name,
                error=str(exc),
            )
    return out
