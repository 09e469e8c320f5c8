"""Meta-tests (as datasette has): the documentation and the tests keep up with the code.

- every hookspec is in the hookspecs reference and some test drives it through a plugin;
- every settings field of the core and of the installed plugins is in the settings
  reference, with a description;
- every command's ``--help`` renders and the command is in the CLI reference;
- the docs' code examples hold: Python blocks compile, ``modelbus.toml`` blocks are
  accepted by the installed plugins' settings classes, ``modelbus ...`` command lines
  name real commands, and the tutorial shows the example plugin's real code.

The reference pages are built by calling the same generator the MkDocs hook uses
(``docs/hooks.py``); CI also runs ``mkdocs build --strict``.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import tomllib
import typing
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import click
import pluggy
import pytest
from click.testing import CliRunner

import modelbus
from modelbus import hookspecs
from modelbus._config.config import Config, CoreSettings, ModelAlias, RateLimit
from modelbus._plugins.registry import KINDS
from modelbus._routing.instances import with_instances
from modelbus.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("modelbus_docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


hooks = _load_hooks()


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    modelbus.reset_plugins()
    return hooks.reference_pages()  # type: ignore[no-any-return]


def _spec_names() -> list[str]:
    """Hook names as pluggy sees them (independent of the docs generator)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return sorted(n for n in vars(pm.hook) if n.startswith("modelbus_"))


# --- hookspecs ---------------------------------------------------------------------
def test_there_are_hookspecs_and_every_registry_kind_has_one() -> None:
    names = _spec_names()
    assert len(names) >= 10
    assert set(KINDS.values()) <= set(names)


@pytest.mark.parametrize("name", _spec_names())
def test_every_hookspec_is_in_the_reference(pages: dict[str, str], name: str) -> None:
    page = pages[hooks.HOOKSPECS_PAGE]
    assert "::: modelbus.hookspecs" in page
    assert f"        - {name}\n" in page, f"{name} is not rendered by mkdocstrings"
    assert f"[`{name}`]" in page, f"{name} is missing from the hook table"
    doc = getattr(hookspecs, name).__doc__
    assert doc and doc.strip(), f"{name} has no docstring for the reference"


def _test_sources() -> dict[Path, str]:
    files = [*ROOT.joinpath("tests").rglob("*.py"), *DOCS.joinpath("examples").rglob("*.py")]
    return {p: p.read_text(encoding="utf-8") for p in files if "/build/" not in str(p)}


@pytest.mark.parametrize("name", _spec_names())
def test_every_hookspec_is_called_through_a_plugin_in_some_test(name: str) -> None:
    impl = re.compile(rf"def {name}\(")
    found = [p for p, src in _test_sources().items() if impl.search(src)]
    assert found, (
        f"no test implements {name} in a plugin: add one (see "
        "tests/core/test_hooks_through_plugins.py)"
    )


def test_every_call_event_is_in_the_events_reference(pages: dict[str, str]) -> None:
    from modelbus import events

    page = pages[hooks.EVENTS_PAGE]
    assert "::: modelbus.events" in page
    for name in events.__all__:
        if attrs.has(getattr(events, name)):
            assert f"        - {name}\n" in page and f"[`{name}`]" in page, name


# --- settings ----------------------------------------------------------------------
def _cells(text: str) -> list[str]:
    """Table cells split at ``|`` outside code spans and not escaped."""
    cells, cur, code, prev = [], "", False, ""
    for ch in text:
        if ch == "`":
            code = not code
        if ch == "|" and not code and prev != "\\":
            cells.append(cur.strip())
            cur = ""
        else:
            cur += ch
        prev = ch
    return [*cells, cur.strip()]


def _sections(page: str) -> dict[str, dict[str, list[str]]]:
    """Section header → {key: [type, default, description]} parsed from the page."""
    out: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in page.splitlines():
        m = re.match(r"### `(\[[^`]*)`", line)
        if m:
            current = out.setdefault(m.group(1).split(" / ")[0], {})
            continue
        row = re.match(r"\| `([^`]+)` \| (.*) \|$", line)
        if row and current is not None:
            current[row.group(1)] = _cells(row.group(2))
    return out


def _keys(cls: type) -> list[str]:
    return [a.alias or a.name for a in attrs.fields(cls)]


def _expected_settings() -> dict[str, type]:
    """Section → settings class, found without the generator: the core's classes and
    every registration of the installed plugins (the tutorial's example excluded)."""
    expected: dict[str, type] = {
        "[modelbus]": CoreSettings,
        "[models.NAME]": ModelAlias,
        '[rate_limits."provider"]': RateLimit,
    }
    for key, tp in typing.get_type_hints(CoreSettings).items():
        if isinstance(tp, type) and attrs.has(tp):
            expected[f"[modelbus.{key}]"] = tp
    loaded = modelbus.load_plugins()
    assert not [p for p in loaded.plugins if p.error], [p.error for p in loaded.plugins]
    for kind in KINDS:
        for reg in loaded.registry.of_kind(kind):
            if reg.settings is not None and reg.origin not in hooks.EXCLUDED_DISTRIBUTIONS:
                expected[f"[{kind}.{reg.name}]"] = reg.settings
    return expected


def test_every_settings_class_and_field_is_in_the_reference(pages: dict[str, str]) -> None:
    documented = _sections(pages[hooks.SETTINGS_PAGE])
    expected = _expected_settings()
    assert {"[modelbus.plugins]", "[modelbus.retry_budget]", "[caches.memory]"} <= set(expected)
    for section, cls in expected.items():
        assert section in documented, f"{section} ({cls.__qualname__}) is not documented"
        assert list(documented[section]) == _keys(cls), section


def test_every_settings_field_has_a_type_default_and_description(pages: dict[str, str]) -> None:
    undocumented = [
        f"{section} {key}"
        for section, rows in _sections(pages[hooks.SETTINGS_PAGE]).items()
        for key, (tp, default, desc) in rows.items()
        if not (tp.strip() and default.strip() and desc.strip())
    ]
    assert undocumented == [], (
        "describe these keys in the settings class docstring (``key``: what it does) or "
        'with attrs.field(metadata={"description": ...})'
    )


def test_env_reading_defaults_never_show_this_machines_values(
    pages: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-meta-test-secret-value")
    monkeypatch.setenv("MODELBUS_REDIS_URL", "redis://:hunter2hunter2@example:6379/0")
    again = hooks.reference_pages()[hooks.SETTINGS_PAGE]
    assert "sk-meta-test" not in again and "hunter2" not in again


# --- the command line --------------------------------------------------------------
@cache
def _command_paths() -> list[tuple[str, ...]]:
    """Every command path, walked with click itself: built-ins and plugin commands."""
    from modelbus.cli._group import BUILTIN_COMMANDS, plugin_commands

    paths: list[tuple[str, ...]] = [()]

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        paths.append(path)
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                if not sub.hidden:
                    walk(sub, (*path, name))

    ctx = click.Context(cli)
    for name in BUILTIN_COMMANDS:
        cmd = cli.get_command(ctx, name)
        assert cmd is not None
        walk(cmd, (name,))
    for name, (cmd, _plugin) in plugin_commands(modelbus.load_plugins()).commands.items():
        walk(cmd, (name,))
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "modelbus")
def test_every_command_help_renders_and_is_in_the_reference(
    pages: dict[str, str], path: tuple[str, ...]
) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="modelbus")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {' '.join(('modelbus', *path))} ")
    heading = re.compile(rf"^#+ `{re.escape(' '.join(('modelbus', *path)))}`", re.M)
    assert heading.search(pages[hooks.CLI_PAGE]), f"{path} is not in the CLI reference"


# --- the pages and their examples --------------------------------------------------
def _nav_files(nav: Any) -> list[str]:
    out: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out += _nav_files(value) if isinstance(value, list) else [value]
    return out


def _mkdocs_nav() -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text()
    nav = text[text.index("\nnav:") :]
    return re.findall(r":\s+([\w/.-]+\.md)\s*$", nav, re.M)


def _doc_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "examples" not in p.parts)


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    nav = _mkdocs_nav()
    generated = {hooks.HOOKSPECS_PAGE, hooks.SETTINGS_PAGE, hooks.CLI_PAGE, hooks.EVENTS_PAGE}
    for entry in nav:
        assert entry in generated or (DOCS / entry).is_file(), entry
    written = {str(p.relative_to(DOCS)) for p in _doc_pages()} - {"benchmarks.md"}
    assert written - generated <= set(nav), written - set(nav)


def _blocks(lang: str) -> list[tuple[str, str]]:
    """``(page#n, code)`` of the fenced blocks of ``lang``; blocks included from files
    (``--8<--``) are left out: those files are real code, tested where they live."""
    fence = re.compile(rf"^```{lang}\n(.*?)^```", re.S | re.M)
    return [
        (f"{p.relative_to(DOCS)}#{i}", m.group(1))
        for p in _doc_pages()
        for i, m in enumerate(fence.finditer(p.read_text(encoding="utf-8")))
        if not m.group(1).lstrip().startswith("--8<--")
    ]


@pytest.mark.parametrize(("where", "code"), _blocks("python"), ids=lambda v: str(v)[:40])
def test_python_examples_compile(where: str, code: str) -> None:
    compile(code, where, "exec")


@pytest.mark.parametrize(("where", "code"), _blocks("toml"), ids=lambda v: str(v)[:40])
def test_toml_examples_parse_and_configs_are_accepted(
    where: str, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tomllib.loads(code)
    if not code.lstrip().startswith("# modelbus.toml"):
        return
    # Secrets are read from the environment when settings are structured.
    for name in re.findall(r'\{ env = "(\w+)" \}', code):
        monkeypatch.setenv(name, "doc-example-secret")
    cfg = Config.from_dict(data, source=where)
    registry = with_instances(cfg, modelbus.load_plugins().registry)  # [providers.X] use
    for kind, by_name in cfg.sections.items():
        for name in by_name:
            assert (kind, name) in registry, f"{where}: no {kind} plugin {name!r}"
    cfg.check_sections(registry)


def _command_lines() -> list[tuple[str, str]]:
    out = []
    for where, code in _blocks("bash"):
        for line in code.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("modelbus ") or " | modelbus " in line:
                out.append((where, line[line.index("modelbus ") :]))
    return out


@pytest.mark.parametrize(("where", "line"), _command_lines(), ids=lambda v: str(v)[:50])
def test_command_lines_in_the_docs_name_real_commands_and_options(where: str, line: str) -> None:
    words = shlex.split(line.split("|")[0].split("&&")[0])[1:]
    cmd: click.Command = cli
    ctx = click.Context(cli, info_name="modelbus")
    path: list[str] = []
    for w in words:
        if w.startswith("-") or not isinstance(cmd, click.Group):
            break
        sub = cmd.get_command(ctx, w)
        assert sub is not None, f"{where}: {line!r}: no command {' '.join([*path, w])!r}"
        path.append(w)
        ctx = click.Context(sub, info_name=w, parent=ctx)
        cmd = sub
    assert path, f"{where}: {line!r} names no modelbus command"
    known = {o for p in cmd.get_params(ctx) for o in (*p.opts, *p.secondary_opts)}
    for w in words[len(path) :]:
        if w.startswith("-") and w != "-":
            assert w.split("=")[0] in known, f"{where}: {line!r}: no option {w!r} in {known}"


def test_the_tutorial_shows_the_example_plugin_code_under_40_lines() -> None:
    tutorial = (DOCS / "plugin-tutorial.md").read_text()
    plugin = "docs/examples/modelbus-echo/src/modelbus_echo/__init__.py"
    for included in (
        plugin,
        "docs/examples/modelbus-echo/pyproject.toml",
        "docs/examples/modelbus-echo/tests/test_modelbus_echo.py",
    ):
        assert f'--8<-- "{included}"' in tutorial, included
    assert len((ROOT / plugin).read_text().splitlines()) < 40
