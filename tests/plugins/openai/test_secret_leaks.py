"""No configured secret in any text modelbus renders, and none in the cache key
(issue 15, item 5), through the real ``openai`` plugin against the WireServer.

The hostile server echoes the key in its error bodies (as some gateways do): the key
must not appear in an exception's ``str``/``repr``/``message``/``body``, in a printed
traceback (the SDK exception it is chained to included), in log events (modelbus's own
logging or an application's structlog set-up), in ``modelbus batch`` output lines or in
``modelbus doctor``. Clients with different credentials never share cached answers.
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import traceback
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from structlog.testing import capture_logs

import modelbus
import modelbus._config.secrets
from modelbus.cli import cli
from modelbus.errors import AuthenticationError, ProviderError, RetryError
from modelbus.testing.server import Reply, WireServer

from .conftest import MakeClient

KEY = "sk-proj-planted-LEAK-0123456789abcdef"


def _echo(status: int) -> Reply:
    return Reply.error(status, f"Incorrect API key provided: {KEY}. Body echo: {KEY!r}")


def _rendered(exc: BaseException) -> str:
    """Everything a program could print about ``exc``."""
    parts = [str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))]
    for e in (exc, getattr(exc, "last_error", None)):
        if isinstance(e, ProviderError):
            parts += [e.message, e.hint, json.dumps(e.body), str(e), repr(e)]
    return "\n".join(parts)


def _sync_chat(client: modelbus.Client) -> None:
    client.chat("hi", model="gpt-4o-mini")


def _sync_stream(client: modelbus.Client) -> None:
    with client.stream("hi", model="gpt-4o-mini") as s:
        for _ in s:
            pass


def _async_chat(client: modelbus.Client) -> None:
    async def go() -> None:
        try:
            await client.achat("hi", model="gpt-4o-mini")
        finally:
            await client.aclose()

    asyncio.run(go())


def _async_stream(client: modelbus.Client) -> None:
    async def go() -> None:
        try:
            async with client.astream("hi", model="gpt-4o-mini") as s:
                async for _ in s:
                    pass
        finally:
            await client.aclose()

    asyncio.run(go())


MODES = {"chat": _sync_chat, "stream": _sync_stream, "achat": _async_chat, "astream": _async_stream}


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_401_that_echoes_the_key_shows_it_nowhere(
    srv: WireServer, make_client: MakeClient, mode: str, transport: str
) -> None:
    srv.set_default(_echo(401), path="/v1/chat/completions")
    client = make_client(api_key=KEY, async_transport=transport)
    with pytest.raises(AuthenticationError) as e:
        MODES[mode](client)
    text = _rendered(e.value)
    assert KEY not in text and "planted-LEAK" not in text, text
    assert "Incorrect API key provided: **********" in e.value.message
    assert srv.requests[0].headers["authorization"] == f"Bearer {KEY}"  # it was sent


def test_retries_of_an_echoing_500_log_and_raise_no_key(
    srv: WireServer, make_client: MakeClient
) -> None:
    srv.set_default(_echo(500), path="/v1/chat/completions")
    client = make_client(api_key=KEY)
    with capture_logs() as logs, pytest.raises(RetryError) as e:
        client.chat("hi", model="gpt-4o-mini")
    assert [ev["event"] for ev in logs].count("modelbus.retry") >= 1
    assert KEY not in repr(logs) + _rendered(e.value)


def test_an_application_structlog_setup_gets_the_events_masked(
    srv: WireServer, make_client: MakeClient
) -> None:
    """The application's processors know nothing of modelbus's secrets."""
    sink = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(sink),
    )
    srv.set_default(_echo(500), path="/v1/chat/completions")
    with pytest.raises(RetryError):
        make_client(api_key=KEY).chat("hi", model="gpt-4o-mini")
    assert "modelbus.retry" in sink.getvalue()
    assert KEY not in sink.getvalue()


def _config(tmp_path: Path, srv: WireServer, extra: str = "") -> Path:
    path = tmp_path / "modelbus.toml"
    path.write_text(
        '[modelbus]\nprovider = "openai"\nmodel = "gpt-4o-mini"\ncache = "none"\n'
        'plugins = { allow = ["openai"] }\n'
        "[retry_policies.exponential]\nmax_attempts = 2\ninitial_delay_s = 0.0\n"
        f'[providers.openai]\napi_key = "{KEY}"\nbase_url = "{srv.base_url}"\n' + extra
    )
    return path


def test_batch_output_lines_and_stderr_hold_no_key(
    srv: WireServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    srv.set_default(_echo(401), path="/v1/chat/completions")
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text(
        "".join(
            json.dumps(
                {"custom_id": f"r{i}", "body": {"messages": [{"role": "user", "content": "hi"}]}}
            )
            + "\n"
            for i in range(3)
        )
    )
    result = CliRunner().invoke(
        cli, ["batch", str(inp), "-o", str(out), "--config", str(_config(tmp_path, srv))]
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3 and all(line["error"] for line in lines), result.output
    assert lines[0]["response"]["status_code"] == 401
    assert "**********" in lines[0]["error"]["message"]
    assert KEY not in out.read_text() + result.stdout + result.stderr


def test_doctor_shows_no_key(
    srv: WireServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    srv.set_default(_echo(401), path="/v1/models*")
    result = CliRunner().invoke(cli, ["doctor", "--json", "--config", str(_config(tmp_path, srv))])
    assert result.exit_code == 1, result.output
    rows = {r["check"]: r for r in json.loads(result.stdout)}
    assert rows["auth"]["ok"] is False and "**********" in rows["auth"]["detail"]
    assert KEY not in result.stdout + result.stderr


# --- the cache key -------------------------------------------------------------------------------


def _cached_client(srv: WireServer, db: Path, **provider: Any) -> modelbus.Client:
    return modelbus.Client(
        {
            "modelbus": {"provider": "openai", "cache": "sqlite"},
            "caches": {"sqlite": {"path": str(db)}},
            "providers": {"openai": {"base_url": srv.base_url, **provider}},
        }
    )


def test_a_client_with_another_credential_never_gets_cached_answers(
    srv: WireServer, tmp_path: Path
) -> None:
    db = tmp_path / "cache.sqlite"
    calls = [
        ({"api_key": KEY}, 1),  # first: a miss
        ({"api_key": KEY}, 0),  # same key, new client: a hit
        ({"api_key": "sk-proj-another-key-9876543210"}, 1),  # revoked/other key: a miss
        ({"api_key": KEY, "organization": "org-b"}, 1),  # other organization: a miss
        ({"api_key": KEY, "project": "proj-b"}, 1),  # other project: a miss
        ({"api_key": KEY, "organization": "org-b"}, 0),  # that organization again: a hit
    ]
    for provider, sent in calls:
        before = len(srv.requests)
        with _cached_client(srv, db, **provider) as client:
            resp = client.chat("same prompt", model="gpt-4o-mini")
            identity = client.provider("openai").cache_identity
        assert len(srv.requests) - before == sent, provider
        assert resp.cached is (sent == 0)
        assert KEY not in identity and identity.startswith(f"{srv.base_url}|credential=")
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    assert KEY not in dump and "another-key" not in dump


def test_a_credential_header_set_by_hand_is_masked_too(
    srv: WireServer, make_client: MakeClient
) -> None:
    token = "hand-made-bearer-planted-42"
    srv.set_default(Reply.error(403, f"token {token} may not"), path="/v1/chat/completions")
    client = make_client(default_headers={"X-Api-Key": token, "X-Trace": "visible-trace-id"})
    with pytest.raises(ProviderError) as e:
        client.chat("hi", model="gpt-4o-mini")
    assert token not in _rendered(e.value)
    assert srv.requests[0].headers["x-api-key"] == token  # it was sent
    assert modelbus._config.secrets.redact_text("visible-trace-id") == "visible-trace-id"


def test_a_secret_file_path_expands_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, srv: WireServer
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".openai-key").write_text(KEY + "\n")
    client = modelbus.Client(
        {
            "modelbus": {"provider": "openai", "cache": "none"},
            "providers": {
                "openai": {"base_url": srv.base_url, "api_key": {"file": "~/.openai-key"}}
            },
        }
    )
    with client:
        client.chat("hi", model="gpt-4o-mini")
    assert srv.requests[0].headers["authorization"] == f"Bearer {KEY}"
