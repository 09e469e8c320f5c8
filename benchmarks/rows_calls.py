"""Sync calls against the local WireServer process (no latency): one chat completion, and
one streamed answer (time to first chunk and total). The contenders take turns call by
call; every one sends the same request."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ._context import API_KEY, Context, request_count_check
from ._harness import MESSAGES, MODEL, PARAMS, Check, Row, interleave, measures, row, single

TARGET_SYNC = 1.3  # over the raw httpx POST: the floor
TARGET_STREAM = 1.0

_now = time.perf_counter


def long_chat(n: int) -> list[dict[str, str]]:
    """A conversation of ``n`` messages (system first, then user/assistant turns) of about
    150 characters each: about 40 tokens a message, so 1,000 fit gpt-4o-mini's window,
    while the byte bound (bytes + 32 per message) no longer proves it and the exact count
    runs (``_prepare.fit_context``)."""
    out = [MESSAGES[0]]
    for i in range(1, n):
        role = "user" if i % 2 else "assistant"
        text = (
            f"Turn {i}: the {role} talks about the capital of France, its museums, "
            f"its river and the towers that made it famous in the last {i % 97} years."
        )
        out.append({"role": role, "content": text})
    return out


def counting(fn: Callable[[], Any], tally: dict[str, int], name: str) -> Callable[[], Any]:
    """``fn`` that adds one to ``tally[name]`` per call (for the request-count check)."""
    tally[name] = 0

    def call() -> Any:
        tally[name] += 1
        return fn()

    return call


def _raw_clients(ctx: Context, url: str) -> tuple[Any, Any]:
    """An httpx client (the floor) and an openai SDK client (a reference) on ``url``,
    closed at the end of the run."""
    import httpx
    import openai

    hx = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"})
    ctx.stack.callback(hx.close)
    oa = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0)
    ctx.stack.callback(oa.close)
    return hx, oa


def _sync_chat(ctx: Context, n_messages: int, rounds: int, sdk_every: int = 1) -> Row:
    srv = ctx.raw_server()
    url = srv.base_url
    messages = MESSAGES if n_messages <= len(MESSAGES) else long_chat(n_messages)
    body = {"model": MODEL, "messages": messages, **PARAMS}
    hx, oa = _raw_clients(ctx, url)
    mb = ctx.client(url, cache="none")

    def raw_httpx() -> Any:
        r = hx.post("/chat/completions", json=body)
        r.raise_for_status()
        return r.json()

    def sdk() -> Any:
        return oa.chat.completions.create(model=MODEL, messages=messages, **PARAMS)

    def modelbus() -> Any:
        return mb.chat(messages, model=MODEL, **PARAMS)

    tally: dict[str, int] = {}
    cases: dict[str, Callable[[], float]] = {
        "raw httpx POST": single(counting(raw_httpx, tally, "httpx")),
        "raw openai SDK": single(counting(sdk, tally, "sdk")),
        "modelbus Client.chat": single(counting(modelbus, tally, "modelbus")),
    }
    ll = ctx.litellm()
    if ll is not None:

        def litellm() -> Any:
            return ll.completion(
                model=f"openai/{MODEL}", api_base=url, api_key=API_KEY, messages=messages, **PARAMS
            )

        cases["LiteLLM completion"] = single(counting(litellm, tally, "litellm"))
    before = srv.count()
    resp = modelbus()
    assert resp.content and not resp.cached
    every = {"LiteLLM completion": 3 * sdk_every, "raw openai SDK": sdk_every}
    samples = interleave(cases, rounds, warmup=ctx.scale(20, 5), every=every)
    roles: dict[str, Any] = {
        "raw httpx POST": "floor",
        "raw openai SDK": "reference",
        "modelbus Client.chat": "subject",
        "LiteLLM completion": "reference",
    }
    found = measures(samples, roles, {"LiteLLM completion": ctx.litellm_absent})
    what = "1 prompt" if n_messages <= len(MESSAGES) else f"{n_messages:,} messages"
    title = f"sync Client.chat, {what}, no cache"
    key = "sync-chat" if n_messages <= len(MESSAGES) else f"sync-chat-{n_messages}"
    r = Row(key, title, "s", "per call", "raw httpx POST", found)
    ratio = r.ratio("modelbus Client.chat")
    assert ratio is not None
    r.checks.append(
        Check(f"≤ {TARGET_SYNC}x raw httpx POST (median)", f"{ratio:.2f}x", ratio <= TARGET_SYNC)
    )
    r.checks.append(request_count_check(srv, before, 1 + sum(tally.values())))
    r.notes.append(
        f"raw asyncio server process, no latency; {len(messages):,} messages "
        f"({len(json.dumps(body)):,} bytes of JSON)"
    )
    return r


@row("sync-chat", "sync Client.chat through modelbus-openai, 1 and 1,000 messages, no cache")
def sync_chat_row(ctx: Context) -> list[Row]:
    return [
        _sync_chat(ctx, len(MESSAGES), ctx.scale(1500, 150)),
        # The SDK takes ~0.3 s a call at 1,000 messages (its models): every 5th round.
        _sync_chat(ctx, 1000, ctx.scale(300, 40), sdk_every=5),
    ]


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
