"""``modelbus new-plugin``: for each kind, the scaffolded distribution pip-installs into a
virtualenv and passes its own tests there (pytest in a subprocess), and is lint-clean.

One child virtualenv (``tests.conftest.child_venv``: it sees this checkout's modelbus) holds
all five scaffolds, installed by one pip call; each kind's tests then run on their own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelbus._plugins.scaffold import KINDS, plugin_names
from modelbus.cli import cli
from tests.conftest import child_venv
from tests.core.plugin_kit import clean_environ

NAMES = {kind: f"acme-{kind.split('-')[0]}" for kind in KINDS}


class Scaffolds:
    def __init__(self, root: Path, python: Path) -> None:
        self.root = root
        self.python = python

    def project(self, kind: str) -> Path:
        return self.root / f"modelbus-{NAMES[kind]}"


@pytest.fixture(scope="session")
def scaffolds(tmp_path_factory: pytest.TempPathFactory) -> Scaffolds:
    root = tmp_path_factory.mktemp("scaffolds")
    runner = CliRunner()
    for kind, name in NAMES.items():
        result = runner.invoke(cli, ["new-plugin", name, "--kind", kind, "-d", str(root)])
        assert result.exit_code == 0, result.output
    venv = tmp_path_factory.mktemp("scaffold-venv") / "v"
    python = child_venv(venv)
    projects = [str(root / f"modelbus-{name}") for name in NAMES.values()]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            *projects,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return Scaffolds(root, python)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KINDS))
def test_the_scaffold_passes_its_own_tests_once_installed(
    scaffolds: Scaffolds, kind: str, tmp_path: Path
) -> None:
    project = scaffolds.project(kind)
    done = subprocess.run(
        [str(scaffolds.python), "-m", "pytest", "-q"],
        cwd=project,
        env=clean_environ(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
    # The installed copy was tested, not the source folder.
    where = subprocess.run(
        [
            str(scaffolds.python),
            "-c",
            f"import {plugin_names(NAMES[kind])['pkg']} as m; print(m.__file__)",
        ],
        cwd=tmp_path,
        env=clean_environ(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "site-packages" in where.stdout, where.stdout + where.stderr


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_scaffold_is_lint_clean(scaffolds: Scaffolds, kind: str) -> None:
    project = scaffolds.project(kind)
    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_installed_scaffolds_are_listed_by_their_distributions(
    scaffolds: Scaffolds, tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(scaffolds.python), "-m", "modelbus.cli", "plugins", "--json"],
        cwd=tmp_path,
        env=clean_environ(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    section = {
        "provider": "providers",
        "cache": "caches",
        "retry-policy": "retry_policies",
        "token-counter": "token_counters",
        "tools": "tools",
    }
    for kind, name in NAMES.items():
        row = rows[name]
        assert row["distribution"] == f"modelbus-{name}" and row["error"] is None
        assert list(row["registered"]) == [section[kind]]


def test_the_files_made_for_a_provider(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "new-plugin",
            "my-llm",
            "-k",
            "provider",
            "-d",
            str(tmp_path),
            "--description",
            "Chat with My LLM",
        ],
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / "modelbus-my-llm"
    made = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert made == [
        "README.md",
        "pyproject.toml",
        "src/modelbus_my_llm/__init__.py",
        "src/modelbus_my_llm/py.typed",
        "tests/test_my_llm.py",
    ]
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points.modelbus]\nmy-llm = "modelbus_my_llm"' in pyproject
    assert 'description = "Chat with My LLM"' in pyproject
    code = (root / "src/modelbus_my_llm/__init__.py").read_text()
    assert "class MyLlmSettings" in code and 'env_secret("MY_LLM_API_KEY")' in code
    assert "$" not in code.replace("$MY_LLM_API_KEY", "")  # every placeholder filled
    assert "next: cd" in result.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["new-plugin", "Bad_Name", "-k", "cache"], 2, "lowercase"),
        (["new-plugin", "modelbus", "-k", "cache"], 2, "lowercase"),
        (["new-plugin", "class", "-k", "tools"], 2, "keyword"),
        (["new-plugin", "ok", "-k", "database"], 2, "'database' is not one of"),
        (["new-plugin", "ok"], 2, "Missing option '-k' / '--kind'"),
    ],
)
def test_bad_input_is_a_usage_error_naming_it(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    result = CliRunner().invoke(cli, [*args, "-d", str(tmp_path)])
    assert result.exit_code == code
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "modelbus-acme").mkdir()
    (tmp_path / "modelbus-acme" / "keep.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["new-plugin", "acme", "-k", "cache", "-d", str(tmp_path)])
    assert result.exit_code == 1
    assert "modelbus-acme exists" in result.output
    assert [p.name for p in (tmp_path / "modelbus-acme").iterdir()] == ["keep.txt"]
