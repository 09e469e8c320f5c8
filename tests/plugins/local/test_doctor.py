"""``modelbus doctor`` for the ``local`` provider: a configured server that does not
answer fails (it used to pass: building the provider asks nothing of the server)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from modelbus.cli.doctor import doctor_rows
from modelbus.testing.server import Reply, WireServer
from modelbus_local import plugin
from tests.core.plugin_kit import clean_environ, run_cli


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def nothing_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith(("MODELBUS_", "OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(k)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "modelbus.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("server", ["llamacpp", "auto"])
def test_a_server_that_does_not_answer_fails_the_doctor(tmp_path: Path, server: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    cfg = write(tmp_path, f'[providers.local]\nserver = "{server}"\nbase_url = "{url}"\n')
    out = run_cli(["doctor", "--json", "--config", cfg], env=clean_environ(tmp_path), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    rows = {(r["provider"], r["check"]): r for r in json.loads(out.stdout)}
    endpoint = rows[("local", "endpoint")]
    assert endpoint["ok"] is False and url in endpoint["detail"]
    assert "Traceback" not in out.stderr


def test_a_server_that_answers_passes_and_its_model_is_checked(
    tmp_path: Path, wire_server: WireServer
) -> None:
    wire_server.set_default(
        Reply.json({"object": "list", "data": [{"id": "tiny", "object": "model"}]}),
        path="/v1/models",
    )
    base = f'[providers.local]\nserver = "llamacpp"\nbase_url = "{wire_server.base_url}"\n'
    rows = doctor_rows(write(tmp_path, base + 'model = "tiny"\n'))
    assert [(w, ok) for p, w, ok, _ in rows if p == "local"] == [
        ("starts", True),
        ("endpoint", True),
        ("auth", True),
        ("model tiny", True),
    ]
    rows = doctor_rows(write(tmp_path, base + 'model = "llama3.2"\n'))
    [(_, _, ok, detail)] = [r for r in rows if r[1] == "model llama3.2"]
    assert not ok and "'tiny'" in detail


def test_auto_without_a_server_reports_the_embedded_fallback(
    tmp_path: Path, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    monkeypatch.setattr(plugin, "preset_candidates", lambda: [("ollama", dead)])
    rows = doctor_rows(write(tmp_path, f'[providers.local]\nmodel_path = "{tiny_model_path}"\n'))
    local = {w: (ok, d) for p, w, ok, d in rows if p == "local"}
    assert local["auto"] == (True, "no local server answered: the embedded backend runs")
    assert local["model file"][0] and str(tiny_model_path.resolve()) in local["model file"][1]
