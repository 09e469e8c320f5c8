"""Sync calls against the local WireServer process (no latency): one chat completion, and
one streamed answer (time to first chunk and total). The contenders take turns call by
call; every one sends the same request."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ._context import API_KEY, Context
from ._harness import MESSAGES, MODEL, PARAMS, Check, Row, interleave, measures, row, single

TARGET_SYNC = 1.0
TARGET_STREAM = 1.0

_now = time.perf_counter


def _raw_clients(ctx: Context, url: str) -> tuple[Any, Any]:
    """An httpx client (the floor) and an openai SDK client (the baseline) on ``url``,
    closed at the end of the run."""
    import httpx
    import openai

    hx = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"})
    ctx.stack.callback(hx.close)
    oa = openai.OpenAI(base_url=url, api_key=API_KEY)
    ctx.stack.callback(oa.close)
    return hx, oa


@row("sync-chat", "sync Client.chat through modelbus-openai, no cache")
def sync_chat_row(ctx: Context) -> list[Row]:
    url = ctx.server()
    body = {"model": MODEL, "messages": MESSAGES, **PARAMS}
    hx, oa = _raw_clients(ctx, url)
    mb = ctx.client(url, cache="none")

    def raw_httpx() -> Any:
        r = hx.post("/chat/completions", json=body)
        r.raise_for_status()
        return r.json()

    cases: dict[str, Callable[[], float]] = {
        "raw httpx POST": single(raw_httpx),
        "raw openai SDK": single(
            lambda: oa.chat.completions.create(model=MODEL, messages=MESSAGES, **PARAMS)
        ),
        "modelbus Client.chat": single(lambda: mb.chat(MESSAGES, model=MODEL, **PARAMS)),
    }
    ll = ctx.litellm()
    if ll is not None:
        cases["LiteLLM completion"] = single(
            lambda: ll.completion(
                model=f"openai/{MODEL}", api_base=url, api_key=API_KEY, messages=MESSAGES, **PARAMS
            )
        )
    resp = mb.chat(MESSAGES, model=MODEL, **PARAMS)
    assert resp.content and not resp.cached
    rounds = ctx.scale(1500, 150)
    samples = interleave(cases, rounds, warmup=ctx.scale(100, 20), every={"LiteLLM completion": 3})
    roles: dict[str, Any] = {
        "raw httpx POST": "floor",
        "raw openai SDK": "baseline",
        "modelbus Client.chat": "subject",
        "LiteLLM completion": "reference",
    }
    found = measures(samples, roles, {"LiteLLM completion": ctx.litellm_absent})
    r = Row(
        "sync-chat",
        "sync Client.chat through modelbus-openai, no cache",
        "s",
        "per call",
        "raw openai SDK",
        found,
    )
    ratio = r.ratio("modelbus Client.chat")
    assert ratio is not None
    r.checks.append(
        Check(
            "≤ 1.0x raw openai chat.completions.create (median)",
            f"{ratio:.2f}x",
            ratio <= TARGET_SYNC,
        )
    )
    r.notes.append("WireServer process, no latency; a recorded chat.completion reply")
    return [r]


def _timed_stream(it_factory: Callable[[], Any]) -> Callable[[], tuple[float, float, int]]:
    """One sample: (seconds to the first chunk, seconds to the end, chunks)."""

    def sample() -> tuple[float, float, int]:
        t = _now()
        first = 0.0
        n = 0
        for _ in it_factory():
            if n == 0:
                first = _now() - t
            n += 1
        return first, _now() - t, n

    return sample


@row("stream", "streaming, time to first chunk and total")
def stream_row(ctx: Context) -> list[Row]:
    url = ctx.server()
    opts = {"stream": True, "stream_options": {"include_usage": True}}
    body = {"model": MODEL, "messages": MESSAGES, **PARAMS, **opts}
    hx, oa = _raw_clients(ctx, url)
    mb = ctx.client(url, cache="none")

    def raw_httpx() -> Any:
        with hx.stream("POST", "/chat/completions", json=body) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    yield json.loads(line[6:])

    def raw_sdk() -> Any:
        return oa.chat.completions.create(model=MODEL, messages=MESSAGES, **PARAMS, **opts)

    def modelbus_stream() -> Any:
        s = mb.stream(MESSAGES, model=MODEL, **PARAMS)
        yield from s
        assert s.response is not None

    cases = {
        "raw httpx stream": _timed_stream(raw_httpx),
        "raw openai SDK stream": _timed_stream(raw_sdk),
        "modelbus Client.stream": _timed_stream(modelbus_stream),
    }
    ll = ctx.litellm()
    if ll is not None:
        cases["LiteLLM stream"] = _timed_stream(
            lambda: ll.completion(
                model=f"openai/{MODEL}",
                api_base=url,
                api_key=API_KEY,
                messages=MESSAGES,
                **PARAMS,
                **opts,
            )
        )
    rounds = ctx.scale(800, 100)
    samples = interleave(cases, rounds, warmup=ctx.scale(50, 10), every={"LiteLLM stream": 8})
    chunks = {name: s[0][2] for name, s in samples.items()}
    rows = []
    roles: dict[str, Any] = {
        "raw httpx stream": "floor",
        "raw openai SDK stream": "baseline",
        "modelbus Client.stream": "subject",
        "LiteLLM stream": "reference",
    }
    for key, idx, title in (
        ("stream-first-chunk", 0, "streaming: time to first chunk"),
        ("stream-total", 1, "streaming: total"),
    ):
        metric = {name: [x[idx] for x in xs] for name, xs in samples.items()}
        found = measures(metric, roles, {"LiteLLM stream": ctx.litellm_absent})
        r = Row(key, title, "s", "per streamed answer", "raw openai SDK stream", found)
        ratio = r.ratio("modelbus Client.stream")
        assert ratio is not None
        r.checks.append(
            Check("≤ 1.0x raw SDK stream (median)", f"{ratio:.2f}x", ratio <= TARGET_STREAM)
        )
        r.notes.append("chunks per answer: " + ", ".join(f"{k} {v}" for k, v in chunks.items()))
        rows.append(r)
    return rows
