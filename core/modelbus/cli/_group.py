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
    from .._plugins.loading import LoadedPlugins
    from ..errors import PluginError

__all__ = ["BUILTIN_COMMANDS", "ModelbusGroup", "PluginCommands", "cli", "main", "plugin_commands"]

# name → (module, attribute); the modules import modelbus internals inside functions.
BUILTIN_COMMANDS: dict[str, tuple[str, str]] = {
    "batch": ("modelbus.cli.batch", "batch"),
    "cache": ("modelbus.cli.cache", "cache"),
    "chat": ("modelbus.cli.chat", "chat"),
    "config": ("modelbus.cli.config", "config"),
    "doctor": ("modelbus.cli.doctor", "doctor"),
    "logs": ("modelbus.cli.logs", "logs"),
    "models": ("modelbus.cli.models", "models"),
    "new-plugin": ("modelbus.cli.new_plugin", "new_plugin"),
    "plugins": ("modelbus.cli.plugins", "plugins"),
    "tokens": ("modelbus.cli.tokens", "tokens"),
}

_META_KEY = "modelbus.plugin_commands"


class PluginCommands:
    """Commands plugins added: ``commands`` name → (command, plugin name), ``contested``
    name → the error of a command several plugins add (none is used), and ``errors``
    plugin name → why some of its commands are missing (hook raised, name taken)."""

    __slots__ = ("commands", "contested", "errors")

    def __init__(self) -> None:
        self.commands: dict[str, tuple[click.Command, str]] = {}
        self.contested: dict[str, PluginError] = {}
        self.errors: dict[str, str] = {}

    def by_plugin(self, plugin: str) -> list[str]:
        return sorted(n for n, (_, p) in self.commands.items() if p == plugin)


def plugin_commands(loaded: LoadedPlugins, *, strict: bool | None = None) -> PluginCommands:
    """Call every plugin's ``modelbus_register_commands(cli)``, each on a group of its own.

    The clash rule is the registry's (:class:`modelbus._plugins.registry.Registry`), whatever
    the order plugins load in: a built-in command keeps its name and the plugin adding it
    too gets the error; a name several plugins add is none of theirs (running it is the
    error) and each of them gets the error. A hook that raises is its plugin's error. The
    other plugins' commands still load; with ``strict`` (default: env
    ``MODELBUS_STRICT_PLUGINS=1``) the first error raises :class:`PluginError` instead."""
    from .._plugins.loading import _strict
    from .._plugins.registry import plugins_clash
    from ..errors import PluginError

    hook = "modelbus_register_commands"
    dists = {p.name: p.distribution for p in loaded.plugins}
    problems: dict[str, list[str]] = {}
    claims: dict[str, list[tuple[click.Command, str]]] = {}
    for impl in loaded.pm.hook.modelbus_register_commands.get_hookimpls():
        plugin = impl.plugin_name
        staging = click.Group(plugin)
        try:
            impl.function(cli=staging)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # third-party code (sys.exit() too): by name, keep the rest
            problems.setdefault(plugin, []).append(f"{hook}: {type(exc).__name__}: {exc}")
        for name, cmd in staging.commands.items():
            if name in BUILTIN_COMMANDS:
                problems.setdefault(plugin, []).append(
                    f"command {name!r} is a built-in command of modelbus, so "
                    f"{dists.get(plugin) or plugin!r}'s is not used (built-in commands "
                    "are not plugins and are never replaced: rename the plugin's command)"
                )
            else:
                claims.setdefault(name, []).append((cmd, plugin))
    out = PluginCommands()
    for name, found in claims.items():
        if len(found) == 1:
            out.commands[name] = found[0]
            continue
        err = plugins_clash(f"command {name!r}", [dists.get(p) or p for _, p in found], hook=hook)
        out.contested[name] = err
        for _, plugin in found:
            problems.setdefault(plugin, []).append(str(err))
    out.errors = {plugin: "; ".join(msgs) for plugin, msgs in problems.items()}
    if out.errors and (strict if strict is not None else _strict()):
        plugin, msg = next(iter(out.errors.items()))
        raise PluginError(
            f"plugin {plugin!r} (distribution {dists.get(plugin)!r}): {msg}",
            plugin=plugin,
            hook=hook,
        )
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
        added = self._plugin_commands(ctx)
        contested = added.contested.get(cmd_name)
        if contested is not None:
            raise contested
        entry = added.commands.get(cmd_name)
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
