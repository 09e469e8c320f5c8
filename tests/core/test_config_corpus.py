"""Every malformed ``modelbus.toml`` of the corpus is a config error: exit 2, one line on
stderr naming the key and the file, no traceback, no secret (issue 15, item 8).

The corpus is ``tests/fixtures/config_corpus/*.toml``: one mistake per file, its first
lines saying what it is (``# key: DOTTED.KEY`` is the key the error must name;
``# check-only`` marks mistakes in parts a plain ``chat`` does not use, which
``config check`` must still find). Runs in-process through click's CliRunner.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner, Result

from modelbus.cli import cli

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "config_corpus"
# Values planted in the corpus's secrets; none may ever be printed.
PLANTED = ("sk-corpus", "second-line", "planted-nul-tail")


@attrs.frozen
class Case:
    path: Path
    key: str
    check_only: bool


def _cases() -> list[Case]:
    out = []
    for path in sorted(CORPUS.glob("*.toml")):
        head = path.read_text(encoding="utf-8").splitlines()[:3]
        key = next(line.split(":", 1)[1].strip() for line in head if line.startswith("# key:"))
        out.append(Case(path, key, any(line.startswith("# check-only") for line in head)))
    return out


CASES = _cases()


def _environ_entries() -> list[str]:
    """``NAME=value`` entries of this process's initial environment (what
    ``/proc/self/environ`` holds), long enough not to occur by chance."""
    raw = Path("/proc/self/environ").read_bytes().decode("utf-8", "replace")
    return [e for e in raw.split("\0") if len(e) >= 12 and "=" in e]


def _assert_config_error(result: Result, case: Case) -> None:
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, out
    assert result.stderr.startswith("modelbus: config error: "), out
    assert result.stderr.count("\n") == 1, out  # one paragraph, one line
    assert f"in: {case.path}" in result.stderr, out
    assert re.search(rf"key: {re.escape(case.key)}(;|$)", result.stderr, re.M), out
    for planted in PLANTED:
        assert planted not in out, out
    for entry in _environ_entries():
        assert entry not in out, "environment content printed"


@pytest.fixture
def corpus_env(fresh_plugins: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELBUS_CORPUS_UNSET", raising=False)


def test_the_corpus_holds_every_kind_of_mistake():
    # issue 15 counted 36 malformed files; the corpus has one file per mistake.
    assert len(CASES) >= 36
    keys = {c.key.split(".")[0] for c in CASES}
    assert {"modelbus", "providers", "retry_policies", "caches", "rate_limits", "models"} <= keys
    assert {"catalog", "logging", "modelbsu"} <= keys


@pytest.mark.parametrize("case", CASES, ids=[c.path.stem for c in CASES])
def test_config_check_exits_2_naming_key_and_file(case: Case, corpus_env: None) -> None:
    result = CliRunner().invoke(cli, ["config", "check", str(case.path)])
    _assert_config_error(result, case)


@pytest.mark.parametrize("case", [c for c in CASES if not c.check_only], ids=lambda c: c.path.stem)
def test_chat_refuses_the_same_configs_before_any_request(case: Case, corpus_env: None) -> None:
    # base_url is a closed port: an error that got as far as a request would be exit 1.
    result = CliRunner().invoke(cli, ["chat", "--config", str(case.path), "hi"])
    out = result.stdout + result.stderr
    assert "Traceback" not in out and isinstance(result.exception, SystemExit), out
    assert result.exit_code == 2, out
    for planted in PLANTED:
        assert planted not in out, out
