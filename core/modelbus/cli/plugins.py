"""``modelbus plugins``: every plugin, its hooks, what it registered, and its errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ._common import config_option, echo_json, load_config, report_error, table

if TYPE_CHECKING:
    from .._config.config import Config
    from .._plugins.registry import Registry

__all__ = ["plugin_rows", "plugins"]


def plugin_rows(config_path: str | None) -> list[dict[str, Any]]:
    """One dict per plugin (built-ins first): ``name``, ``distribution``, ``version``,
    ``hooks`` (hook names implemented), ``registered`` (kind → names), ``instances``
    (``{"providers": {instance: provider}}``: the config's named instances of the
    providers it registered, ``[providers.NAME] use = "..."``), ``commands``
    (CLI commands added), ``error`` (``None``, or why it failed to load, register, add
    commands, or start a token counter or response-format handler: the kinds every client
    starts) and ``builtin``."""
    from .._plugins.loading import load_plugins, plugin_infos_json
    from ._group import plugin_commands

    cfg = load_config(config_path)
    # Never strict here: the listing is how a failing plugin is found.
    loaded = load_plugins(cfg.modelbus.plugins.allow, cfg.modelbus.plugins.block, strict=False)
    cmds = plugin_commands(loaded, strict=False)
    rows = plugin_infos_json(loaded)
    started = _start_failures(loaded.registry, cfg)
    for row in rows:
        mine = row["registered"].get("providers", [])
        used = {name: p for name, p in cfg.instances.items() if p in mine}
        row["instances"] = {"providers": used} if used else {}
        row["commands"] = cmds.by_plugin(row["name"])
        for extra in (*started.get(row["name"], ()), cmds.errors.get(row["name"])):
            if extra is not None:
                row["error"] = extra if row["error"] is None else f"{row['error']}; {extra}"
    return rows


# The kinds every client starts all of (the others start only when configured or named
# in a call, which ``modelbus doctor`` and the call itself report).
_STARTED_BY_EVERY_CLIENT = ("token_counters", "response_formats")


def _start_failures(registry: Registry, cfg: Config) -> dict[str, list[str]]:
    """Plugin name → the errors of its factories that every client would start."""
    from .._plugins.registry import start
    from ..errors import ConfigError, PluginError

    out: dict[str, list[str]] = {}
    for kind in _STARTED_BY_EVERY_CLIENT:
        for reg in registry.of_kind(kind):
            if reg.builtin:
                continue
            try:
                start(reg, cfg)
            except (ConfigError, PluginError) as exc:
                out.setdefault(reg.plugin, []).append(str(exc))
    return out


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per plugin.")
@config_option
def plugins(as_json: bool, config_path: str | None) -> None:
    """List plugins: distribution, version, hooks, registered names and load errors.

    Uses the config's [modelbus.plugins] allow/block lists and MODELBUS_PLUGINS /
    MODELBUS_DISABLE_PLUGINS. A plugin that failed is listed with its error; exit status
    is still 0 (with MODELBUS_STRICT_PLUGINS=1 the listing is printed all the same, then
    the first failure is reported on stderr and the status is 2).
    """
    rows = plugin_rows(config_path)
    if as_json:
        echo_json(rows)
    else:
        _print_table(rows)
    from .._plugins.loading import _strict

    failed = [r for r in rows if r["error"] is not None]
    if failed and _strict():
        from ..errors import PluginError

        first = failed[0]
        report_error(
            PluginError(
                f"{len(failed)} plugin(s) failed (MODELBUS_STRICT_PLUGINS is set); first: "
                f"plugin {first['name']!r} (distribution {first['distribution']!r}): "
                f"{first['error']}",
                plugin=first["name"],
            )
        )


def _print_table(rows: list[dict[str, Any]]) -> None:
    table(
        ("plugin", "distribution", "version", "registered", "error"),
        (
            (
                r["name"],
                r["distribution"],
                r["version"],
                "; ".join(
                    [f"{kind}: {', '.join(names)}" for kind, names in r["registered"].items()]
                    + [
                        f"instances: {', '.join(f'{i} ({p})' for i, p in names.items())}"
                        for names in r["instances"].values()
                    ]
                    + ([f"commands: {', '.join(r['commands'])}"] if r["commands"] else [])
                ),
                r["error"] or "",
            )
            for r in rows
        ),
    )
