"""A campaign worker process: ``python -m modelbus.testing.campaign.worker JOB_JSON``.

JOB: ``{"config": {...}, "rids": [...], "tasks": N, "max_tokens": M | null,
"warm": ID | null}``. Builds a ``Client`` from the config, makes the ``warm`` call (so
that the release measures calls, not imports and the first connection), prints
``ready``, waits for a line on stdin (so that several workers start together), makes
one ``achat`` per id, at most ``tasks`` at a time, and prints ``RESULT {"ok": [ids],
"errors": {id: error type}, "cost_usd": x, "texts": [error texts]}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

import modelbus

__all__ = ["RESULT", "main", "run_job"]

RESULT = "RESULT "


async def run_job(job: dict[str, Any], client: modelbus.Client) -> dict[str, Any]:
    """Run ``job`` (see the module doc) on ``client`` and return its result."""
    gate = asyncio.Semaphore(int(job.get("tasks", 200)))
    params = {"max_tokens": job["max_tokens"]} if job.get("max_tokens") else {}
    ok: list[str] = []
    errors: dict[str, str] = {}
    texts: list[str] = []
    cost = 0.0

    async def one(rid: str) -> None:
        nonlocal cost
        async with gate:
            try:
                resp = await client.achat(f"rid={rid} Say ok.", **params)
            except Exception as exc:
                errors[rid] = type(exc).__name__
                texts.append(str(exc))
                return
            ok.append(rid)
            cost += resp.cost_usd or 0.0

    try:
        await asyncio.gather(*(one(r) for r in job["rids"]))
    finally:
        await client.aclose()
    return {"ok": ok, "errors": errors, "cost_usd": cost, "texts": texts[:20]}


async def _main(job: dict[str, Any]) -> dict[str, Any]:
    client = modelbus.Client(job["config"])
    if job.get("warm"):
        await client.achat(f"rid={job['warm']} Say ok.")
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    return await run_job(job, client)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    result = asyncio.run(_main(json.loads(args[0])))
    print(RESULT + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
