"""Micro-benchmark: a ``redis`` cache hit through ``Client.chat`` beside a raw redis-py
``GET`` of the same value. Target: the hit at most 1.3x the raw GET (median).

Measured in pairs, interleaved round by round (the order alternating) so that machine
noise hits both cases of a pair alike:

- ``redis-py GET``: ``redis.Redis(...).get(key)`` of a plain string key holding the very
  bytes the cache stored (what an application caching by hand would pay);
- ``redis hit``: ``client.chat(...)`` answered by the ``redis`` cache;
- ``redis.asyncio GET`` / ``redis hit (achat)``: the same two through one event loop.

Prints the median and 95th percentile in microseconds and the ratios hit/GET. Run::

    python -m benchmarks.bench_redis [--rounds 3000] [--json] [--url redis://...]

Without ``--url`` it starts its own ``redis-server`` (``--save '' --appendonly no``) on a
free loopback port and stops it afterwards. The request is what an application sends: a
system and a user message, ``temperature`` and ``max_tokens``; the provider is
``modelbus.testing.FakeProvider`` and answers only the first (missed) call.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
import redis.asyncio

from modelbus.testing import FakeProvider, make_client

from ._harness import median_p95, single

MESSAGES = [
    {"role": "system", "content": "You are a concise assistant. Answer in one sentence."},
    {"role": "user", "content": "What is the capital of France, and why is it famous?"},
]
PARAMS: dict[str, Any] = {"temperature": 0.2, "max_tokens": 100}
TARGET = 1.3


@contextmanager
def redis_server() -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server not found (apt-get install redis-server), or pass --url")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        [
            exe,
            "--save",
            "",
            "--appendonly",
            "no",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        probe = redis.Redis(port=port)
        for _ in range(500):
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.01)
        probe.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def run(url: str, rounds: int) -> tuple[dict[str, dict[str, float]], dict[str, float], int]:
    namespace = f"bench-{os.getpid()}"
    client = make_client(
        FakeProvider(),
        {
            "modelbus": {"cache": "redis"},
            "caches": {"redis": {"url": url, "namespace": namespace}},
        },
    )
    first = client.chat(MESSAGES, **PARAMS)
    again = client.chat(MESSAGES, **PARAMS)
    assert not first.cached and again.cached, "the second call must be a cache hit"

    raw = redis.Redis.from_url(url)
    [vkey] = list(raw.scan_iter(match=f"modelbus:{{{namespace}}}:v:*"))
    value = raw.hget(vkey, "v")
    assert value is not None
    raw.set("bench:raw", value)
    assert raw.get("bench:raw") == value

    loop = asyncio.new_event_loop()
    araw = redis.asyncio.Redis.from_url(url)

    def timed_async(make: Callable[[], Any]) -> Callable[[], float]:
        # The loop is entered once per sample; only the awaited call itself is timed.
        async def timed() -> float:
            t = time.perf_counter()
            await make()
            return time.perf_counter() - t

        return lambda: loop.run_until_complete(timed())

    cases: dict[str, Callable[[], float]] = {
        "redis-py GET": single(lambda: raw.get("bench:raw")),
        "redis hit": single(lambda: client.chat(MESSAGES, **PARAMS)),
        "redis.asyncio GET": timed_async(lambda: araw.get("bench:raw")),
        "redis hit (achat)": timed_async(lambda: client.achat(MESSAGES, **PARAMS)),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm up
        for _ in range(300):
            fn()
    # Each pair interleaved on its own: entering the event loop between two sync samples
    # would disturb them (and the other way round).
    items = list(cases.items())
    for pair in (items[:2], items[2:]):
        gc.collect()
        for r in range(rounds):
            for name, fn in pair if r % 2 == 0 else reversed(pair):
                samples[name].append(fn())

    figures = {}
    for name, xs in samples.items():
        med, p95 = median_p95(xs)
        figures[name] = {"median_us": med * 1e6, "p95_us": p95 * 1e6}
    ratios = {
        "redis hit / redis-py GET": figures["redis hit"]["median_us"]
        / figures["redis-py GET"]["median_us"],
        "redis hit / redis-py GET (p95)": figures["redis hit"]["p95_us"]
        / figures["redis-py GET"]["p95_us"],
        "achat hit / asyncio GET": figures["redis hit (achat)"]["median_us"]
        / figures["redis.asyncio GET"]["median_us"],
    }
    stats = client.cache.stats() if client.cache is not None else None
    assert stats is not None and stats.hits >= rounds * 2, stats
    client.cache.clear()  # type: ignore[union-attr]
    raw.delete("bench:raw")
    client.close()
    raw.close()
    loop.run_until_complete(araw.aclose())
    loop.close()
    return figures, ratios, len(value)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3000, help="samples per case")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--url", help="an existing Redis (default: start a private redis-server)")
    args = ap.parse_args(argv)

    if args.url:
        figures, ratios, size = run(args.url, args.rounds)
    else:
        with redis_server() as url:
            figures, ratios, size = run(url, args.rounds)

    if args.json:
        print(json.dumps({"figures": figures, "ratios": ratios, "target": TARGET}, indent=2))
    else:
        print(
            f"python {platform.python_version()} on {platform.machine()}, "
            f"{os.cpu_count()} CPUs; redis-py {redis.__version__}; {args.rounds} "
            f"interleaved rounds; cache value {size} bytes"
        )
        print(f"{'case':24s} {'median µs':>10s} {'p95 µs':>10s}")
        for name, f in figures.items():
            print(f"{name:24s} {f['median_us']:10.2f} {f['p95_us']:10.2f}")
        for name, r in ratios.items():
            print(f"{name:32s} {r:6.2f}x")
        verdict = "within" if ratios["redis hit / redis-py GET"] <= TARGET else "ABOVE"
        print(f"target: hit <= {TARGET}x GET (median): {verdict}")
    return figures


if __name__ == "__main__":
    sys.exit(main() and 0)
