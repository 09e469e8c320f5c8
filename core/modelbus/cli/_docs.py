"""The command-line reference: every ``modelbus`` command, built-in or added by a plugin,
with the ``--help`` text click renders for it.

Used by the documentation build (``docs/hooks.py``) and the meta-tests, so the reference
is the help itself and a new command or option appears without editing the docs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import attrs
import click

if TYPE_CHECKING:
    from .._plugins.loading import LoadedPlugins

__all__ = ["CommandDoc", "cli_markdown", "command_anchor", "command_docs"]

# The width of the rendered help: what a 100-column terminal shows.
HELP_WIDTH = 100


@attrs.frozen
class CommandDoc:
    """One command: its ``path`` (``("config", "check")``), the click ``command``, the
    ``plugin`` that added it (``None`` for built-ins) and its rendered ``help`` text."""

    path: tuple[str, ...]
    command: click.Command
    plugin: str | None
    help: str

    @property
    def name(self) -> str:
        """The command line that runs it: ``modelbus config check``."""
        return " ".join(("modelbus", *self.path))


def command_anchor(path: tuple[str, ...]) -> str:
    """The heading id of a command in the reference: ``modelbus-config-check``."""
    return re.sub(r"[^a-z0-9]+", "-", " ".join(("modelbus", *path)).lower()).strip("-")


def _context(cmd: click.Command, name: str, parent: click.Context | None) -> click.Context:
    settings = {
        "terminal_width": HELP_WIDTH,
        "max_content_width": HELP_WIDTH,
        **cmd.context_settings,
    }
    return click.Context(cmd, info_name=name, parent=parent, **settings)


def _walk(
    cmd: click.Command, path: tuple[str, ...], parent: click.Context, plugin: str | None
) -> Iterator[CommandDoc]:
    ctx = _context(cmd, path[-1], parent)
    yield CommandDoc(path, cmd, plugin, cmd.get_help(ctx))
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.list_commands(ctx)):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _walk(sub, (*path, name), ctx, plugin)


def command_docs(loaded: LoadedPlugins | None = None) -> list[CommandDoc]:
    """Every command: ``modelbus`` itself, its built-in commands and sub-commands, then
    those the plugins in ``loaded`` add (default :func:`modelbus.load_plugins`). A plugin
    whose commands failed to load is a :class:`~modelbus.errors.PluginError` here: a
    reference silently missing a command would be wrong."""
    from .._plugins.loading import load_plugins
    from ..errors import PluginError
    from ._group import cli, plugin_commands

    loaded = loaded if loaded is not None else load_plugins()
    added = plugin_commands(loaded)
    if added.errors:
        raise PluginError("; ".join(f"plugin {p!r}: {e}" for p, e in sorted(added.errors.items())))
    root = _context(cli, "modelbus", None)
    docs = [CommandDoc((), cli, None, cli.get_help(root))]
    for name in cli.list_commands(root):
        sub = cli.get_command(root, name)
        if sub is not None:
            docs += _walk(sub, (name,), root, None)
    for name, (sub, plugin) in sorted(added.commands.items()):
        docs += _walk(sub, (name,), root, plugin)
    return docs


def cli_markdown(docs: list[CommandDoc]) -> str:
    """The Markdown of the CLI reference: a heading per command (``modelbus chat``...)
    and its ``--help`` as click renders it."""
    out: list[str] = []
    for d in docs:
        level = "#" * min(2 + max(len(d.path) - 1, 0), 4)
        origin = f" (from plugin `{d.plugin}`)" if d.plugin and len(d.path) == 1 else ""
        out += [
            f"{level} `{d.name}`{origin} {{ #{command_anchor(d.path)} }}",
            "",
            "```text",
            d.help.rstrip(),
            "```",
            "",
        ]
    return "\n".join(out)
