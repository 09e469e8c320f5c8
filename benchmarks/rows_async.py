"""Throughput rows against a WireServer process answering after 20 ms: many requests at a
fixed concurrency through one event loop. A sample is the wall time of a whole run; the
contenders take turns run by run, after a warm-up run each."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._context import API_KEY, Context, freeze_heap, request_count_check
from ._harness import MESSAGES, MODEL, PARAMS, Check, Row, interleave, measures, row
from .rows_calls import counting

LATENCY_MS = 20.0
CONCURRENCY = 100
TARGET_CPU = 1.2  # client CPU per request over raw aiohttp's
TARGET_THROUGHPUT = 0.9  # over raw aiohttp's
TARGET_BATCH = 0.9
FRESH = "raw async loop over the file's lines, json.loads each"


async def _bounded(n: int, concurrency: int, call: Callable[[], Awaitable[Any]]) -> None:
    """``n`` calls, at most ``concurrency`` in flight: the semaphore pattern of the
    openai SDK's documentation, the same for every contender."""
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            await call()

    await asyncio.gather(*(one() for _ in range(n)))


def _timed_run(
    loop: asyncio.AbstractEventLoop, run: Callable[[], Awaitable[Any]]
) -> Callable[[], tuple[float, float]]:
    """One sample: (wall seconds, CPU seconds of this process) of a whole run. The server
    is another process, so the CPU is the client's own (all its threads)."""

    def sample() -> tuple[float, float]:
        # Every run starts from the same collector state (untimed): otherwise a run pays
        # for the full collection that the objects promoted by the run before it (another
        # contender's) set off.
        gc.collect()
        c, t = time.process_time(), time.perf_counter()
        loop.run_until_complete(run())
        return time.perf_counter() - t, time.process_time() - c

    return sample


_ROLES: dict[str, Any] = {
    "raw aiohttp": "floor",
    "AsyncOpenAI (aiohttp transport)": "reference",
    "AsyncOpenAI (httpx transport)": "reference",
    "modelbus Client.achat": "subject",
    "LiteLLM acompletion": "reference",
}


def _async_rows(ctx: Context, concurrency: int, n: int) -> list[Row]:
    import aiohttp
    import openai

    srv = ctx.raw_server(latency_ms=LATENCY_MS)
    url = srv.base_url
    loop = asyncio.new_event_loop()
    body = {"model": MODEL, "messages": MESSAGES, **PARAMS}
    # Generous connect timeouts for everyone: at concurrency 1,000 on a busy machine a
    # connect can take seconds, and a timed-out contender would end the row.
    mb = ctx.client(url, cache="none", connect_timeout_s=60.0)

    async def setup() -> tuple[Any, Any, Any]:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        on_aiohttp = openai.AsyncOpenAI(
            base_url=url,
            api_key=API_KEY,
            max_retries=0,
            timeout=120.0,
            http_client=openai.DefaultAioHttpClient(timeout=120.0),
        )
        on_httpx = openai.AsyncOpenAI(base_url=url, api_key=API_KEY, max_retries=0, timeout=120.0)
        return session, on_aiohttp, on_httpx

    session, sdk_aio, sdk_httpx = loop.run_until_complete(setup())

    async def raw_aiohttp() -> Any:
        async with session.post(f"{url}/chat/completions", json=body) as r:
            r.raise_for_status()
            return await r.json()

    tally: dict[str, int] = {}
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "raw aiohttp": counting(raw_aiohttp, tally, "aiohttp"),
        "AsyncOpenAI (aiohttp transport)": counting(
            lambda: sdk_aio.chat.completions.create(model=MODEL, messages=MESSAGES, **PARAMS),
            tally,
            "sdk-aiohttp",
        ),
        "AsyncOpenAI (httpx transport)": counting(
            lambda: sdk_httpx.chat.completions.create(model=MODEL, messages=MESSAGES, **PARAMS),
            tally,
            "sdk-httpx",
        ),
        "modelbus Client.achat": counting(
            lambda: mb.achat(MESSAGES, model=MODEL, **PARAMS), tally, "modelbus"
        ),
    }
    ll = ctx.litellm()
    if ll is not None:
        calls["LiteLLM acompletion"] = counting(
            lambda: ll.acompletion(
                model=f"openai/{MODEL}", api_base=url, api_key=API_KEY, messages=MESSAGES, **PARAMS
            ),
            tally,
            "litellm",
        )
    before = srv.count()
    rounds = ctx.scale(9, 1)
    try:
        for call in calls.values():  # warm-up: connections opened, code paths loaded
            loop.run_until_complete(_bounded(concurrency, concurrency, call))
        # What the set-up left alive (the SDK's import above all: tens of thousands of
        # objects) out of the collector's reach, as ``run`` does before every row: else
        # a full collection that walks it lands in whichever contender's run it falls.
        freeze_heap()
        samples = interleave(
            {
                name: _timed_run(loop, lambda c=call: _bounded(n, concurrency, c))
                for name, call in calls.items()
            },
            # Nine rounds: one run's CPU can swing by a third (at 1,000 in flight the
            # client's work per request follows how far the server, on the same two
            # cores, lags behind), so the median needs more than five.
            rounds,
            # The SDK takes 5-15x raw aiohttp's time (minutes a run at 1,000 on a busy
            # machine): the references run in the first round only.
            every={name: rounds for name in calls if _ROLES[name] == "reference"},
        )
    finally:

        async def teardown() -> None:
            await session.close()
            await sdk_aio.close()
            await sdk_httpx.close()
            await mb.aclose()

        loop.run_until_complete(teardown())
        loop.close()
    count = request_count_check(srv, before, sum(tally.values()))
    absent = {"LiteLLM acompletion": ctx.litellm_absent}
    wall = {name: [w for w, _ in xs] for name, xs in samples.items()}
    cpu = {name: [c / n for _, c in xs] for name, xs in samples.items()}
    where = f"{n:,} requests, concurrency {concurrency:,}, 20 ms latency"
    key = f"async-c{concurrency}"
    r_wall = Row(
        key,
        f"async Client.achat: wall time, {where}",
        "s",
        f"per run of {n:,} requests",
        "raw aiohttp",
        measures(wall, _ROLES, absent),
    )
    r_cpu = Row(
        f"{key}-cpu",
        f"async Client.achat: client CPU per request, {where}",
        "s",
        "of process CPU per request",
        "raw aiohttp",
        measures(cpu, _ROLES, absent),
    )
    ratio = r_wall.ratio("modelbus Client.achat")
    assert ratio is not None
    r_wall.checks.append(
        Check(
            f"≥ {TARGET_THROUGHPUT}x raw aiohttp throughput",
            f"{1 / ratio:.2f}x",
            1 / ratio >= TARGET_THROUGHPUT,
        )
    )
    r_wall.checks.append(count)
    ideal = n / concurrency * LATENCY_MS / 1000
    mb_t = r_wall.get("modelbus Client.achat").median
    r_wall.notes.append(
        f"ideal (latency-bound) {ideal:.2f} s; modelbus {n / mb_t:,.0f} req/s; "
        "ratio column: time (lower is faster), throughput ratio = 1/ratio"
    )
    cpu_ratio = r_cpu.ratio("modelbus Client.achat")
    assert cpu_ratio is not None
    r_cpu.checks.append(
        Check(
            f"≤ {TARGET_CPU}x raw aiohttp CPU per request",
            f"{cpu_ratio:.2f}x",
            cpu_ratio <= TARGET_CPU,
        )
    )
    r_cpu.notes.append(
        "time.process_time() of the client process over a run / requests; the server is "
        "another process; a ratio of CPU per request holds on a loaded machine"
    )
    return [r_wall, r_cpu]


@row("async", "async Client.achat at concurrency 100 and 1,000, 20 ms latency", heavy=True)
def async_row(ctx: Context) -> list[Row]:
    return [
        *_async_rows(ctx, 100, ctx.scale(3000, 1000)),
        *_async_rows(ctx, 1000, ctx.scale(5000, 2000)),
    ]


@contextmanager
def _progress_to_devnull() -> Iterator[None]:
    """Let rich draw its live progress bar as on a terminal, into /dev/null: the bar's
    cost is paid, and the table stays readable."""
    saved_env = {k: os.environ.get(k) for k in ("TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    os.environ["TTY_COMPATIBLE"] = os.environ["TTY_INTERACTIVE"] = "1"
    saved_err = sys.stderr
    with open(os.devnull, "w") as devnull:
        sys.stderr = devnull
        try:
            yield
        finally:
            sys.stderr = saved_err
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@row("batch", "batch of 1,000 through modelbus batch, progress bar on", heavy=True)
def batch_row(ctx: Context) -> list[Row]:
    from modelbus._batch.files import abatch_file

    url = ctx.server(latency_ms=LATENCY_MS)
    n = ctx.scale(1000, 500)
    mb = ctx.client(url, cache="none")
    requests = [
        {"custom_id": f"r{i}", "body": {"model": MODEL, "messages": MESSAGES, **PARAMS}}
        for i in range(n)
    ]
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    in_path = tmp / "in.jsonl"
    in_path.write_text("".join(json.dumps(r) + "\n" for r in requests), encoding="utf-8")
    runs = 0

    async def raw_loop() -> None:
        await _bounded(n, CONCURRENCY, lambda: mb.achat(MESSAGES, model=MODEL, **PARAMS))

    async def fresh_loop() -> None:
        # What a hand-written loop over the file does: every line decoded into its own
        # dicts, so the engine builds each conversation anew (no memo hit by identity).
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(text: str) -> None:
            async with sem:
                body = json.loads(text)["body"]
                await mb.achat(body.pop("messages"), model=body.pop("model"), **body)

        lines = in_path.read_text(encoding="utf-8").splitlines()
        await asyncio.gather(*(one(x) for x in lines))

    async def client_abatch() -> None:
        results = await mb.abatch(requests, concurrency=CONCURRENCY, progress=True)
        assert len(results) == n and all(r.ok for r in results)

    async def file_batch() -> None:
        nonlocal runs
        runs += 1
        out = tmp / f"out-{runs}.jsonl"
        summary = await abatch_file(mb, in_path, out, concurrency=CONCURRENCY, progress=True)
        assert summary.succeeded == n, summary
        out.unlink()

    loop = asyncio.new_event_loop()
    cases = {
        "raw async loop over Client.achat": raw_loop,
        "Client.abatch": client_abatch,
        "batch engine on files (CLI's)": file_batch,
        FRESH: fresh_loop,
    }
    try:
        with _progress_to_devnull():
            for run in cases.values():
                loop.run_until_complete(run())
            # Nine rounds: a run's CPU swings by a third with when the collector runs (five
            # rounds let one slow round move a median; measured, 2026-12-04).
            samples = interleave(
                {name: _timed_run(loop, run) for name, run in cases.items()}, ctx.scale(9, 3)
            )
        loop.run_until_complete(mb.aclose())
    finally:
        loop.close()
        in_path.unlink()
        tmp.rmdir()
    roles: dict[str, Any] = {
        "raw async loop over Client.achat": "baseline",
        "Client.abatch": "subject",
        "batch engine on files (CLI's)": "subject",
        FRESH: "reference",
    }
    found = measures({name: [w for w, _ in xs] for name, xs in samples.items()}, roles)
    found[1].note = "progress=True"
    found[2].note = "abatch_file(progress=True): what `modelbus batch` runs, writing OUT.jsonl"
    title = f"batch of {n:,} through modelbus batch, progress bar on"
    r = Row(
        "batch",
        title,
        "s",
        f"per run of {n:,} requests",
        "raw async loop over Client.achat",
        found,
    )
    # The same runs' CPU: what the batch layer adds per request, which the machine's load
    # does not move the way it moves wall times (no target: the wall-time row has them).
    r_cpu = Row(
        "batch-cpu",
        f"batch of {n:,}: client CPU per request",
        "s",
        "of process CPU per request",
        "raw async loop over Client.achat",
        measures({name: [c / n for _, c in xs] for name, xs in samples.items()}, roles),
    )
    r_cpu.notes.append(
        "time.process_time() of the client process over a run / requests (the progress "
        "bar's drawing thread included); the server is another process"
    )
    for name in ("Client.abatch", "batch engine on files (CLI's)"):
        ratio = r.ratio(name)
        assert ratio is not None
        r.checks.append(
            Check(
                f"{name}: ≥ 0.9x raw async loop throughput",
                f"{1 / ratio:.2f}x",
                1 / ratio >= TARGET_BATCH,
            )
        )
    r.notes.append(
        f"concurrency {CONCURRENCY}, server latency 20 ms; the rich progress bar drawn live "
        "(into /dev/null)"
    )
    r.notes.append(
        f"the {n:,} requests are one conversation: the baseline passes the same dicts each "
        "time, Client.abatch passes the requests' own objects, the file engine shares a "
        f"file's equal messages; the {FRESH!r} reference shows a conversation built anew "
        "per request (the engine's Messages memo missed), what distinct requests cost"
    )
    return [r, r_cpu]
