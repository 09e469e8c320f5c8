"""No silent fallback with the real plugins (issue 13): an OpenAI model without a key, an
unknown provider prefix and a model nothing serves are errors (exit 2, one paragraph, no
traceback) saying what to do; ``modelbus doctor`` fails for missing credentials and for an
endpoint that does not answer. Each command runs as a user runs it: a fresh process, no
config file, the machine's OpenAI/Azure/modelbus variables removed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

import modelbus
from modelbus.errors import ConfigError
from tests.core.plugin_kit import clean_environ, run_cli


def mb(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(list(args), env=clean_environ(tmp_path, **env), cwd=tmp_path)


def one_paragraph(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, out.stderr
    assert out.stdout == "" and "Traceback" not in out.stderr
    [line] = [x for x in out.stderr.splitlines() if x.startswith("modelbus: ")]
    return line


def test_an_openai_model_with_an_empty_key_exits_2_naming_the_key(tmp_path: Path) -> None:
    line = one_paragraph(mb(tmp_path, "chat", "hi", "-m", "gpt-4o-mini", OPENAI_API_KEY=""))
    assert "OPENAI_API_KEY" in line and line.startswith("modelbus: config error:")


def test_an_unknown_provider_prefix_exits_2_naming_the_known_providers(tmp_path: Path) -> None:
    line = one_paragraph(mb(tmp_path, "chat", "hi", "-m", "opnai/gpt-4o"))
    assert "unknown provider 'opnai'" in line and "did you mean openai/gpt-4o?" in line
    known = line.split("known providers: ", 1)[1]
    assert all(p in known for p in ("azure", "local", "openai"))


def test_a_model_nothing_serves_exits_2_with_the_closest_name(tmp_path: Path) -> None:
    line = one_paragraph(mb(tmp_path, "chat", "hi", "-m", "gpt-4o-minii"))
    assert "did you mean gpt-4o-mini" in line and "OPENAI_API_KEY" in line


def test_nothing_configured_and_no_model_named_runs_the_local_default(tmp_path: Path) -> None:
    out = mb(tmp_path, "chat", "hi", "--json", "--no-cache", "-o", "max_tokens=2")
    assert out.returncode == 0, out.stderr
    resp = json.loads(out.stdout)
    assert resp["provider"] == "local" and resp["usage"]["completion_tokens"] > 0
    assert "provider 'local' (no API key configured)" in out.stderr


def test_the_python_api_raises_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith(("MODELBUS_", "OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(k)
    with modelbus.Client({"modelbus": {"cache": "none"}}) as client:
        with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
            client.chat("hi", model="gpt-4o-mini")
        with pytest.raises(ConfigError, match="known providers: .*openai"):
            client.chat("hi", model="opnai/gpt-4o")
        assert client.route(None).provider == "local"  # nothing named: the local default


def doctor(tmp_path: Path, toml: str, **env: str) -> dict[tuple[str, str], dict[str, object]]:
    (tmp_path / "modelbus.toml").write_text(toml)
    out = mb(tmp_path, "doctor", "--json", **env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    return {(r["provider"], r["check"]): r for r in json.loads(out.stdout)}


def test_doctor_fails_for_missing_credentials(tmp_path: Path) -> None:
    rows = doctor(tmp_path, '[modelbus]\nprovider = "openai"\n')
    starts = rows[("openai", "starts")]
    assert starts["ok"] is False and "OPENAI_API_KEY" in str(starts["detail"])
    assert "[providers.openai]" in str(starts["detail"])  # not eaten as rich markup


def test_doctor_fails_for_a_model_routed_to_a_provider_without_credentials(
    tmp_path: Path,
) -> None:
    rows = doctor(tmp_path, '[modelbus]\nmodel = "gpt-4o-mini"\n')
    assert rows[("openai", "starts")]["ok"] is False
    rows = doctor(tmp_path, '[modelbus]\nmodel = "gpt-4o-minii"\n')
    model = rows[("-", "model gpt-4o-minii")]
    assert model["ok"] is False and "did you mean gpt-4o-mini" in str(model["detail"])


def test_doctor_fails_for_an_openai_base_url_that_does_not_answer(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    rows = doctor(
        tmp_path,
        f'[modelbus]\nprovider = "openai"\n[providers.openai]\nbase_url = "{url}"\n',
    )
    endpoint = rows[("openai", "endpoint")]
    assert endpoint["ok"] is False and f"127.0.0.1:{port}" in str(endpoint["detail"])
