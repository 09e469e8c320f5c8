"""Logging and secrets: one ``modelbus.call`` event per call with the documented fields,
secrets masked wherever they would be printed or logged, and ``import modelbus`` free of
side effects (issue 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

import modelbus
from modelbus import _logging
from modelbus.errors import RetryError
from tests.core.plugin_kit import (
    BROKEN_ON_IMPORT,
    clean_environ,
    parrot_standin,
    run_cli,
    standin_dist,
)

PLANTED_SK = "sk-planted-SECRET123"
PLANTED_PLAIN = "planted-SECRET456"  # no recognisable shape: masked because it is a Secret
CALL_FIELDS = {
    "provider",
    "model",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "cache",
    "attempts",
    "finish_reason",
}


@pytest.fixture
def logging_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Leave structlog and modelbus's logging set-up as they were."""
    for name in ("_configured", "_fallback"):
        monkeypatch.setattr(_logging, name, getattr(_logging, name))
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    yield
    if was_configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()


def _config(tmp_path: Path, extra: str = "", key: str = PLANTED_SK) -> Path:
    path = tmp_path / "modelbus.toml"
    path.write_text(
        '[modelbus]\nprovider = "parrot"\nplugins = { allow = ["parrot", "broken"] }\n'
        '[catalog."parrot-1"]\ninput_per_1m = 1.0\noutput_per_1m = 2.0\n'
        "[retry_policies.exponential]\nmax_attempts = 2\ninitial_delay_s = 0.0\n"
        f'[providers.parrot]\napi_key = "{key}"\n{extra}'
    )
    return path


def _json_lines(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


# --- the call event ---------------------------------------------------------------------------


def test_cli_verbose_json_logs_one_call_event_with_documented_fields(tmp_path):
    site = parrot_standin(tmp_path / "site")
    _config(tmp_path)
    out = run_cli(
        ["-v", "--log-json", "chat", "--no-stream", "hello"],
        env=clean_environ(tmp_path),
        cwd=tmp_path,
        path=[site],
    )
    assert out.returncode == 0, out.stderr
    calls = [e for e in _json_lines(out.stderr) if e["event"] == "modelbus.call"]
    assert len(calls) == 1
    event = calls[0]
    assert set(event) >= CALL_FIELDS
    assert event["level"] == "info" and "timestamp" in event
    assert (
        event["provider"],
        event["model"],
        event["prompt_tokens"],
        event["completion_tokens"],
        event["cache"],
        event["attempts"],
        event["finish_reason"],
    ) == ("parrot", "parrot-1", 1, 2, "miss", 1, "stop")
    assert event["cost_usd"] == pytest.approx((1 * 1.0 + 2 * 2.0) / 1e6)
    assert event["latency_ms"] >= 0


def test_without_verbose_no_call_event_is_logged(tmp_path):
    site = parrot_standin(tmp_path / "site")
    _config(tmp_path)
    out = run_cli(
        ["chat", "--json", "hello"], env=clean_environ(tmp_path), cwd=tmp_path, path=[site]
    )
    assert out.returncode == 0
    assert "modelbus.call" not in out.stderr
    assert json.loads(out.stdout)["content"] == "parrot: hello"  # stdout is the reply only


def test_call_event_in_process_with_structlog_capture(parrot_on_path, tmp_path, logging_state):
    client = modelbus.Client(str(_config(tmp_path, "")), log_level="info")
    with client, capture_logs() as logs:
        client.chat("hello", cache="bypass")
        client.chat("hello")
        client.chat("hello")
    calls = [e for e in logs if e["event"] == "modelbus.call"]
    assert [e["cache"] for e in calls] == ["bypass", "miss", "hit"]
    assert all(set(e) >= CALL_FIELDS and e["log_level"] == "info" for e in calls)
    assert calls[2]["attempts"] == 0


# --- redaction --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [PLANTED_SK, PLANTED_PLAIN])
def test_planted_key_never_reaches_cli_output_or_logs(tmp_path, key):
    site = parrot_standin(tmp_path / "site")
    _config(tmp_path, "fail_status = 500\n", key=key)
    env = clean_environ(tmp_path)
    runs = [
        run_cli(["-v", "--log-json", "chat", "hi"], env=env, cwd=tmp_path, path=[site]),
        run_cli(["--debug", "-v", "chat", "hi"], env=env, cwd=tmp_path, path=[site]),
        run_cli(["config", "show"], env=env, cwd=tmp_path, path=[site]),
        run_cli(["doctor"], env=env, cwd=tmp_path, path=[site]),
    ]
    for out in runs:
        assert "SECRET" not in out.stdout + out.stderr, out.args
    logged = _json_lines(runs[0].stderr)
    retries = [e for e in logged if e["event"] == "modelbus.retry"]
    assert len(retries) == 1
    # the provider's message is kept, the key inside it masked
    assert retries[0]["error"].startswith("parrot 500: the key ********** was refused")
    final = runs[0].stderr[runs[0].stderr.index("modelbus: gave up") :].splitlines()[0]
    assert "last error (ServerError): parrot 500: the key ********** was refused" in final
    assert "Traceback" in runs[1].stderr  # --debug shows it, redacted too


def test_planted_key_masked_in_structlog_capture(parrot_on_path, tmp_path, logging_state):
    client = modelbus.Client(str(_config(tmp_path, "fail_status = 503\n", key=PLANTED_PLAIN)))
    with capture_logs() as logs, pytest.raises(RetryError) as e:
        client.chat("hi")
    last = e.value.last_error
    # issue 15: the error object itself never shows the key either
    assert "the key ********** was refused" in str(last)
    assert PLANTED_PLAIN not in str(last) + repr(last) + last.message + repr(last.args)
    retries = [ev for ev in logs if ev["event"] == "modelbus.retry"]
    assert len(retries) == 1
    assert "SECRET" not in repr(logs)
    assert "the key ********** was refused" in retries[0]["error"]


def test_redact_masks_keys_key_shapes_and_secret_values():
    secret = modelbus.Secret("plain-but-secret-789")
    event = {
        "api_key": "anything",
        "Authorization": "Bearer abc.def",
        "password": "hunter2",
        "prompt_tokens": 12,
        "max_tokens": 5,
        "error": "401 for sk-live-abcdefghijkl and plain-but-secret-789",
        "headers": [{"api-key": "x"}, "Bearer tok.en-1"],
        "settings": secret,
    }
    out = _logging.redact(event)
    assert out["api_key"] == out["Authorization"] == out["password"] == _logging.MASK
    assert (out["prompt_tokens"], out["max_tokens"]) == (12, 5)  # counts are not secrets
    assert out["error"] == f"401 for {_logging.MASK} and {_logging.MASK}"
    assert out["headers"] == [{"api-key": _logging.MASK}, _logging.MASK]
    assert out["settings"] == _logging.MASK
    assert "plain-but-secret-789" not in repr(secret)


def test_plugin_load_failure_is_logged_with_its_name(tmp_path):
    site = parrot_standin(tmp_path / "site")
    broken = standin_dist(
        tmp_path / "site-broken",
        "modelbus-broken",
        "1.0",
        {"broken": "mb_broken"},
        {"mb_broken": BROKEN_ON_IMPORT},
    )
    _config(tmp_path)
    out = run_cli(
        ["--log-json", "plugins", "--json"],
        env=clean_environ(tmp_path),
        cwd=tmp_path,
        path=[site, broken],
    )
    assert out.returncode == 0
    (event,) = [e for e in _json_lines(out.stderr) if e["event"] == "plugin_load_failed"]
    assert (event["plugin"], event["distribution"], event["level"]) == (
        "broken",
        "modelbus-broken",
        "warning",
    )
    assert "missing native library" in event["error"]


# --- laziness --------------------------------------------------------------------------------

_PROBE = r"""
import importlib.metadata, json, socket, sys

entry_point_calls = []
real_entry_points = importlib.metadata.entry_points
importlib.metadata.entry_points = lambda *a, **k: entry_point_calls.append(k) or real_entry_points(*a, **k)
connects = []
def refuse(*args, **kwargs):
    connects.append(repr(args))
    raise OSError("network use at import")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

exec(sys.argv[1])
print(json.dumps({
    "entry_points": entry_point_calls,
    "network": connects,
    "loaded": sorted(m for m in ("openai", "httpx", "aiohttp", "structlog", "tiktoken",
                                 "pluggy", "mb_parrot", "modelbus._plugins.loading", "modelbus._client")
                     if m in sys.modules),
}))
"""


def _probe(code: str, tmp_path: Path) -> dict:
    site = parrot_standin(tmp_path / "site")
    env = {**clean_environ(tmp_path), "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def test_import_modelbus_has_no_side_effects(tmp_path):
    seen = _probe("import modelbus", tmp_path)
    assert seen == {"entry_points": [], "network": [], "loaded": []}


def test_importing_client_loads_no_plugin_sdk_or_structlog(tmp_path):
    seen = _probe("from modelbus import Client, ChatResponse, Secret", tmp_path)
    assert seen["entry_points"] == [] and seen["network"] == []
    assert set(seen["loaded"]) <= {"pluggy", "modelbus._plugins.loading", "modelbus._client"}


def test_a_quiet_client_call_never_imports_structlog(tmp_path):
    _config(tmp_path)
    seen = _probe("import modelbus\nmodelbus.Client().chat('hi')", tmp_path)
    assert "mb_parrot" in seen["loaded"]  # plugins were discovered and used...
    assert "structlog" not in seen["loaded"]  # ...and nothing needed logging
    assert seen["network"] == []


def test_default_log_output_goes_to_stderr_not_stdout(tmp_path):
    _config(tmp_path, "fail_status = 500\n")
    site = parrot_standin(tmp_path / "site")
    code = (
        "import modelbus\n"
        "try:\n    modelbus.Client().chat('hi')\n"
        "except modelbus.errors.RetryError:\n    print('gave up')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean_environ(tmp_path), "PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout == "gave up\n"
    assert "modelbus.retry" in out.stderr and "[warning" in out.stderr


def test_an_application_structlog_configuration_is_respected(
    parrot_on_path, tmp_path, logging_state
):
    seen: list[dict] = []

    def keep(_logger, _name, event):
        seen.append(dict(event))
        raise structlog.DropEvent

    structlog.reset_defaults()  # as in a fresh process: modelbus configured nothing
    structlog.configure(processors=[keep])
    _logging._configured = None
    with modelbus.Client(str(_config(tmp_path))) as client:
        client.chat("hi")
    # an application that configured structlog sees every modelbus event, unfiltered
    assert [e["event"] for e in seen] == ["modelbus.call"]
    assert structlog.get_config()["processors"] == [keep]
