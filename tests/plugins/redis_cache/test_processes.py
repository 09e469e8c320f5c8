"""Separate processes sharing one Redis: hits through a namespace (and not across
namespaces), and cross-process single-flight against a real HTTP upstream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelbus.testing.server import WireServer
from modelbus_redis_cache import RedisCache, RedisCacheSettings

from .conftest import unique_namespace
from .redis_server import RedisServer
from .worker import RESULT

WORKER = str(Path(__file__).with_name("worker.py"))
_TIMEOUT_S = 120


def _env() -> dict[str, str]:
    """This environment without anything that could point a worker elsewhere."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODELBUS_", "OPENAI_", "AZURE_OPENAI_"))
    }


def _config(srv: RedisServer, ns: str, **core: Any) -> dict[str, Any]:
    return {
        "modelbus": {"cache": "redis", **core},
        "caches": {"redis": {"url": srv.url, "namespace": ns}},
    }


def _run(config: dict[str, Any], *prompts: str, fake: bool = True) -> list[dict[str, Any]]:
    args = [sys.executable, WORKER, json.dumps(config), *(["--fake"] if fake else []), *prompts]
    out = subprocess.run(args, capture_output=True, text=True, timeout=_TIMEOUT_S, env=_env())
    assert out.returncode == 0, out.stderr
    return _results(out.stdout)


def _results(stdout: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[len(RESULT) :]) for line in stdout.splitlines() if line.startswith(RESULT)
    ]


def test_two_processes_share_hits_within_a_namespace(redis_server: RedisServer) -> None:
    ns, other = unique_namespace(), unique_namespace()
    first = _run(_config(redis_server, ns), "alpha", "beta")
    assert [(r["cached"], r["provider_calls"]) for r in first] == [(False, 1), (False, 2)]

    second = _run(_config(redis_server, ns), "alpha", "beta", "gamma")
    assert [r["content"] for r in second] == ["echo: alpha", "echo: beta", "echo: gamma"]
    assert [r["cached"] for r in second] == [True, True, False]
    assert second[-1]["provider_calls"] == 1  # only gamma reached the provider

    elsewhere = _run(_config(redis_server, other), "alpha", "beta")
    assert [r["cached"] for r in elsewhere] == [False, False]

    # The counters are shared too: both processes flushed theirs when they closed.
    cache = RedisCache(RedisCacheSettings(url=redis_server.url, namespace=ns))
    s = cache.stats()
    assert (s.hits, s.misses, s.sets, s.entries) == (2, 3, 3, 3)
    other_stats = RedisCache(RedisCacheSettings(url=redis_server.url, namespace=other)).stats()
    assert (other_stats.hits, other_stats.misses, other_stats.entries) == (0, 2, 2)
    cache.close()


@pytest.mark.slow
def test_eight_processes_make_one_upstream_call(redis_server: RedisServer) -> None:
    """8 worker processes ask the same uncached request at the same moment, through the
    real ``openai`` provider, of a WireServer that takes 0.5 s to answer: one request
    reaches it; the other 7 get its response from Redis."""
    with WireServer(latency=0.5) as upstream:
        config = _config(redis_server, unique_namespace(), provider="openai", model="gpt-4o-mini")
        config["providers"] = {"openai": {"base_url": upstream.base_url, "api_key": "sk-test"}}
        args = [sys.executable, WORKER, json.dumps(config), "--barrier", "same question"]
        procs = [
            subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=_env(),
            )
            for _ in range(8)
        ]
        try:
            for p in procs:  # every worker has built its client
                assert p.stdout is not None
                for line in p.stdout:
                    if line.strip() == "ready":
                        break
                else:
                    raise AssertionError(p.stderr.read() if p.stderr else "no ready line")
            for p in procs:  # go
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            results = []
            for p in procs:
                out, err = p.communicate(timeout=_TIMEOUT_S)
                assert p.returncode == 0, err
                results.extend(_results(out))
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        chat_requests = [r for r in upstream.requests if r.path.endswith("/chat/completions")]
    assert len(chat_requests) == 1
    assert len({r["content"] for r in results}) == 1
    assert sorted(r["cached"] for r in results) == [False] + [True] * 7
