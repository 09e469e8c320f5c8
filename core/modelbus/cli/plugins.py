"""``modelbus plugins``: every plugin, its hooks, what it registered, and its errors."""

from __future__ import annotations

from typing import Any

import click

from ._common import config_option, echo_json, load_config, plugins_for, table

__all__ = ["plugin_rows", "plugins"]


def plugin_rows(config_path: str | None) -> list[dict[str, Any]]:
    """One dict per plugin (built-ins first): ``name``, ``distribution``, ``version``,
    ``hooks`` (hook names implemented), ``registered`` (kind → names), ``commands``
    (CLI commands added), ``error`` (``None``, or why it failed to load, register or add
    commands) and ``builtin``."""
    from .._plugins import plugin_infos_json
    from ._group import plugin_commands

    loaded = plugins_for(load_config(config_path))
    cmds = plugin_commands(loaded)
    rows = plugin_infos_json(loaded)
    for row in rows:
        row["commands"] = cmds.by_plugin(row["name"])
        extra = cmds.errors.get(row["name"])
        if extra is not None:
            row["error"] = extra if row["error"] is None else f"{row['error']}; {extra}"
    return rows


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per plugin.")
@config_option
def plugins(as_json: bool, config_path: str | None) -> None:
    """List plugins: distribution, version, hooks, registered names and load errors.

    Uses the config's [modelbus.plugins] allow/block lists and MODELBUS_PLUGINS /
    MODELBUS_DISABLE_PLUGINS. A plugin that failed is listed with its error; exit status
    is still 0 (MODELBUS_STRICT_PLUGINS=1 makes such a failure an error, status 2).
    """
    rows = plugin_rows(config_path)
    if as_json:
        echo_json(rows)
        return
    table(
        ("plugin", "distribution", "version", "registered", "error"),
        (
            (
                r["name"],
                r["distribution"],
                r["version"],
                "; ".join(
                    [f"{kind}: {', '.join(names)}" for kind, names in r["registered"].items()]
                    + ([f"commands: {', '.join(r['commands'])}"] if r["commands"] else [])
                ),
                r["error"] or "",
            )
            for r in rows
        ),
    )
