"""Cross-process single-flight through the pipeline: two clients with their own Redis
connections stand for two processes (the 8-process version is in test_processes.py).

The provider is a FakeProvider held at a gate, so the test decides when the first call
finishes, after checking on the server that the second caller is really waiting."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelbus import ChatRequest, ChatResponse, Client
from modelbus.errors import BadRequestError
from modelbus.testing import FakeProvider, make_client
from modelbus_redis_cache import RedisCache

from .conftest import unique_namespace
from .redis_server import RedisServer

_WAIT_S = 10.0


class GatedProvider(FakeProvider):
    """A FakeProvider whose calls wait until ``gate`` is set (at most 10 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.entries = 0

    def chat(self, request: ChatRequest) -> ChatResponse:
        with self._lock:
            self.entries += 1
        self.entered.set()
        assert self.gate.wait(_WAIT_S), "the test never opened the gate"
        return super().chat(request)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        self.entered.set()
        assert await asyncio.to_thread(self.gate.wait, _WAIT_S)
        return await super().achat(request)


def _until(cond: Any, what: str) -> None:
    deadline = time.monotonic() + _WAIT_S
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@pytest.fixture
def clients(redis_server: RedisServer) -> Iterator[tuple[GatedProvider, Client, Client, Any]]:
    """Two clients ("processes") on one namespace, one gated provider, a raw Redis client."""
    provider = GatedProvider()
    config = {
        "modelbus": {"cache": "redis"},
        "caches": {
            "redis": {
                "url": redis_server.url,
                "namespace": unique_namespace(),
                "lock_wait_s": _WAIT_S,
            }
        },
    }
    a, b = make_client(provider, config), make_client(provider, config)
    assert isinstance(a.cache, RedisCache) and a.cache is not b.cache
    r = redis_server.client()
    yield provider, a, b, r
    a.close()
    b.close()
    r.close()


def _waiting(r: Any, cache: RedisCache) -> bool:
    """Someone is subscribed to a done-channel of this namespace (a waiter)."""
    return any(n for _, n in r.pubsub_numsub(*r.pubsub_channels(cache.prefix + "done:*")))


def _locked(r: Any, cache: RedisCache) -> bool:
    return any(r.scan_iter(match=cache.prefix + "lock:*"))


def test_second_caller_waits_for_the_first(clients: tuple[Any, Client, Client, Any]) -> None:
    provider, a, b, r = clients
    results: dict[str, ChatResponse] = {}
    ta = threading.Thread(target=lambda: results.setdefault("a", a.chat("q")))
    ta.start()
    _until(lambda: provider.entered.is_set() and _locked(r, a.cache), "the first call")
    tb = threading.Thread(target=lambda: results.setdefault("b", b.chat("q")))
    tb.start()
    _until(lambda: _waiting(r, a.cache), "the second caller to wait")
    provider.gate.set()
    ta.join(_WAIT_S)
    tb.join(_WAIT_S)
    assert provider.calls == 1
    assert (results["a"].cached, results["b"].cached) == (False, True)
    assert results["b"].content == results["a"].content == "echo: q"
    assert (b.usage_totals.requests, b.usage_totals.cache_hits) == (0, 1)
    assert not _locked(r, a.cache)  # released


def test_leader_failure_lets_the_waiter_call(clients: tuple[Any, Client, Client, Any]) -> None:
    provider, a, b, r = clients
    provider.enqueue_error(400, "bad request for the first caller only")
    errors: list[BaseException] = []
    results: list[ChatResponse] = []

    def first() -> None:
        try:
            a.chat("q")
        except BadRequestError as exc:
            errors.append(exc)

    ta = threading.Thread(target=first)
    ta.start()
    _until(lambda: provider.entered.is_set() and _locked(r, a.cache), "the first call")
    tb = threading.Thread(target=lambda: results.append(b.chat("q")))
    tb.start()
    _until(lambda: _waiting(r, a.cache), "the second caller to wait")
    provider.gate.set()
    ta.join(_WAIT_S)
    tb.join(_WAIT_S)
    assert len(errors) == 1  # the leader's error is its own
    assert [x.cached for x in results] == [False]  # woken by the release, it called itself
    assert provider.calls == 2


def test_wait_is_bounded(redis_server: RedisServer) -> None:
    provider = GatedProvider()
    ns = unique_namespace()
    config = {
        "modelbus": {"cache": "redis"},
        "caches": {"redis": {"url": redis_server.url, "namespace": ns}},
    }
    a = make_client(provider, config)
    b = make_client(
        provider,
        {
            **config,
            "caches": {"redis": {"url": redis_server.url, "namespace": ns, "lock_wait_s": 0.05}},
        },
    )
    results: list[ChatResponse] = []
    ta = threading.Thread(target=lambda: results.append(a.chat("q")))
    ta.start()
    _until(lambda: provider.entries == 1, "the first call")
    tb = threading.Thread(target=lambda: results.append(b.chat("q")))
    tb.start()
    # The second caller gives up waiting after 0.05 s and calls the provider itself.
    _until(lambda: provider.entries == 2, "the second caller to stop waiting")
    provider.gate.set()
    ta.join(_WAIT_S)
    tb.join(_WAIT_S)
    assert provider.calls == 2
    assert [x.cached for x in results] == [False, False]
    a.close()
    b.close()


def test_refresh_does_not_wait(clients: tuple[Any, Client, Client, Any]) -> None:
    provider, a, _, r = clients
    provider.gate.set()
    cache = a.cache
    assert isinstance(cache, RedisCache)
    with cache.lock("any key") as acquired:  # an unrelated lock, and...
        assert acquired
    a.chat("q")
    key = next(r.scan_iter(match=cache.prefix + "v:*")).decode()[len(cache.prefix) + 2 :]
    r.set(cache.prefix + "lock:" + key, "someone", px=60_000)  # ...a holder of this key
    assert a.chat("q", cache="refresh").cached is False  # refresh goes straight through
    assert provider.calls == 2


def test_lock_sees_a_value_stored_since_the_miss(make_redis_cache: Any) -> None:
    cache = make_redis_cache()
    cache.set("k", b"stored meanwhile")
    with cache.lock("k") as acquired:
        assert acquired is False  # no need to call: read it
    assert cache.wait_for("k", 1.0) == b"stored meanwhile"
    with cache.lock("other") as first, cache.lock("other") as second:
        assert (first, second) == (True, False)


def test_a_crashed_holder_is_noticed(make_redis_cache: Any, redis_server: RedisServer) -> None:
    """A holder that dies keeps no one waiting past its lock's TTL (the waiter re-checks
    every 0.5 s even without a notification)."""
    cache = make_redis_cache()
    redis_server.client().set(cache.prefix + "lock:k", "dead holder", px=100)
    t0 = time.monotonic()
    assert cache.wait_for("k", _WAIT_S) is None
    assert time.monotonic() - t0 < 2.0


@pytest.mark.asyncio
async def test_async_second_caller_waits(clients: tuple[Any, Client, Client, Any]) -> None:
    provider, a, b, r = clients
    first = asyncio.create_task(a.achat("q"))
    while not (provider.entered.is_set() and _locked(r, a.cache)):
        await asyncio.sleep(0.005)
    second = asyncio.create_task(b.achat("q"))
    while not _waiting(r, a.cache):
        await asyncio.sleep(0.005)
    provider.gate.set()
    ra, rb = await asyncio.gather(first, second)
    assert provider.calls == 1
    assert (ra.cached, rb.cached) == (False, True)
    assert rb.content == ra.content
    await a.aclose()
    await b.aclose()
