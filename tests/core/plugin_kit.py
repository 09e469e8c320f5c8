"""Third-party plugins for the CLI/plugin/config tests, made as real distributions.

Two ways, both real to ``importlib.metadata``:

- ``standin_dist``: a folder with the plugin's modules and a ``<name>-<version>.dist-info``
  (``METADATA`` + ``entry_points.txt``), put on ``sys.path`` / ``PYTHONPATH``; quick, so
  most tests use it.
- ``parrot_venv`` (session): ``tests/core/plugin_dists/modelbus-parrot`` pip-installed
  into a child virtualenv (``tests.conftest.child_venv``: it sees the editable modelbus),
  for the tests of the real thing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import modelbus
from tests.conftest import child_venv

HERE = Path(__file__).resolve().parent
PARROT_PROJECT = HERE / "plugin_dists" / "modelbus-parrot"
PARROT_SRC = PARROT_PROJECT / "src" / "mb_parrot"

# Small plugins that go wrong in one way each.
BROKEN_ON_IMPORT = """
raise RuntimeError("mb_broken cannot start: missing native library")
"""
MISSPELLED_HOOK = """
import modelbus

@modelbus.hookimpl
def modelbus_register_provider(register):  # singular: no such hook
    register("typo", object)
"""
HOOK_RAISES = """
import modelbus

@modelbus.hookimpl
def modelbus_register_providers(register):
    register("half-done", object)
    raise ValueError("cannot read my data file")
"""
# Takes two built-in names (the memory cache, the exponential retry policy).
BUILTIN_SQUATTER = """
import modelbus
from modelbus.builtins.caches import MemoryCache, MemoryCacheSettings

class SquatterCache(MemoryCache):
    "The squatter's own memory cache."

class SquatterRetry:
    def next_delay(self, attempt, error, elapsed_s, previous_delay_s=None):
        return None

@modelbus.hookimpl
def modelbus_register_caches(register):
    register("memory", SquatterCache, settings=MemoryCacheSettings)

@modelbus.hookimpl
def modelbus_register_retry_policies(register):
    register("exponential", SquatterRetry)
"""
# Two of these (modules mb_twin_a, mb_twin_b) claim one provider and one command.
TWIN = """
import click
import modelbus

@click.command("twin-say")
def twin_say():
    click.echo("{who}")

@modelbus.hookimpl
def modelbus_register_providers(register):
    register("twin", object)

@modelbus.hookimpl
def modelbus_register_commands(cli):
    cli.add_command(twin_say)

@modelbus.hookimpl
def modelbus_register_catalog(register):
    register("twin-model", {"provider": "twin", "context_window": 1000})
"""
FACTORIES_RAISE = """
import modelbus

def boom(*_):
    raise RuntimeError("no licence file")

@modelbus.hookimpl
def modelbus_register_token_counters(register):
    register("boom-counter", boom)

@modelbus.hookimpl
def modelbus_register_response_formats(register):
    register("boom-format", boom)

@modelbus.hookimpl
def modelbus_register_providers(register):
    register("boom", boom)
"""
PARROT_CLONE = """
import modelbus
from mb_parrot import ParrotProvider, ParrotSettings

@modelbus.hookimpl
def modelbus_register_providers(register):
    register("parrot", ParrotProvider, settings=ParrotSettings)
"""
BAD_COMMANDS = """
import click
import modelbus

@modelbus.hookimpl
def modelbus_register_commands(cli):
    raise RuntimeError("commands exploded")

@modelbus.hookimpl
def modelbus_register_providers(register):
    register("still-works", object)
"""
CLASHING_COMMAND = """
import click
import modelbus

@click.command("chat")
def chat():
    "A plugin trying to replace the built-in chat."

@modelbus.hookimpl
def modelbus_register_commands(cli):
    cli.add_command(chat)
"""

# Environment variables that would make a test depend on the machine it runs on.
_MACHINE_ENV = ("MODELBUS_", "OPENAI_", "AZURE_OPENAI_", "XDG_CONFIG_HOME")


def standin_dist(
    root: Path,
    dist: str,
    version: str,
    entry_points: Mapping[str, str],
    modules: Mapping[str, str] | None = None,
    packages: Mapping[str, Path] | None = None,
) -> Path:
    """Write a distribution ``dist`` into ``root`` (created): ``modules`` (name → source)
    and ``packages`` (name → folder to copy), plus its dist-info with ``entry_points`` of
    group ``modelbus``. Returns ``root``, the folder to put on the path."""
    root.mkdir(parents=True, exist_ok=True)
    for name, source in (modules or {}).items():
        (root / f"{name}.py").write_text(source)
    for name, folder in (packages or {}).items():
        shutil.copytree(folder, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[modelbus]\n{eps}")
    return root


def parrot_standin(root: Path) -> Path:
    """modelbus-parrot as a stand-in distribution in ``root``."""
    return standin_dist(
        root,
        "modelbus-parrot",
        "0.3.1",
        {"parrot": "mb_parrot"},
        packages={"mb_parrot": PARROT_SRC},
    )


def clean_environ(tmp: Path, **extra: str) -> dict[str, str]:
    """``os.environ`` without modelbus/OpenAI/Azure settings, with a private
    ``XDG_CONFIG_HOME`` (no user config found by accident) and data dir (the call log),
    plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_MACHINE_ENV)}
    env.pop("PYTHONPATH", None)
    env["XDG_CONFIG_HOME"] = str(tmp / "xdg-config")
    # The CLI's call log goes to the user data dir: never the real one.
    env["XDG_DATA_HOME"] = str(tmp / "xdg-data")
    env["MODELBUS_DATA_DIR"] = str(tmp / "data")
    env.update(extra)
    return env


def run_cli(
    args: list[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    python: str | Path = sys.executable,
    path: list[Path] = (),  # type: ignore[assignment]
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m modelbus.cli ARGS`` with ``path`` folders on ``PYTHONPATH``."""
    full = dict(env)
    if path:
        full["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    return subprocess.run(
        [str(python), "-m", "modelbus.cli", *args],
        env=full,
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Plugins re-discovered before and after the test, the machine's modelbus/OpenAI
    env and user config out of the way."""
    for k in list(os.environ):
        if k.startswith(_MACHINE_ENV):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("MODELBUS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    modelbus.reset_plugins()
    yield
    modelbus.reset_plugins()


@pytest.fixture
def parrot_on_path(fresh_plugins: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """modelbus-parrot as a stand-in distribution on ``sys.path`` (this process)."""
    root = parrot_standin(tmp_path / "site-parrot")
    monkeypatch.syspath_prepend(str(root))
    return root


class Venv:
    """A virtualenv with modelbus-parrot pip-installed: ``python`` runs in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.python = root / "bin" / "python"


@pytest.fixture(scope="session")
def parrot_venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    root = tmp_path_factory.mktemp("venv") / "v"
    # Without pip inside (faster): the outer pip installs into it with --python.
    child_venv(root)
    venv = Venv(root)
    build = tmp_path_factory.mktemp("parrot-build")
    project = build / "modelbus-parrot"
    shutil.copytree(
        PARROT_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv.python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(project),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    return venv
