"""The benchmark harness runs and reports in its documented shape (a smoke test: two cheap
rows in ``--quick`` mode, no figure asserted — speed is measured by the harness itself,
never by tests)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_of_two_rows(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELBUS_", "OPENAI_"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--only",
            "memory-cache,sync-chat",
            "--output",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["quick"] is True and results["only"] == ["memory-cache", "sync-chat"]
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["python"] == ".".join(map(str, sys.version_info[:3]))
    assert machine["packages"]["openai"] and machine["packages"]["modelbus"]
    # The raw asyncio server process, started and stopped.
    assert [(s["latency_ms"], s["kind"]) for s in results["servers"]] == [(0.0, "raw asyncio")]
    rows = {r["key"]: r for r in results["rows"]}
    assert list(rows) == ["memory-cache", "sync-chat", "sync-chat-1000"]
    chat = rows["sync-chat"]
    assert chat["baseline"] == "raw httpx POST"
    measured = {m["name"]: m for m in chat["measures"] if "absent" not in m}
    assert {"raw httpx POST", "raw openai SDK", "modelbus Client.chat"} <= set(measured)
    for m in measured.values():
        assert 0 < m["min"] <= m["median"] <= m["p95"] <= m["max"]
        assert m["n"] > 0 and m["ratio"] > 0
    assert measured["raw httpx POST"]["ratio"] == 1.0
    assert rows["memory-cache"]["baseline"] == "sha256 + dict"
    litellm = next(m for m in chat["measures"] if m["name"] == "LiteLLM completion")
    assert "skipped" in litellm["absent"]  # --quick leaves LiteLLM out
    for r in rows.values():
        assert r["checks"] and all(isinstance(c["ok"], bool) for c in r["checks"])
        # Every row checks the requests the server answered, and notes the load.
        count = next(c for c in r["checks"] if c["target"].startswith("server saw"))
        assert count["ok"], count
        assert len(r["load_average"]["start"]) == 3
    # The table names every row and contender.
    for name in ("memory-cache hit through Client.chat", "modelbus Client.chat", "sha256 + dict"):
        assert name in proc.stdout


def test_quick_run_of_the_observers_row(tmp_path: Path) -> None:
    """The row measures modelbus-otel beside the SDK doing the same span and record alone
    (the row itself asserts that the floor exports what the observer exported)."""
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELBUS_", "OPENAI_"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--only",
            "observers",
            "--output",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads(out.read_text(encoding="utf-8"))["rows"]
    assert "error" not in row, row.get("error")
    roles = {m["name"]: m["role"] for m in row["measures"] if "absent" not in m}
    assert (
        roles["no observer"] == "baseline"
        and roles["call log (SQLite, writer thread)"] == "subject"
    )
    assert sorted(roles.values()) == [
        "baseline",
        "floor",
        "reference",
        "subject",
        "subject",
        "subject",
    ]
    assert row["per"] == "per call, CPU time of the calling thread"
    targets = {c["target"]: c["ok"] for c in row["checks"]}
    assert set(targets) == {
        "otel adds ≤ 15 µs per call",
        "modelbus's share of otel (over no observer and the SDK alone) ≤ 15 µs",
        "one no-op observer adds ≤ 5 µs per call",
        "call log adds ≤ 100 µs per call",
    }
    share = next(c for c in row["checks"] if c["target"].startswith("modelbus's share"))
    assert re.fullmatch(r"-?[\d.]+ µs median, -?[\d.]+ µs min", share["measured"])
    assert all(isinstance(ok, bool) for ok in targets.values())
    assert any(n.startswith("the SDK alone takes") for n in row["notes"])
    assert any(n.startswith("modelbus's share (otel - no observer") for n in row["notes"])
    assert any(n.startswith("load average at the row's start") for n in row["notes"])
