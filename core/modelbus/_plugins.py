"""Plugin discovery: entry points of group ``modelbus``, loaded one by one, once per process.

A plugin that fails to import, or whose hook raises, is recorded with its distribution
name and error and the rest keep working; ``MODELBUS_STRICT_PLUGINS=1`` turns such
failures into :class:`PluginError`. Core built-ins are registered first, like pytest's,
and cannot be blocked.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import attrs
import pluggy

from . import hookspecs
from ._logging import get_logger
from ._registry import KINDS, Registry
from .errors import PluginError

log = get_logger("modelbus.plugins")

BUILTIN_PLUGINS = (
    "modelbus.builtins.caches",
    "modelbus.builtins.retry",
    "modelbus.builtins.ratelimit",
    "modelbus.builtins.budget",
    "modelbus.builtins.tokens",
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


def load_plugins(allow: Iterable[str] | None = None, block: Iterable[str] = ()) -> LoadedPlugins:
    """Load built-ins and installed entry points, cached per (allow, block) per process.

    ``allow`` (when not ``None``) and ``block`` hold entry-point or distribution names;
    env ``MODELBUS_PLUGINS`` replaces ``allow`` and ``MODELBUS_DISABLE_PLUGINS`` adds to
    ``block``. Raises :class:`PluginError` only under ``MODELBUS_STRICT_PLUGINS=1``, for a
    misspelled hookimpl (``check_pending``) or for one entry-point name declared by two
    distributions. A name two plugins register is recorded as the later one's error and
    raises when used (:meth:`Registry.get`).
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
        return hit


def reset_plugins() -> None:
    """Forget loaded plugins so the next client re-discovers them (tests, REPL)."""
    with _lock:
        _cache.clear()


def _load(allow: tuple[str, ...] | None, block: tuple[str, ...]) -> LoadedPlugins:
    import importlib

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    dist_of: dict[str, tuple[str | None, str | None]] = {}
    load_errors: dict[str, str] = {}
    builtin_names = set(BUILTIN_PLUGINS)
    for modname in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(modname), name=modname)
        dist_of[modname] = ("modelbus", _version("modelbus"))

    strict = _strict()
    seen: dict[str, str | None] = {}
    for ep in metadata.entry_points(group=hookspecs.PROJECT_NAME):
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        names = {ep.name, dist} - {None}
        if names & set(block) or (allow is not None and not names & set(allow)):
            continue
        if ep.name in seen:
            if seen[ep.name] == dist:  # the same dist visible twice on sys.path
                continue
            # Two distributions claim one plugin name: neither may shadow the other.
            raise PluginError(
                f"plugin name {ep.name!r} is declared by two distributions: "
                f"{seen[ep.name]!r} and {dist!r}; block or uninstall one of them",
                plugin=ep.name,
            )
        seen[ep.name] = dist
        dist_of[ep.name] = (dist, version)
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # any import-time failure of third-party code
            msg = f"{type(exc).__name__}: {exc}"
            load_errors[ep.name] = msg
            log.warning("plugin_load_failed", plugin=ep.name, distribution=dist, error=msg)
            if strict:
                raise PluginError(
                    f"plugin {ep.name!r} (distribution {dist!r}) failed to load: {msg}",
                    plugin=ep.name,
                ) from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(
            f"plugin {name!r} (distribution {dist_of.get(name, (None,))[0]!r}): {exc}; "
            f"known hooks: {', '.join(_hook_names())}",
            plugin=name,
        ) from exc

    registry = Registry()
    registered: dict[str, dict[str, list[str]]] = {}
    for kind, hook_name in KINDS.items():
        hook = getattr(pm.hook, hook_name)
        # Called impl by impl (first-registered first) so every name is tied to its plugin.
        for impl in hook.get_hookimpls():
            dist, _ = dist_of.get(impl.plugin_name, (None, None))
            errors: list[BaseException] = []
            try:
                impl.function(register=registry.registrar(kind, impl.plugin_name, dist, errors))
            except Exception as exc:
                errors.append(
                    PluginError(
                        f"{type(exc).__name__}: {exc}", plugin=impl.plugin_name, hook=hook_name
                    )
                )
            for err in errors:
                msg = f"{hook_name}: {err}"
                load_errors[impl.plugin_name] = msg
                log.warning(
                    "plugin_hook_failed", plugin=impl.plugin_name, hook=hook_name, error=str(err)
                )
                if strict or impl.plugin_name in builtin_names:
                    raise err if isinstance(err, PluginError) else PluginError(msg)
        for reg in registry.of_kind(kind):
            registered.setdefault(reg.plugin, {}).setdefault(kind, []).append(reg.name)

    infos = []
    for name in [*BUILTIN_PLUGINS, *(n for n in dist_of if n not in builtin_names)]:
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
                load_errors.get(name),
                name in builtin_names,
            )
        )
    return LoadedPlugins(pm, registry, tuple(infos))


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
