"""Throughput rows against a WireServer process answering after 20 ms: many requests at a
fixed concurrency through one event loop. A sample is the wall time of a whole run; the
contenders take turns run by run, after a warm-up run each."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._context import API_KEY, Context
from ._harness import MESSAGES, MODEL, PARAMS, Check, Row, interleave, measures, row

LATENCY_MS = 20.0
CONCURRENCY = 100
TARGET_VS_OPENAI = 3.0
TARGET_VS_AIOHTTP = 0.5
TARGET_BATCH = 0.9


async def _bounded(n: int, concurrency: int, call: Callable[[], Awaitable[Any]]) -> None:
    """``n`` calls, at most ``concurrency`` in flight: the semaphore pattern of the
    openai SDK's documentation, the same for every contender."""
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            await call()

    await asyncio.gather(*(one() for _ in range(n)))


def _runner(
    loop: asyncio.AbstractEventLoop, run: Callable[[], Awaitable[Any]]
) -> Callable[[], float]:
    def sample() -> float:
        t = loop.time()
        loop.run_until_complete(run())
        return loop.time() - t

    return sample


@row("async", "async Client.achat, 5,000 requests, concurrency 100, 20 ms latency", heavy=True)
def async_row(ctx: Context) -> list[Row]:
    import aiohttp
    import openai

    url = ctx.server(latency_ms=LATENCY_MS)
    n = ctx.scale(5000, 1000)
    loop = asyncio.new_event_loop()
    body = {"model": MODEL, "messages": MESSAGES, **PARAMS}
    mb = ctx.client(url, cache="none")

    async def setup() -> tuple[Any, Any]:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONCURRENCY),
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        return session, openai.AsyncOpenAI(base_url=url, api_key=API_KEY)

    session, aoa = loop.run_until_complete(setup())

    async def raw_aiohttp() -> Any:
        async with session.post(f"{url}/chat/completions", json=body) as r:
            r.raise_for_status()
            return await r.json()

    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "raw aiohttp": raw_aiohttp,
        "raw AsyncOpenAI + semaphore": lambda: aoa.chat.completions.create(
            model=MODEL, messages=MESSAGES, **PARAMS
        ),
        "modelbus Client.achat": lambda: mb.achat(MESSAGES, model=MODEL, **PARAMS),
    }
    ll = ctx.litellm()
    if ll is not None:
        calls["LiteLLM acompletion"] = lambda: ll.acompletion(
            model=f"openai/{MODEL}", api_base=url, api_key=API_KEY, messages=MESSAGES, **PARAMS
        )
    try:
        for call in calls.values():  # warm-up: connections opened, code paths loaded
            loop.run_until_complete(_bounded(min(n, 200), CONCURRENCY, call))
        samples = interleave(
            {
                name: _runner(loop, lambda c=call: _bounded(n, CONCURRENCY, c))
                for name, call in calls.items()
            },
            ctx.scale(3, 1),
            # The slow contenders take 10-25 s a run: fewer runs keep the row near 1 min.
            every={"raw AsyncOpenAI + semaphore": 2, "LiteLLM acompletion": 3},
        )
    finally:

        async def teardown() -> None:
            await session.close()
            await aoa.close()
            await mb.aclose()

        loop.run_until_complete(teardown())
        loop.close()
    roles: dict[str, Any] = {
        "raw aiohttp": "floor",
        "raw AsyncOpenAI + semaphore": "baseline",
        "modelbus Client.achat": "subject",
        "LiteLLM acompletion": "reference",
    }
    found = measures(samples, roles, {"LiteLLM acompletion": ctx.litellm_absent})
    title = f"async Client.achat, {n:,} requests, concurrency {CONCURRENCY}, 20 ms latency"
    r = Row("async", title, "s", f"per run of {n:,} requests", "raw AsyncOpenAI + semaphore", found)
    mb_t = r.get("modelbus Client.achat").median
    vs_openai = r.get("raw AsyncOpenAI + semaphore").median / mb_t
    vs_aiohttp = r.get("raw aiohttp").median / mb_t
    ideal = n / CONCURRENCY * LATENCY_MS / 1000
    r.checks.append(
        Check("≥ 3x raw AsyncOpenAI throughput", f"{vs_openai:.2f}x", vs_openai >= TARGET_VS_OPENAI)
    )
    r.checks.append(
        Check(
            "≥ 0.5x raw aiohttp throughput", f"{vs_aiohttp:.2f}x", vs_aiohttp >= TARGET_VS_AIOHTTP
        )
    )
    r.notes.append(
        f"ideal (latency-bound) {ideal:.2f} s; modelbus {n / mb_t:,.0f} req/s; "
        "ratio column: time (lower is faster), throughput ratio = 1/ratio"
    )
    return [r]


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
    from modelbus._batch_file import abatch_file

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
    }
    try:
        with _progress_to_devnull():
            for run in cases.values():
                loop.run_until_complete(run())
            samples = interleave(
                {name: _runner(loop, run) for name, run in cases.items()}, ctx.scale(5, 3)
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
    }
    found = measures(samples, roles)
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
    return [r]
