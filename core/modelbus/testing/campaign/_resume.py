"""Scenario 5: a ``modelbus batch`` process SIGKILLed mid-run and run again, with a
persistent cache, under transient faults. What docs/how-to/batch.md promises: each
input line gets exactly one output line; only requests in flight at the kill are sent
again, at most ``-c`` of them, none whose answer was already stored in the cache; a
request's retries count as that one request."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import modelbus
from modelbus.errors import CacheMiss

from ._config import Scale, client_config
from ._load import MAX_ATTEMPTS, batch_cli, output_lines, write_input
from ._plan import FaultPlan
from ._report import Report, Row
from .server import FaultServer

__all__ = ["run_resume"]


def _stored(config: dict[str, object], rids: set[str]) -> set[str]:
    """The ids whose answer is in the cache (``cache="only"`` never sends)."""
    found = set()
    with modelbus.Client(config) as client:
        for rid in sorted(rids):
            try:
                client.chat(f"rid={rid} Say ok.", cache="only")
            except CacheMiss:
                continue
            found.add(rid)
    return found


def run_resume(srv: FaultServer, scale: Scale, report: Report, seed: int) -> None:
    plan = FaultPlan(
        seed=seed, rate=scale.fault_rate, weights={"500": 1.0, "429": 1.0, "reset": 1.0}
    )
    rids = [f"resume-{i:05d}" for i in range(scale.batch_lines)]
    c = scale.threads
    with tempfile.TemporaryDirectory(prefix="modelbus-campaign-batch-") as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        write_input(src, rids)
        cache = {"path": str(Path(tmp) / "cache.sqlite3")}
        config = client_config(
            srv.base_url, scale, {"modelbus": {"cache": "sqlite"}, "caches": {"sqlite": cache}}
        )
        srv.setup(plan, latency_s=0.05)  # so that requests are in flight at the kill
        t0 = time.perf_counter()
        proc = batch_cli(config, src, out, c)
        deadline = time.monotonic() + 600
        while len(output_lines(out)) < len(rids) // 3:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the batch ended before the kill: {proc.communicate()[1]}")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        first = srv.log()
        written = {line["custom_id"] for line in output_lines(out)}
        sent_first = {s.rid for s in first}
        in_flight = sent_first - written
        stored = _stored(config, in_flight)
        resumed_at = time.time()
        proc = batch_cli(config, src, out, c)
        _, err = proc.communicate(timeout=3600)
        elapsed = time.perf_counter() - t0
        lines = output_lines(out)
    second = {s.rid for s in srv.log() if s.at >= resumed_at}
    again = second & sent_first
    ids = [line["custom_id"] for line in lines]
    failed = {line["custom_id"] for line in lines if line.get("error") is not None}
    must_fail = {r for r in rids if plan.sends(r, MAX_ATTEMPTS)[1]}
    report.add(
        Row(
            "batch-resume",
            f"SIGKILL at 1/3, -c {c}",
            len(rids),
            len(must_fail),
            len(failed),
            None,
            len(again),
            elapsed,
            f"written before kill={len(written)} in flight={len(in_flight)} "
            f"cached={len(stored)} sent again={len(again)}",
        )
    )
    name = "batch-resume"
    report.check(
        proc.returncode == 0, f"{name}: the resumed run exited {proc.returncode}: {err[-500:]}"
    )
    report.check(
        sorted(ids) == sorted(rids),
        f"{name}: {len(ids)} output lines for {len(rids)} inputs (or duplicates)",
    )
    report.check(
        not second & written, f"{name}: written requests sent again: {sorted(second & written)[:5]}"
    )
    report.check(
        again <= in_flight - stored,
        f"{name}: sent again beyond the in-flight, "
        f"uncached requests: {sorted(again - in_flight)[:5]}",
    )
    report.check(len(again) <= c, f"{name}: {len(again)} requests sent again, more than -c {c}")
    report.check(
        failed - again == must_fail - again,
        f"{name}: failed lines differ from the planned failures: "
        f"{sorted((failed ^ must_fail) - again)[:5]}",
    )
    report.check(len(in_flight) > 0, f"{name}: nothing in flight at the kill: not measured")
