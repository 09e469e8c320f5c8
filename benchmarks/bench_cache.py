"""Micro-benchmark: a cache hit through ``Client.chat`` beside the raw lookups under it.

Measured interleaved (blocks of ``--block`` samples of each case in turn) so that
machine noise hits every case alike:

- ``dict lookup``: ``d[key]`` in a dict of 1000 cache-sized ``bytes`` values (the floor
  under the memory cache), timed in batches of 1000 and divided;
- ``memory hit``: ``client.chat(...)`` answered by the ``memory`` cache;
- ``memory hit (achat)``: the same through ``await client.achat(...)`` in one event loop;
- ``sqlite SELECT``: ``SELECT value FROM entries WHERE key = ?`` on the cache's own file
  through a raw ``sqlite3`` connection (the floor under the sqlite cache);
- ``sqlite hit``: ``client.chat(...)`` answered by the ``sqlite`` cache.

Prints the median and 95th percentile in microseconds and the ratios hit/floor. Run::

    python -m benchmarks.bench_cache [--rounds 4000] [--block 50] [--clock wall|cpu] [--json]

The requests are what an application sends: a system and a user message,
``temperature`` and ``max_tokens``. The provider is ``modelbus.testing.FakeProvider``;
it answers only the first (missed) call of each client.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelbus.testing import FakeProvider, make_client

from ._harness import batched, median_p95, single

MESSAGES = [
    {"role": "system", "content": "You are a concise assistant. Answer in one sentence."},
    {"role": "user", "content": "What is the capital of France, and why is it famous?"},
]
PARAMS: dict[str, Any] = {"temperature": 0.2, "max_tokens": 100}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4000, help="samples per case")
    ap.add_argument("--block", type=int, default=50, help="consecutive samples per case")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: time.perf_counter; cpu: this thread's CPU time (time.thread_time), "
        "steadier on a machine busy with other work",
    )
    args = ap.parse_args(argv)
    now = time.thread_time if args.clock == "cpu" else time.perf_counter

    tmp = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    db = tmp / "cache.sqlite3"
    mem_client = make_client(FakeProvider(), {"modelbus": {"cache": "memory"}})
    sql_client = make_client(
        FakeProvider(), {"modelbus": {"cache": "sqlite"}, "caches": {"sqlite": {"path": str(db)}}}
    )
    for c in (mem_client, sql_client):  # the one miss, which fills the cache
        first = c.chat(MESSAGES, **PARAMS)
        again = c.chat(MESSAGES, **PARAMS)
        assert not first.cached and again.cached, "the second call must be a cache hit"

    raw = sqlite3.connect(db, isolation_level=None)
    key, value = raw.execute("SELECT key, value FROM entries").fetchone()
    d = {f"{i:064x}": bytes(len(value)) for i in range(999)}
    d[key] = value

    loop = asyncio.new_event_loop()

    def achat_sample() -> float:
        # The loop is entered once per sample; only the awaited call itself is timed.
        async def timed() -> float:
            t = now()
            await mem_client.achat(MESSAGES, **PARAMS)
            return now() - t

        return loop.run_until_complete(timed())

    cases: dict[str, Callable[[], float]] = {
        "dict lookup": batched(lambda: d[key], 1000, now),
        "memory hit": single(lambda: mem_client.chat(MESSAGES, **PARAMS), now),
        "memory hit (achat)": achat_sample,
        "sqlite SELECT": single(
            lambda: raw.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone(),
            now,
        ),
        "sqlite hit": single(lambda: sql_client.chat(MESSAGES, **PARAMS), now),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm up
        for _ in range(200):
            fn()
    gc.collect()
    # Interleaved in blocks: each round takes `block` samples of every case in turn, so
    # machine noise falls on all cases alike while a case runs with its own code and
    # data in the CPU caches, as a hot path does.
    for _ in range(max(1, args.rounds // args.block)):
        for name, fn in cases.items():
            for _ in range(args.block):
                samples[name].append(fn())

    figures = {}
    for name, xs in samples.items():
        med, p95 = median_p95(xs)
        figures[name] = {"median_us": med * 1e6, "p95_us": p95 * 1e6}
    ratios = {
        "memory hit / dict lookup": figures["memory hit"]["median_us"]
        / figures["dict lookup"]["median_us"],
        "sqlite hit / sqlite SELECT": figures["sqlite hit"]["median_us"]
        / figures["sqlite SELECT"]["median_us"],
        "sqlite hit / memory hit": figures["sqlite hit"]["median_us"]
        / figures["memory hit"]["median_us"],
    }
    mem_client.close()
    sql_client.close()
    raw.close()
    loop.close()

    if args.json:
        print(json.dumps({"figures": figures, "ratios": ratios}, indent=2))
    else:
        print(
            f"python {platform.python_version()} on {platform.machine()}, "
            f"{os.cpu_count()} CPUs; {args.rounds} samples per case interleaved in blocks of "
            f"{args.block}, {args.clock} clock; "
            f"cache value {len(value)} bytes"
        )
        print(f"{'case':24s} {'median µs':>10s} {'p95 µs':>10s}")
        for name, f in figures.items():
            print(f"{name:24s} {f['median_us']:10.2f} {f['p95_us']:10.2f}")
        for name, r in ratios.items():
            print(f"{name:28s} {r:8.1f}x")
    return figures


if __name__ == "__main__":
    sys.exit(main() and 0)
