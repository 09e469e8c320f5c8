"""Scenario 1: N requests at a rate of transient faults in every mode of the client.

Each mode sends the same request ids against the same seeded plan, so the requests
that must fail (every attempt drew a fault) and the re-sends are known in advance; the
server's log gives what happened, the caller what it saw. Observed must equal expected.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import modelbus

from ._config import Scale, client_config, toml_text
from ._plan import FaultPlan
from ._report import Report, Row
from .server import FaultServer

__all__ = ["MODES", "run_load"]

MAX_ATTEMPTS = 3  # [retry_policies.exponential] max_attempts, the default


def _prompt(rid: str) -> str:
    return f"rid={rid} Say ok."


def _sync_one(client: modelbus.Client, rid: str, stream: bool) -> bool:
    try:
        if stream:
            text = "".join(c.content or "" for c in client.stream(_prompt(rid)))
        else:
            text = client.chat(_prompt(rid)).content or ""
    except Exception:
        return False
    return text == f"ok {rid}"


async def _async_one(client: modelbus.Client, rid: str, stream: bool) -> bool:
    try:
        if stream:
            parts = [c.content or "" async for c in client.astream(_prompt(rid))]
            text = "".join(parts)
        else:
            text = (await client.achat(_prompt(rid))).content or ""
    except Exception:
        return False
    return text == f"ok {rid}"


def _sequential(stream: bool) -> Callable[[dict[str, Any], list[str], Scale], set[str]]:
    def run(config: dict[str, Any], rids: list[str], scale: Scale) -> set[str]:
        with modelbus.Client(config) as client:
            return {r for r in rids if not _sync_one(client, r, stream)}

    return run


def _tasks(stream: bool) -> Callable[[dict[str, Any], list[str], Scale], set[str]]:
    def run(config: dict[str, Any], rids: list[str], scale: Scale) -> set[str]:
        async def main() -> set[str]:
            gate = asyncio.Semaphore(scale.tasks)
            client = modelbus.Client(config)

            async def one(rid: str) -> bool:
                async with gate:
                    return await _async_one(client, rid, stream)

            try:
                oks = await asyncio.gather(*(one(r) for r in rids))
            finally:
                await client.aclose()
            return {r for r, ok in zip(rids, oks, strict=True) if not ok}

        return asyncio.run(main())

    return run


def _threads(config: dict[str, Any], rids: list[str], scale: Scale) -> set[str]:
    with modelbus.Client(config) as client, ThreadPoolExecutor(scale.threads) as pool:
        oks = list(pool.map(lambda r: _sync_one(client, r, False), rids))
    return {r for r, ok in zip(rids, oks, strict=True) if not ok}


def _items(rids: list[str]) -> list[dict[str, Any]]:
    return [{"custom_id": r, "messages": [{"role": "user", "content": _prompt(r)}]} for r in rids]


def _failed(results: list[Any]) -> set[str]:
    return {
        r.custom_id
        for r in results
        if not r.ok or (r.response.content or "") != f"ok {r.custom_id}"
    }


def _batch(config: dict[str, Any], rids: list[str], scale: Scale) -> set[str]:
    with modelbus.Client(config) as client:
        return _failed(client.batch(_items(rids), concurrency=scale.threads))


def _abatch(config: dict[str, Any], rids: list[str], scale: Scale) -> set[str]:
    async def main() -> set[str]:
        client = modelbus.Client(config)
        try:
            return _failed(await client.abatch(_items(rids), concurrency=scale.tasks))
        finally:
            await client.aclose()

    return asyncio.run(main())


def batch_cli(
    config: dict[str, Any], src: Path, out: Path, concurrency: int
) -> subprocess.Popen[str]:
    """A ``modelbus batch`` process on ``src`` (its config written next to it)."""
    cfg = src.with_suffix(".toml")
    cfg.write_text(toml_text(config))
    args = ["batch", str(src), "-o", str(out), "-c", str(concurrency), "--no-progress"]
    return subprocess.Popen(
        [sys.executable, "-m", "modelbus.cli", *args, "--config", str(cfg)],
        cwd=src.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_input(path: Path, rids: list[str]) -> None:
    path.write_text("".join(json.dumps(item) + "\n" for item in _items(rids)))


def output_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(x) for x in lines if x.strip().endswith("}")]


def _cli(config: dict[str, Any], rids: list[str], scale: Scale) -> set[str]:
    with tempfile.TemporaryDirectory(prefix="modelbus-campaign-") as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        write_input(src, rids)
        proc = batch_cli(config, src, out, scale.threads)
        _, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"modelbus batch exited {proc.returncode}: {err[-2000:]}")
        failed = set()
        for line in output_lines(out):
            body = (line.get("response") or {}).get("body") or {}
            choices = body.get("choices") or [{}]
            text = (choices[0].get("message") or {}).get("content")
            if line.get("error") is not None or text != f"ok {line['custom_id']}":
                failed.add(line["custom_id"])
        missing = set(rids) - {line["custom_id"] for line in output_lines(out)}
        return failed | missing


MODES: dict[str, Callable[[dict[str, Any], list[str], Scale], set[str]]] = {
    "chat": _sequential(False),
    "achat": _tasks(False),
    "stream": _sequential(True),
    "astream": _tasks(True),
    "threads": _threads,
    "batch": _batch,
    "abatch": _abatch,
    "cli": _cli,
}


def run_load(srv: FaultServer, scale: Scale, report: Report, seed: int) -> None:
    """Every mode of :data:`MODES` at ``scale``: failures and re-sends as planned."""
    weights = {"500": 1.0, "429": 1.0, "reset": 1.0, "stall": 0.0}
    weights["stall"] = 3.0 * scale.stall_weight / (1.0 - scale.stall_weight)
    plan = FaultPlan(seed=seed, rate=scale.fault_rate, weights=weights)
    rids = [f"load-{i:05d}" for i in range(scale.requests)]
    sends = {r: plan.sends(r, MAX_ATTEMPTS) for r in rids}
    must_fail = {r for r, (_, fails) in sends.items() if fails}
    resends = sum(n - 1 for n, _ in sends.values())
    config = client_config(srv.base_url, scale)
    for mode, run in MODES.items():
        srv.setup(plan, stall_s=scale.attempt_timeout_s + 3.0)
        t0 = time.perf_counter()
        failed = run(config, rids, scale)
        elapsed = time.perf_counter() - t0
        log = srv.log()
        per_rid = Counter(s.rid for s in log)
        kinds = Counter(s.kind for s in log)
        answered = {s.rid for s in log if s.kind == "ok"}
        note = " ".join(f"{k}={kinds[k]}" for k in ("500", "429", "reset", "stall"))
        report.add(
            Row(
                "faults",
                mode,
                len(rids),
                len(must_fail),
                len(failed),
                resends,
                len(log) - len(per_rid),
                elapsed,
                note,
            )
        )
        name = f"faults/{mode}"
        report.check(
            failed == must_fail,
            f"{name}: failed {sorted(failed ^ must_fail)[:10]} "
            f"differ from the requests whose every attempt drew a fault",
        )
        report.check(
            not failed & answered,
            f"{name}: a failed request had an attempt that did not fault (server log)",
        )
        wrong = [r for r in rids if per_rid.get(r, 0) != sends[r][0]]
        report.check(
            not wrong,
            f"{name}: {len(wrong)} requests sent a number of times other "
            f"than planned, e.g. {[(r, per_rid.get(r, 0), sends[r][0]) for r in wrong[:5]]}",
        )
        report.check(set(per_rid) <= set(rids), f"{name}: unknown request ids at the server")
