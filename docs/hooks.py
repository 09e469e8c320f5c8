"""MkDocs hooks (``hooks:`` in mkdocs.yml): the generated reference pages.

At build time the reference of the hookspecs, of every settings class (the core's and
those the installed plugins register) and of every command is made from the code, so a
new hook, settings field or command shows up without editing the docs. The meta-tests
(``tests/core/test_meta.py``) call :func:`reference_pages` too.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

# The tutorial's example plugins: its page shows their code; they are not part of the project.
EXCLUDED_DISTRIBUTIONS = ("modelbus-echo", "modelbus-messages")

HOOKSPECS_PAGE = "reference/hookspecs.md"
SETTINGS_PAGE = "reference/settings.md"
CLI_PAGE = "reference/cli.md"
EVENTS_PAGE = "reference/events.md"

_HOOKSPECS_INTRO = """\
# Hook specifications

modelbus is built on [pluggy](https://pluggy.readthedocs.io). A plugin is a module (or
object) with functions named like the hooks below and decorated with
`modelbus.hookimpl`, found through its distribution's entry point in the group
`modelbus`:

```toml
[project.entry-points.modelbus]
echo = "modelbus_echo"
```

The hooks only *register* things; the call path never goes through pluggy. A registered
object implements one of the protocols of `modelbus.protocols`; its settings class is
what the config section of the same kind and name is structured into (see the
[settings reference](settings.md)).

| hook | registers | config section | object returned by the factory |
|---|---|---|---|
"""


def hookspec_names() -> list[str]:
    """The hook names pluggy finds in :mod:`modelbus.hookspecs`, in source order."""
    import pluggy

    from modelbus import hookspecs

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    found = set(vars(pm.hook))
    in_source = [n for n, _ in inspect.getmembers(hookspecs, inspect.isfunction) if n in found]
    return sorted(in_source, key=lambda n: inspect.getsourcelines(getattr(hookspecs, n))[1])


# What a factory returns where the hook's docstring names no single protocol.
_NOT_PROTOCOLS = {
    "modelbus_register_providers": "`modelbus.protocols.SyncProvider` and/or `AsyncProvider`",
    "modelbus_register_tools": "the tool function itself (typed, with a docstring)",
    "modelbus_register_commands": "— (adds click commands to the `cli` group it gets)",
    "modelbus_register_catalog": "a catalog entry dict (context window, prices...)",
    "modelbus_register_doctor_checks": "`check(provider)` returning `(what, ok, detail)` rows",
    "modelbus_register_templates": "the path of a template TOML file",
}


def _protocol_of(hook: str) -> str:
    from modelbus import hookspecs

    if hook in _NOT_PROTOCOLS:
        return _NOT_PROTOCOLS[hook]
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    found = re.findall(r":class:`modelbus\.protocols\.(\w+)`", doc)
    return " / ".join(f"`modelbus.protocols.{n}`" for n in found) or "see the hook"


def hookspecs_markdown() -> str:
    from modelbus._plugins.registry import KINDS

    kind_of = {hook: kind for kind, hook in KINDS.items()}
    rows = []
    for name in hookspec_names():
        kind = kind_of.get(name)
        section = f"`[{kind}.NAME]`" if kind in _SECTIONS else "—"
        what = kind.replace("_", " ") if kind else "CLI commands"
        rows.append(
            f"| [`{name}`](#modelbus.hookspecs.{name}) | {what} | {section} | "
            f"{_protocol_of(name)} |"
        )
    members = "\n".join(f"        - {n}" for n in hookspec_names())
    return (
        _HOOKSPECS_INTRO
        + "\n".join(rows)
        + "\n\n::: modelbus.hookspecs\n    options:\n      show_root_heading: false\n"
        + "      heading_level: 2\n      members:\n"
        + members
        + "\n"
    )


_SECTIONS = (
    "providers",
    "caches",
    "retry_policies",
    "token_counters",
    "rate_limiters",
    "observers",
)

_SETTINGS_INTRO = """\
# Settings reference

Every table of `modelbus.toml`, made from the settings classes themselves: the core's,
and those the installed plugins registered (`modelbus plugins` lists them). Unknown keys
are errors, and so are values of the wrong type: `"5"` is not an `int`, `"yes"` is not a
`bool` (`modelbus config check` names the key, the file and the accepted keys).

Types: `str` is a TOML string, `int`/`float` numbers, `bool` `true`/`false`, `list[...]`
an array, `dict[...]` an inline table or a sub-table. A `Secret` is written
`{ env = "NAME" }` (read from the environment when the client is built) or
`{ file = "PATH" }` (the file's contents, stripped; relative to the config file); a plain
string works too but is discouraged. A default shown as `$NAME` is read from that
environment variable when the client is built. *unset* means the key is absent (TOML has
no null).

"""

_CLI_INTRO = """\
# Command line

`modelbus` is installed with the core distribution (also `python -m modelbus.cli`).
Below is each command's `--help`, as rendered by click, including the commands the
installed plugins add (marked with their plugin). Exit status: 0 ok, 1 provider or
runtime error, 2 usage, config or plugin error.

"""


_EVENTS_INTRO = """\
# Call events

What an observer plugin (`modelbus_register_observers`, see the
[hook specifications](hookspecs.md)) receives for every call, made from the event classes
of `modelbus.events`. The [observability guide](../how-to/observability.md) shows an
observer and the OpenTelemetry plugin built on them.

| event | fields | when |
|---|---|---|
"""


def events_markdown() -> str:
    """The call events reference: a table of every event class and its fields, then
    each class rendered by mkdocstrings."""
    import attrs

    from modelbus import events
    from modelbus._config.settings_docs import one_line, rst_to_markdown

    classes = [getattr(events, n) for n in events.__all__ if attrs.has(getattr(events, n))]
    classes.sort(key=lambda c: inspect.getsourcelines(c)[1])  # the order calls emit them
    rows, members = [], []
    for cls in classes:
        name = cls.__name__
        fields = ", ".join(f"`{f.name}`" for f in attrs.fields(cls))
        doc = one_line(rst_to_markdown((inspect.getdoc(cls) or "").split("\n\n")[0]))
        rows.append(f"| [`{name}`](#modelbus.events.{name}) | {fields} | {doc} |")
        members.append(f"        - {name}")
    return (
        _EVENTS_INTRO
        + "\n".join(rows)
        + "\n\n::: modelbus.events\n    options:\n      show_root_heading: false\n"
        + "      heading_level: 2\n      members:\n"
        + "\n".join(members)
        + "\n"
    )


def reference_pages() -> dict[str, str]:
    """Path under ``docs/`` → Markdown of each generated reference page."""
    from modelbus import load_plugins
    from modelbus._config.reference import settings_docs, settings_markdown
    from modelbus.cli._docs import cli_markdown, command_docs

    loaded = load_plugins()
    failed = [p for p in loaded.plugins if p.error]
    if failed:
        raise RuntimeError(
            "plugins failed to load, the reference would miss what they register: "
            + "; ".join(f"{p.name} ({p.distribution}): {p.error}" for p in failed)
        )
    docs = settings_docs(loaded.registry, EXCLUDED_DISTRIBUTIONS)
    commands = [
        c
        for c in command_docs(loaded)
        if c.plugin is None
        or next((p.distribution for p in loaded.plugins if p.name == c.plugin), None)
        not in EXCLUDED_DISTRIBUTIONS
    ]
    return {
        HOOKSPECS_PAGE: hookspecs_markdown(),
        SETTINGS_PAGE: _SETTINGS_INTRO + settings_markdown(docs),
        CLI_PAGE: _CLI_INTRO + cli_markdown(commands),
        EVENTS_PAGE: events_markdown(),
    }


# --- MkDocs event handlers ----------------------------------------------------------
def on_config(config: Any) -> Any:
    """Add the benchmarks page to the nav when it exists (another part of the project
    writes it; the site builds without it)."""
    docs_dir = Path(config["docs_dir"])
    if (docs_dir / "benchmarks.md").is_file():
        nav = config["nav"]
        if not any(isinstance(i, dict) and "Benchmarks" in i for i in nav):
            nav.insert(len(nav) - 1, {"Benchmarks": "benchmarks.md"})
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for path, content in reference_pages().items():
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=content))
    return files
