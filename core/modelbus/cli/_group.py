"""The top ``modelbus`` group: built-in commands imported on demand, plugin commands,
error reporting and logging set-up.

Built-in commands live in their own modules, imported only when run or listed, so
``modelbus chat --help`` imports neither the other commands nor any plugin. Commands
from plugins (hook ``modelbus_register_commands``) need the plugins loaded: that happens
only for a command name that is not built in (and for shell completion), never for
``modelbus --help``.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from ._common import CliState, report_error

if TYPE_CHECKING:
    from .._plugins import LoadedPlugins

__all__ = ["BUILTIN_COMMANDS", "ModelbusGroup", "PluginCommands", "cli", "main", "plugin_commands"]

# name → (module, attribute); the modules import modelbus internals inside functions.
BUILTIN_COMMANDS: dict[str, tuple[str, str]] = {
    "batch": ("modelbus.cli.batch", "batch"),
    "cache": ("modelbus.cli.cache", "cache"),
    "chat": ("modelbus.cli.chat", "chat"),
    "config": ("modelbus.cli.config", "config"),
    "doctor": ("modelbus.cli.doctor", "doctor"),
    "models": ("modelbus.cli.models", "models"),
    "new-plugin": ("modelbus.cli.new_plugin", "new_plugin"),
    "plugins": ("modelbus.cli.plugins", "plugins"),
    "tokens": ("modelbus.cli.tokens", "tokens"),
}

_META_KEY = "modelbus.plugin_commands"


class PluginCommands:
    """Commands plugins added: ``commands`` name → (command, plugin name), and
    ``errors`` plugin name → why its commands are missing (hook raised, name taken)."""

    __slots__ = ("commands", "errors")

    def __init__(self) -> None:
        self.commands: dict[str, tuple[click.Command, str]] = {}
        self.errors: dict[str, str] = {}

    def by_plugin(self, plugin: str) -> list[str]:
        return sorted(n for n, (_, p) in self.commands.items() if p == plugin)


def plugin_commands(loaded: LoadedPlugins) -> PluginCommands:
    """Call every plugin's ``modelbus_register_commands(cli)``, each on a group of its own.

    A plugin whose hook raises, or that adds a name already taken (by a built-in or an
    earlier plugin), is recorded in ``errors`` and the others still load; under
    ``MODELBUS_STRICT_PLUGINS=1`` that raises :class:`PluginError` instead."""
    from .._plugins import _strict
    from ..errors import PluginError

    out = PluginCommands()
    strict = _strict()
    dists = {p.name: p.distribution for p in loaded.plugins}
    # pluggy lists implementations last-registered first; registration order reads better.
    for impl in reversed(loaded.pm.hook.modelbus_register_commands.get_hookimpls()):
        plugin = impl.plugin_name
        staging = click.Group(plugin)
        problems: list[str] = []
        try:
            impl.function(cli=staging)
        except Exception as exc:  # third-party code: report it by name, keep the rest
            problems.append(f"modelbus_register_commands: {type(exc).__name__}: {exc}")
        for name, cmd in staging.commands.items():
            owner = (
                "modelbus (built-in)"
                if name in BUILTIN_COMMANDS
                else out.commands[name][1]
                if name in out.commands
                else None
            )
            if owner is not None:
                problems.append(f"command {name!r} is already provided by {owner!r}")
                continue
            out.commands[name] = (cmd, plugin)
        if problems:
            msg = "; ".join(problems)
            if strict:
                raise PluginError(
                    f"plugin {plugin!r} (distribution {dists.get(plugin)!r}): {msg}",
                    plugin=plugin,
                    hook="modelbus_register_commands",
                )
            out.errors[plugin] = msg
    return out


class ModelbusGroup(click.Group):
    """A click group whose built-in commands are imported on demand and whose plugin
    commands are loaded on first need; a :class:`ModelbusError` raised by any command is
    printed as one paragraph (see :func:`report_error`)."""

    def _plugin_commands(self, ctx: click.Context) -> PluginCommands:
        meta = ctx.find_root().meta
        found: PluginCommands | None = meta.get(_META_KEY)
        if found is None:
            from ._common import load_config, plugins_for

            found = plugin_commands(plugins_for(load_config(None)))
            for plugin, err in found.errors.items():
                click.echo(f"modelbus: plugin {plugin!r} could not add commands: {err}", err=True)
            meta[_META_KEY] = found
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in commands; plugin commands too only for shell completion. ``modelbus
        --help`` does not load plugins: a plugin's import (a provider SDK) can cost
        hundreds of milliseconds. ``modelbus plugins`` lists their commands."""
        names = {*BUILTIN_COMMANDS, *self.commands}
        if ctx.resilient_parsing:
            from ..errors import ModelbusError

            # Completion must not fail; running the command reports the error.
            with contextlib.suppress(ModelbusError):
                names.update(self._plugin_commands(ctx).commands)
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = self.commands.get(cmd_name)
        if cmd is not None:
            return cmd
        target = BUILTIN_COMMANDS.get(cmd_name)
        if target is not None:
            found: click.Command = getattr(importlib.import_module(target[0]), target[1])
            return found
        entry = self._plugin_commands(ctx).commands.get(cmd_name)
        return entry[0] if entry is not None else None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            # Before any plugin can log (``--help`` lists plugin commands while parsing):
            # events go to stderr at warning level, never to stdout.
            from .._logging import setup_default_logging

            setup_default_logging(None, None)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        from ..errors import ModelbusError

        try:
            return super().invoke(ctx)
        except ModelbusError as exc:
            report_error(exc)


@click.group(
    cls=ModelbusGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Plugins add more commands: `modelbus plugins` lists them. Commands take "
    "--config PATH (else $MODELBUS_CONFIG, ./modelbus.toml, then modelbus.toml in the user "
    "config dir). Exit status: 0 ok, 1 provider or runtime error, 2 usage, config or "
    "plugin error.",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="MODELBUS_DEBUG",
    help="Show tracebacks for errors (also MODELBUS_DEBUG=1).",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log more on stderr: -v info (one modelbus.call event per call), -vv debug.",
)
@click.option("--log-json", is_flag=True, help="Log events as JSON lines on stderr.")
@click.version_option(__version__, "-V", "--version", prog_name="modelbus")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int, log_json: bool) -> None:
    """modelbus: one client for many LLM providers, composed from plugins and config."""
    from .._logging import configure_logging

    level = None if verbose == 0 else "info" if verbose == 1 else "debug"
    fmt = "json" if log_json else None
    ctx.obj = CliState(debug, fmt, level)
    if fmt or level:
        configure_logging(fmt or "console", level or "warning")


def main(argv: list[str] | None = None) -> None:
    """The ``modelbus`` console script."""
    cli.main(args=argv, prog_name="modelbus")
