"""Plugin discovery: entry points of group ``modelbus``, loaded one by one, once per process.

A plugin that fails to import, implements an unknown hook, has a hook that raises, or
registers a name that is taken is recorded with its distribution name and error, and the
rest keep working; ``MODELBUS_STRICT_PLUGINS=1`` turns such failures into
:class:`PluginError`. Core built-ins are registered first, like pytest's; a plugin never
replaces one of their names (see :class:`modelbus._plugins.registry.Registry` for the clash rule)
but blocking the built-in (its module name) lets it take the name.
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import attrs
import pluggy

from .. import hookspecs
from .._logging import get_logger
from ..errors import PluginError
from .registry import KINDS, NameClash, Registry

log = get_logger("modelbus.plugins")

BUILTIN_PLUGINS = (
    "modelbus.builtins.caches",
    "modelbus.builtins.retry",
    "modelbus.builtins.ratelimit",
    "modelbus.builtins.budget",
    "modelbus.builtins.pool_state",
    "modelbus.builtins.tokens",
    "modelbus.builtins.calllog",
)


@attrs.frozen
class PluginInfo:
    """What ``modelbus plugins --json`` shows for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    registered: dict[str, list[str]]
    error: str | None = None
    builtin: bool = False


@attrs.frozen
class LoadedPlugins:
    """The plugin manager, the registry built from it and per-plugin info."""

    pm: pluggy.PluginManager
    registry: Registry
    plugins: tuple[PluginInfo, ...]


def _env_list(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [p.strip() for p in raw.split(",") if p.strip()]


def _strict() -> bool:
    return os.environ.get("MODELBUS_STRICT_PLUGINS", "").lower() in ("1", "true", "yes")


_lock = threading.Lock()
_cache: dict[tuple[tuple[str, ...] | None, tuple[str, ...]], LoadedPlugins] = {}


def load_plugins(
    allow: Iterable[str] | None = None, block: Iterable[str] = (), *, strict: bool | None = None
) -> LoadedPlugins:
    """Load built-ins and installed entry points, cached per (allow, block) per process.

    ``allow`` (when not ``None``) and ``block`` hold entry-point or distribution names;
    ``block`` also takes a built-in's name (``modelbus.builtins.caches``, as ``modelbus
    plugins`` lists it), which ``allow`` never drops. Env ``MODELBUS_PLUGINS`` replaces
    ``allow`` and ``MODELBUS_DISABLE_PLUGINS`` adds to ``block``.

    A plugin that fails (import, unknown hook name, a hook that raises, a name clash) is
    listed with its error and the rest load. With ``strict`` (default: env
    ``MODELBUS_STRICT_PLUGINS=1``) the first such failure raises :class:`PluginError`
    naming the plugin; a failing built-in always raises.
    """
    env_allow = _env_list("MODELBUS_PLUGINS")
    allow_t = (
        tuple(env_allow) if env_allow is not None else (tuple(allow) if allow is not None else None)
    )
    block_t = tuple(sorted({*block, *(_env_list("MODELBUS_DISABLE_PLUGINS") or [])}))
    key = (allow_t, block_t)
    with _lock:
        hit = _cache.get(key)
        if hit is None:
            hit = _cache[key] = _load(allow_t, block_t)
    if strict if strict is not None else _strict():
        raise_first_error(hit)
    return hit


def raise_first_error(loaded: LoadedPlugins) -> None:
    """Raise :class:`PluginError` for the first plugin listed with an error, if any."""
    for p in loaded.plugins:
        if p.error is not None:
            raise PluginError(
                f"plugin {p.name!r} (distribution {p.distribution!r}): {p.error}", plugin=p.name
            )


def reset_plugins() -> None:
    """Forget loaded plugins so the next client re-discovers them (tests, REPL)."""
    with _lock:
        _cache.clear()


class _Errors:
    """Errors by plugin name, in the order they happened, each logged as it is recorded."""

    def __init__(self, dist_of: dict[str, tuple[str | None, str | None]]) -> None:
        self.by_plugin: dict[str, list[str]] = {}
        self.dist_of = dist_of

    def add(self, plugin: str, msg: str, event: str, **kw: Any) -> None:
        found = self.by_plugin.setdefault(plugin, [])
        if msg not in found:
            found.append(msg)
            dist = self.dist_of.get(plugin, (None, None))[0]
            log.warning(event, plugin=plugin, distribution=dist, error=msg, **kw)

    def of(self, plugin: str) -> str | None:
        found = self.by_plugin.get(plugin)
        return "; ".join(found) if found else None


def _entry_points(
    allow: tuple[str, ...] | None, block: tuple[str, ...]
) -> tuple[list[metadata.EntryPoint], dict[str, list[metadata.EntryPoint]]]:
    """The entry points to load, and those whose name two distributions declare (name →
    one per distribution): those load neither, so that neither shadows the other."""
    by_name: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=hookspecs.PROJECT_NAME):
        dist = ep.dist.name if ep.dist is not None else None
        names = {ep.name, dist} - {None}
        if names & set(block) or (allow is not None and not names & set(allow)):
            continue
        same = by_name.setdefault(ep.name, [])
        # The same distribution visible twice on sys.path is one plugin.
        if not any((e.dist.name if e.dist is not None else None) == dist for e in same):
            same.append(ep)
    load = [eps[0] for eps in by_name.values() if len(eps) == 1]
    return load, {n: eps for n, eps in by_name.items() if len(eps) > 1}


def _load(allow: tuple[str, ...] | None, block: tuple[str, ...]) -> LoadedPlugins:
    import importlib

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    dist_of: dict[str, tuple[str | None, str | None]] = {}
    errors = _Errors(dist_of)
    builtin_names = {m for m in BUILTIN_PLUGINS if m not in block}
    for modname in BUILTIN_PLUGINS:
        if modname in builtin_names:
            pm.register(importlib.import_module(modname), name=modname)
            dist_of[modname] = ("modelbus", _version("modelbus"))

    load, twice = _entry_points(allow, block)
    for ep in load:
        dist_of[ep.name] = (ep.dist.name, ep.dist.version) if ep.dist else (None, None)
        try:
            pm.register(ep.load(), name=ep.name)
        except KeyboardInterrupt:
            raise
        # Any import-time failure of third-party code, sys.exit() included: a plugin
        # that exits ("needs python 4") must not end the program for every other app.
        except BaseException as exc:
            if pm.has_plugin(ep.name):  # half registered: pluggy adds hookimpls one by one
                pm.unregister(name=ep.name)
            errors.add(ep.name, f"{type(exc).__name__}: {exc}", "plugin_load_failed")
    _check_hook_names(pm, errors)
    registry = _registry_of(pm, builtin_names, errors)

    registered: dict[str, dict[str, list[str]]] = {}
    for kind in KINDS:
        for reg in registry.of_kind(kind):
            registered.setdefault(reg.plugin, {}).setdefault(kind, []).append(reg.name)
    infos = []
    for name in [*BUILTIN_PLUGINS, *(n for n in dist_of if n not in BUILTIN_PLUGINS)]:
        if name not in dist_of:
            continue  # a blocked built-in
        plugin = pm.get_plugin(name)
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or [])) if plugin else ()
        dist, version = dist_of[name]
        infos.append(
            PluginInfo(
                name,
                dist,
                version,
                hooks,
                registered.get(name, {}),
                errors.of(name),
                name in builtin_names,
            )
        )
    return LoadedPlugins(pm, registry, (*infos, *_declared_twice(twice)))


def _registry_of(pm: pluggy.PluginManager, builtin_names: set[str], errors: _Errors) -> Registry:
    """Call every ``modelbus_register_*`` implementation into one registry. Called impl
    by impl (registration order: built-ins first) so every name is tied to its plugin and
    one plugin's failure stays its own; a built-in's failure raises (a bug in modelbus)."""
    registry = Registry()
    for kind, hook_name in KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            plugin = impl.plugin_name
            is_builtin = plugin in builtin_names
            dist = errors.dist_of.get(plugin, (None, None))[0]
            failed: list[BaseException] = []
            try:
                impl.function(
                    register=registry.registrar(kind, plugin, dist, failed, builtin=is_builtin)
                )
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # sys.exit() in a hook is that plugin's failure too
                failed.append(PluginError(f"{type(exc).__name__}: {exc}", plugin=plugin))
            for err in failed:
                if isinstance(err, NameClash):
                    continue  # every claimant's error, recorded once all have registered
                if is_builtin:
                    raise err if isinstance(err, PluginError) else PluginError(str(err))
                errors.add(plugin, f"{hook_name}: {err}", "plugin_hook_failed", hook=hook_name)
    # A contested name is every claimant's error, not only the later ones'.
    for key, regs in registry.contested().items():
        hook_name = KINDS[key[0]]
        msg = f"{hook_name}: {registry.clash_error(key)}"
        for reg in regs:
            errors.add(reg.plugin, msg, "plugin_hook_failed", hook=hook_name)
    return registry


def _declared_twice(twice: dict[str, list[metadata.EntryPoint]]) -> list[PluginInfo]:
    """One listing per distribution of a plugin name several declare (either may be the
    one to block); none of them is loaded, so that neither shadows the other."""
    out = []
    for name, eps in twice.items():
        dists = [e.dist.name if e.dist is not None else None for e in eps]
        msg = (
            f"plugin name {name!r} is declared by {len(dists)} distributions: "
            f"{', '.join(repr(d) for d in dists)}; none of them is loaded until all but "
            "one are blocked or uninstalled"
        )
        log.warning("plugin_load_failed", plugin=name, distributions=dists, error=msg)
        for e in eps:
            dist, version = (e.dist.name, e.dist.version) if e.dist else (None, None)
            out.append(PluginInfo(name, dist, version, (), {}, msg))
    return out


def _check_hook_names(pm: pluggy.PluginManager, errors: _Errors) -> None:
    """Record a hookimpl whose name is no modelbus hook (``modelbus_register_provider``)
    as its plugin's error, with the likely intended hook; pluggy never calls such an
    implementation, and ``check_pending`` would fail the whole load for it."""
    known = _hook_names()
    for hook_name in sorted(vars(pm.hook)):
        caller = getattr(pm.hook, hook_name)
        if hook_name.startswith("_") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            close = difflib.get_close_matches(hook_name, known, n=1)
            errors.add(
                impl.plugin_name,
                f"unknown hook {hook_name!r}"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + f"; known hooks: {', '.join(known)}",
                "plugin_hook_failed",
                hook=hook_name,
            )


def _hook_names() -> list[str]:
    return sorted(n for n in dir(hookspecs) if n.startswith(hookspecs.PROJECT_NAME + "_"))


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def plugin_infos_json(loaded: LoadedPlugins) -> list[dict[str, Any]]:
    """The JSON shape of ``modelbus plugins --json``: one object per plugin."""
    return [attrs.asdict(p) for p in loaded.plugins]
