"""Shared test set-up: where the recorded wire payloads live."""

from __future__ import annotations

import site
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# A developer's real keys, endpoints or config never reach a test.
MACHINE_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_ADMIN_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "OPENAI_API_VERSION",
    "MODELBUS_CONFIG",
    "MODELBUS_PROVIDER",
    "MODELBUS_MODEL",
    "MODELBUS_CACHE",
    "MODELBUS_PLUGINS",
    "MODELBUS_DISABLE_PLUGINS",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in MACHINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELBUS_DATA_DIR", str(tmp_path / "data"))


def wire_dir() -> Path:
    """The recorded payloads in the repository (``tests/fixtures/wire``, provenance in its
    ``PROVENANCE.md``)."""
    return ROOT / "tests" / "fixtures" / "wire"


@pytest.fixture(scope="session")
def wire() -> Path:
    d = wire_dir()
    if not d.is_dir():
        pytest.fail(f"recorded wire fixtures not found at {d}")
    return d


def child_venv(root: Path) -> Path:
    """A virtualenv at ``root`` (without pip) that sees the packages of the Python running
    the tests, editable installs included, whether that Python is itself a virtualenv or
    not; returns its ``python``. ``--system-site-packages`` would only see the *base*
    interpreter's packages, so a ``.pth`` file adds the running environment's site dirs
    with ``site.addsitedir`` (which also runs their ``.pth`` files: editable finders)."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120
    )
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    dirs = [*site.getsitepackages(), site.getusersitepackages()]
    lines = "; ".join(f"site.addsitedir({d!r})" for d in dirs if Path(d).is_dir())
    (Path(purelib) / "_modelbus_parent_env.pth").write_text(f"import site; {lines}\n")
    return python


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Each test starts with structlog and modelbus's logging set-up as in a new process
    (``capture_logs`` and CLI runs configure structlog globally)."""
    yield
    import structlog

    from modelbus import _logging

    structlog.reset_defaults()
    _logging._configured = None
    _logging._configured_level = 30
    _logging._fallback = None
