"""Scenario 7: the API key never appears in exception text, log lines, output files or
the cache, although the server echoes it in its 401 answers (docs/how-to/
config-and-secrets.md: "never a secret in any text")."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import modelbus

from ._config import API_KEY, Scale, client_config
from ._load import batch_cli, write_input
from ._report import Report, Row
from .server import FaultServer

__all__ = ["run_secrets"]


def _texts(exc: BaseException) -> str:
    return "".join([str(exc), repr(exc), *traceback.format_exception(exc)])


def _server_echoes(srv: FaultServer) -> bool:
    """The server does leak the key back (else the scenario proves nothing)."""
    req = urllib.request.Request(
        srv.base_url + "/chat/completions",
        data=json.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "rid=secret-probe"}]}
        ).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as err:
        return err.code == 401 and API_KEY in err.read().decode()
    return False


def _calls(config: dict[str, Any]) -> tuple[list[str], list[int | None]]:
    texts: list[str] = []
    statuses: list[int | None] = []

    def seen(exc: BaseException) -> None:
        texts.append(_texts(exc))
        statuses.append(getattr(exc, "status_code", None))

    with modelbus.Client(config) as client:
        client.chat("rid=cached-0 Say ok.")  # an answer in the cache
        for i, mode in enumerate(("chat", "stream")):
            try:
                if mode == "chat":
                    client.chat(f"rid=secret-{i} Say ok.")
                else:
                    list(client.stream(f"rid=secret-{i} Say ok."))
            except Exception as exc:
                seen(exc)
        items = [{"custom_id": "b", "messages": [{"role": "user", "content": "rid=secret-b"}]}]
        texts.extend(json.dumps(r.to_openai()) for r in client.batch(items))

    async def amain() -> None:
        aclient = modelbus.Client(config)
        try:
            for i, mode in enumerate(("achat", "astream"), start=2):
                try:
                    if mode == "achat":
                        await aclient.achat(f"rid=secret-{i} Say ok.")
                    else:
                        async for _ in aclient.astream(f"rid=secret-{i} Say ok."):
                            pass
                except Exception as exc:
                    seen(exc)
        finally:
            await aclient.aclose()

    asyncio.run(amain())
    return texts, statuses


def run_secrets(srv: FaultServer, scale: Scale, report: Report) -> None:
    srv.setup()
    t0 = time.perf_counter()
    echoes = _server_echoes(srv)
    with tempfile.TemporaryDirectory(prefix="modelbus-campaign-secrets-") as tmp:
        cache = Path(tmp) / "cache.sqlite3"
        config = client_config(
            srv.base_url,
            scale,
            {
                "modelbus": {"cache": "sqlite", "log_level": "debug", "log_format": "json"},
                "caches": {"sqlite": {"path": str(cache)}},
            },
        )
        logs = io.StringIO()
        with contextlib.redirect_stderr(logs):
            texts, statuses = _calls(config)
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        write_input(src, ["secret-cli-0", "secret-cli-1", "cached-0"])
        proc = batch_cli(config, src, out, 2)
        cli_out, cli_err = proc.communicate(timeout=300)
        places = {
            "exceptions and batch lines": "\n".join(texts),
            "log lines": logs.getvalue(),
            "modelbus batch output file": out.read_text() if out.exists() else "",
            "modelbus batch stdout/stderr": cli_out + cli_err,
            "cache files": "".join(
                p.read_bytes().decode("latin-1") for p in Path(tmp).glob("cache.sqlite3*")
            ),
        }
    leaks = sorted(where for where, text in places.items() if API_KEY in text)
    report.add(
        Row(
            "secrets",
            "401 echoing the key",
            7,
            7,
            statuses.count(401),
            None,
            None,
            time.perf_counter() - t0,
            f"server echoes={echoes} log bytes={len(places['log lines'])} leaks={leaks or 'none'}",
        )
    )
    report.check(echoes, "secrets: the server did not echo the key: nothing was tested")
    report.check(statuses == [401] * 4, f"secrets: expected four 401 errors, got {statuses}")
    report.check(
        all(places.values()),
        f"secrets: nothing captured in {[k for k, v in places.items() if not v]}",
    )
    report.check(not leaks, f"secrets: the API key appears in {leaks}")
