"""Cache hits through ``Client.chat`` beside the raw lookups under them (the rows of
``bench_cache.py`` and ``bench_redis.py``, which stay as standalone scripts with their
extra cases). The client is the real ``openai`` provider on the local WireServer: its one
miss fills the cache, every measured call is a hit."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._context import API_KEY, Context, request_count_check
from ._harness import (
    MESSAGES,
    MODEL,
    PARAMS,
    Check,
    Measure,
    Row,
    batched,
    interleave,
    measures,
    row,
    single,
)

TARGET_MEMORY = 2.0  # over sha256 + dict
TARGET_SQLITE_S = 150e-6
TARGET_REDIS = 1.3


def _hit(client: Any) -> Callable[[], Any]:
    first = client.chat(MESSAGES, model=MODEL, **PARAMS)
    again = client.chat(MESSAGES, model=MODEL, **PARAMS)
    assert not first.cached and again.cached, "the second call must be a cache hit"
    return lambda: client.chat(MESSAGES, model=MODEL, **PARAMS)


@contextmanager
def _litellm_hit(
    ctx: Context, url: str, cache_kwargs: dict[str, Any], absent: dict[str, str], name: str
) -> Iterator[Callable[[], Any] | None]:
    """A LiteLLM completion answered by ``litellm.Cache(**cache_kwargs)`` (``None``, and
    the reason in ``absent[name]``, when LiteLLM or its cache cannot run here). The cache
    is global in LiteLLM, so it is set for the row only."""
    ll = ctx.litellm()
    if ll is None:
        absent[name] = ctx.litellm_absent
        yield None
        return

    def call() -> Any:
        return ll.completion(
            model=f"openai/{MODEL}",
            api_base=url,
            api_key=API_KEY,
            messages=MESSAGES,
            caching=True,
            **PARAMS,
        )

    ll.cache = ll.Cache(**cache_kwargs)
    try:
        try:
            call()
            hidden = getattr(call(), "_hidden_params", {}) or {}
        except Exception as exc:  # a LiteLLM install without its optional cache deps
            absent[name] = f"LiteLLM cache failed here: {type(exc).__name__}: {exc}"
            yield None
            return
        if not hidden.get("cache_hit"):
            absent[name] = "LiteLLM's second call was not a cache hit"
            yield None
            return
        yield call
    finally:
        ll.cache = None


@row("memory-cache", "memory-cache hit through Client.chat")
def memory_row(ctx: Context) -> list[Row]:
    srv = ctx.raw_server()
    url = srv.base_url
    mb = ctx.client(url, cache="memory")
    before = srv.count()
    hit = _hit(mb)
    # The floor: what caching by hand costs per call, a key made from the request
    # (canonical JSON, sha256) looked up in a dict of 1,000 entries holding the answers.
    body = {"model": MODEL, "messages": MESSAGES, **PARAMS}
    d: dict[str, Any] = {f"{i:064x}": object() for i in range(999)}
    key = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    d[key.hexdigest()] = hit()
    k = f"{500:064x}"

    def sha256_dict() -> Any:
        data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return d[hashlib.sha256(data).hexdigest()]

    # Like with like: the floor is too fast to time one call at a time, so a sample is
    # the mean of 100 calls in a row, and the hit it is compared with is sampled the
    # same way. One call per sample (the caches cold from the other contenders' turns)
    # is shown for both as references: that adds the same cold start to each side.
    cases: dict[str, Callable[[], float]] = {
        "sha256 + dict": batched(sha256_dict, 100),
        "modelbus memory hit": batched(hit, 100),
        "sha256 + dict, one call per sample": single(sha256_dict),
        "modelbus memory hit, one call per sample": single(hit),
        "dict lookup (precomputed key)": batched(lambda: d[k], 1000),
    }
    # LiteLLM's in-memory cache, to compare: 1-2 ms a hit, so it takes every 10th round.
    absent: dict[str, str] = {}
    with _litellm_hit(ctx, url, {"type": "local"}, absent, "LiteLLM memory hit") as ll:
        if ll is not None:
            cases["LiteLLM memory hit"] = single(ll)
        rounds = ctx.scale(4000, 400)
        samples = interleave(cases, rounds, warmup=200, every={"LiteLLM memory hit": 10})
    roles: dict[str, Any] = {
        "sha256 + dict": "floor",
        "modelbus memory hit": "subject",
        "sha256 + dict, one call per sample": "reference",
        "modelbus memory hit, one call per sample": "reference",
        "dict lookup (precomputed key)": "reference",
        "LiteLLM memory hit": "reference",
    }
    r = Row(
        "memory-cache",
        "memory-cache hit through Client.chat",
        "s",
        "per call",
        "sha256 + dict",
        measures(samples, roles, absent),
    )
    ratio = r.ratio("modelbus memory hit")
    assert ratio is not None
    r.checks.append(
        Check(f"≤ {TARGET_MEMORY}x sha256 + dict (median)", f"{ratio:.2f}x", ratio <= TARGET_MEMORY)
    )
    # One miss filled the cache; every other call was a hit (LiteLLM's own miss aside).
    r.checks.append(
        request_count_check(srv, before, 1 + (1 if "LiteLLM memory hit" in cases else 0))
    )
    r.notes.append(
        "floor: json.dumps(request, sort_keys=True) + sha256 + a dict of 1,000; floor and "
        "hit are each sampled as the mean of 100 calls in a row (one call per sample "
        "shown for both as references); the bare lookup of a precomputed key is no "
        "cache's cost (it skips the key)"
    )
    return [r]


@row("sqlite-cache", "sqlite-cache hit through Client.chat")
def sqlite_row(ctx: Context) -> list[Row]:
    url = ctx.server()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sqlite-"))
    db = tmp / "cache.sqlite3"
    mb = ctx.client(url, cache="sqlite", sqlite={"path": str(db)})
    hit = _hit(mb)
    raw = sqlite3.connect(db, isolation_level=None)
    ctx.stack.callback(raw.close)
    (key,) = raw.execute("SELECT key FROM entries").fetchone()
    select = "SELECT value FROM entries WHERE key = ?"
    cases = {
        "raw sqlite SELECT": single(lambda: raw.execute(select, (key,)).fetchone()),
        "modelbus sqlite hit": single(hit),
    }
    samples = interleave(cases, ctx.scale(4000, 400), warmup=200)
    roles: dict[str, Any] = {"raw sqlite SELECT": "baseline", "modelbus sqlite hit": "subject"}
    r = Row(
        "sqlite-cache",
        "sqlite-cache hit through Client.chat",
        "s",
        "per call",
        "raw sqlite SELECT",
        measures(samples, roles),
    )
    med = r.get("modelbus sqlite hit").median
    r.checks.append(Check("≤ 150 µs median", f"{med * 1e6:.1f} µs", med <= TARGET_SQLITE_S))
    r.notes.append("raw SELECT on the cache's own file, through a second connection")
    return [r]


@row("redis-cache", "redis-cache hit through Client.chat")
def redis_row(ctx: Context) -> list[Row]:
    import shutil

    import redis

    from .bench_redis import redis_server

    if shutil.which("redis-server") is None:
        why = "redis-server not installed (apt-get install redis-server)"
        r = Row(
            "redis-cache",
            "redis-cache hit through Client.chat",
            "s",
            "per call",
            "raw redis-py GET",
            [
                Measure("raw redis-py GET", "baseline", absent=why),
                Measure("modelbus redis hit", "subject", absent=why),
            ],
        )
        r.checks.append(Check("≤ 1.3x raw redis-py GET (median)", why, None))
        return [r]
    url = ctx.server()
    redis_url = ctx.stack.enter_context(redis_server())
    namespace = f"bench-{os.getpid()}"
    mb = ctx.client(url, cache="redis", redis={"url": redis_url, "namespace": namespace})
    hit = _hit(mb)
    raw = redis.Redis.from_url(redis_url)
    ctx.stack.callback(raw.close)
    # The very bytes the cache stored, under a plain key: what caching by hand would GET.
    [vkey] = list(raw.scan_iter(match=f"modelbus:{{{namespace}}}:v:*"))
    value = raw.hget(vkey, "v")
    assert value
    raw.set("bench:raw", value)
    cases: dict[str, Callable[[], float]] = {
        "raw redis-py GET": single(lambda: raw.get("bench:raw")),
        "modelbus redis hit": single(hit),
    }
    absent: dict[str, str] = {}
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    ll_cache = {"type": "redis", "host": host, "port": int(port)}
    with _litellm_hit(ctx, url, ll_cache, absent, "LiteLLM redis hit") as ll:
        if ll is not None:
            cases["LiteLLM redis hit"] = single(ll)
        samples = interleave(
            cases, ctx.scale(4000, 400), warmup=200, every={"LiteLLM redis hit": 10}
        )
    roles: dict[str, Any] = {
        "raw redis-py GET": "baseline",
        "modelbus redis hit": "subject",
        "LiteLLM redis hit": "reference",
    }
    r = Row(
        "redis-cache",
        "redis-cache hit through Client.chat",
        "s",
        "per call",
        "raw redis-py GET",
        measures(samples, roles, absent),
    )
    ratio = r.ratio("modelbus redis hit")
    assert ratio is not None
    r.checks.append(
        Check("≤ 1.3x raw redis-py GET (median)", f"{ratio:.2f}x", ratio <= TARGET_REDIS)
    )
    r.notes.append(f"private redis-server on loopback; cache value {len(value)} bytes")
    return [r]
