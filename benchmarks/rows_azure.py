"""The ``azure`` provider (modelbus-azure) against its floors: a sync chat beside a raw
httpx POST to the same Azure URL and beside ``openai.AzureOpenAI``; a fresh process's
``Client()`` and first call beside the ``AzureOpenAI`` SDK's. The raw asyncio server
answers every POST whatever its path, so the Azure deployment URL needs no other server."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from ._context import API_KEY, Context, request_count_check
from ._harness import MESSAGES, MODEL, PARAMS, Check, Row, interleave, measures, row, single
from .rows_calls import TARGET_SYNC, counting
from .rows_startup import CHAT_PATH_FREE_OF, TARGET_FIRST_CALL, _child_env, _lines, _report

API_VERSION = "2024-10-21"
DEPLOYMENT = "bench-gpt4o-mini"


def _azure_config(endpoint: str) -> dict[str, Any]:
    azure = {
        "endpoint": endpoint,
        "api_key": API_KEY,
        "api_version": API_VERSION,
        "deployments": {MODEL: DEPLOYMENT},
    }
    return {"modelbus": {"provider": "azure", "cache": "none"}, "providers": {"azure": azure}}


@row("azure-chat", "sync Client.chat through modelbus-azure, no cache")
def azure_chat_row(ctx: Context) -> list[Row]:
    import httpx
    import openai

    import modelbus

    srv = ctx.raw_server()
    endpoint = srv.base_url.removesuffix("/v1")
    body = {"model": DEPLOYMENT, "messages": MESSAGES, **PARAMS}
    hx = httpx.Client(base_url=endpoint, headers={"api-key": API_KEY})
    ctx.stack.callback(hx.close)
    az = openai.AzureOpenAI(
        azure_endpoint=endpoint, api_key=API_KEY, api_version=API_VERSION, max_retries=0
    )
    ctx.stack.callback(az.close)
    mb = modelbus.Client(_azure_config(endpoint))
    ctx.stack.callback(mb.close)
    path = f"/openai/deployments/{DEPLOYMENT}/chat/completions"

    def raw_httpx() -> Any:
        r = hx.post(path, params={"api-version": API_VERSION}, json=body)
        r.raise_for_status()
        return r.json()

    def sdk() -> Any:
        return az.chat.completions.create(model=DEPLOYMENT, messages=MESSAGES, **PARAMS)

    def modelbus_chat() -> Any:
        return mb.chat(MESSAGES, model=MODEL, **PARAMS)

    tally: dict[str, int] = {}
    cases: dict[str, Callable[[], float]] = {
        "raw httpx POST": single(counting(raw_httpx, tally, "httpx")),
        "AzureOpenAI SDK": single(counting(sdk, tally, "sdk")),
        "modelbus Client.chat (azure)": single(counting(modelbus_chat, tally, "modelbus")),
    }
    before = srv.count()
    resp = modelbus_chat()
    assert resp.content and not resp.cached
    samples = interleave(cases, ctx.scale(1500, 150), warmup=ctx.scale(20, 5))
    roles: dict[str, Any] = {
        "raw httpx POST": "floor",
        "AzureOpenAI SDK": "reference",
        "modelbus Client.chat (azure)": "subject",
    }
    r = Row(
        "azure-chat",
        "sync Client.chat through modelbus-azure (api-key), 1 prompt, no cache",
        "s",
        "per call",
        "raw httpx POST",
        measures(samples, roles),
    )
    ratio = r.ratio("modelbus Client.chat (azure)")
    assert ratio is not None
    r.checks.append(
        Check(f"≤ {TARGET_SYNC}x raw httpx POST (median)", f"{ratio:.2f}x", ratio <= TARGET_SYNC)
    )
    r.checks.append(request_count_check(srv, before, 1 + sum(tally.values())))
    r.notes.append(
        "raw asyncio server process, no latency; every contender POSTs to "
        f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version={API_VERSION} "
        "with the api-key header"
    )
    return [r]


_FIRST_CALL = {
    "AzureOpenAI first call": """
import time; t0 = time.perf_counter()
import openai
c = openai.AzureOpenAI(azure_endpoint={endpoint!r}, api_key={key!r}, api_version={version!r})
r = c.chat.completions.create(model={deployment!r}, messages={messages!r}, **{params!r})
assert r.choices[0].message.content
print(time.perf_counter() - t0)
""",
    "modelbus first call (azure)": """
import time; t0 = time.perf_counter()
from modelbus import Client
c = Client({config!r})
r = c.chat({messages!r}, model={model!r}, **{params!r})
assert r.content
import sys
print("loaded:" + ",".join(m for m in {free!r} if m in sys.modules))
print(time.perf_counter() - t0)
""",
}


@row("azure-first-call", "a fresh process's Client() and first call on the azure provider")
def azure_first_call_row(ctx: Context) -> list[Row]:
    srv = ctx.raw_server()
    endpoint = srv.base_url.removesuffix("/v1")
    before = srv.count()
    fmt: dict[str, Any] = {
        "endpoint": endpoint,
        "key": API_KEY,
        "version": API_VERSION,
        "deployment": DEPLOYMENT,
        "model": MODEL,
        "messages": MESSAGES,
        "params": PARAMS,
        "config": _azure_config(endpoint),
        "free": CHAT_PATH_FREE_OF,
    }
    codes = {name: src.format(**fmt) for name, src in _FIRST_CALL.items()}
    rounds = ctx.scale(8, 4)
    with tempfile.TemporaryDirectory() as tmp:
        env = _child_env(tmp)
        fns = {name: (lambda c=code: _report(c, env, tmp)) for name, code in codes.items()}
        samples = interleave(fns, rounds, warmup=1)
        loaded = _lines(codes["modelbus first call (azure)"], env, tmp)[-2].removeprefix("loaded:")
    calls = sum(len(v) for v in samples.values()) + len(codes) + 1  # + warm-ups, probe
    roles = {"AzureOpenAI first call": "baseline", "modelbus first call (azure)": "subject"}
    r = Row(
        "azure-first-call",
        "a fresh process's Client() and first call on the azure provider",
        "s",
        "per process",
        "AzureOpenAI first call",
        measures(samples, roles),
    )
    ratio = r.ratio("modelbus first call (azure)")
    assert ratio is not None
    r.checks.append(
        Check(
            f"≤ {TARGET_FIRST_CALL}x AzureOpenAI import + client + first call",
            f"{ratio:.2f}x",
            ratio <= TARGET_FIRST_CALL,
        )
    )
    r.checks.append(
        Check(
            "the azure chat path imports neither " + " nor ".join(CHAT_PATH_FREE_OF),
            f"loaded: {loaded}" if loaded else "neither loaded",
            not loaded,
        )
    )
    r.checks.append(request_count_check(srv, before, calls))
    r.notes.append(
        "each sample: a fresh `python -S`, timed in it from before the first import to the "
        "first answer; raw asyncio server process; modelbus byte-compiled first"
    )
    return [r]
