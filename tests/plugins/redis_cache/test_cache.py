"""What the ``redis`` cache does beyond the core contract: the Redis side of it (key
layout, TTLs, namespaces, foreign keys), shared stats, event loops, and its settings."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

import modelbus
from modelbus._wire.converter import dumps_response
from modelbus.errors import ConfigError
from modelbus.testing import FakeClock, FakeProvider, make_client
from modelbus_redis_cache import RedisCache, RedisCacheSettings, redact_url
from modelbus_redis_cache._settings import key_prefix

from .redis_server import RedisServer

MakeCache = Callable[..., RedisCache]


# --- on the server --------------------------------------------------------------------------
def test_values_are_the_pipeline_bytes_with_a_gc_ttl(
    make_redis_cache: MakeCache, redis_server: RedisServer
) -> None:
    clock = FakeClock(1_700_000_000.0)
    cache = make_redis_cache(clock=clock.monotonic)
    client = make_client(FakeProvider(), {"modelbus": {"cache": "none"}})
    data = dumps_response(client.chat("hello"))
    cache.set("k", data, 30.0, ["t"])
    cache.set("forever", b"{}")
    r = redis_server.client()
    vkey = cache.prefix + "v:k"
    assert r.hget(vkey, "v") == data  # the converter's JSON, untouched
    assert float(r.hget(vkey, "e") or 0) == 1_700_000_030.0
    assert 30_000 < r.pttl(vkey) <= 90_000  # expiry is the clock's; the TTL collects garbage
    assert r.smembers(cache.prefix + "t:t") == {b"k"}
    assert r.smembers(cache.prefix + "kt:k") == {b"t"}
    assert r.pttl(cache.prefix + "v:forever") == -1
    assert r.hget(cache.prefix + "v:forever", "e") is None
    client.close()


def test_tag_sets_live_as_long_as_their_longest_member(
    make_redis_cache: MakeCache, redis_server: RedisServer
) -> None:
    cache = make_redis_cache()
    r = redis_server.client()
    tkey = cache.prefix + "t:shared"
    cache.set("a", b"1", 10.0, ["shared"])
    short = r.pttl(tkey)
    cache.set("b", b"2", 100.0, ["shared"])
    assert r.pttl(tkey) > short  # extended to the longer member
    cache.set("c", b"3", 1.0, ["shared"])
    assert r.pttl(tkey) > short  # never shortened
    cache.set("d", b"4", None, ["shared"])
    assert r.pttl(tkey) == -1  # a member that never expires: neither does the set


def test_a_stale_tag_member_never_deletes_a_newer_value(make_redis_cache: MakeCache) -> None:
    clock = FakeClock(1_700_000_000.0)
    cache = make_redis_cache(clock=clock.monotonic)
    cache.set("k", b"old", 1.5, ["user:1"])
    clock.advance(2)  # expired (its tag membership lingers until the Redis TTL)
    cache.set("k", b"new", None, ["user:2"])
    assert cache.invalidate_tags(["user:1"]) == 0
    assert cache.get("k") == b"new"
    assert cache.invalidate_tags(["user:2"]) == 1


def test_removing_one_key_keeps_the_tag_index_of_the_others(
    make_redis_cache: MakeCache, redis_server: RedisServer
) -> None:
    """Issue 15's defect class (found in the memory cache): deleting, overwriting
    without the tag, or invalidating another tag of one key must only take *that* key
    out of the tag's index. Checked directly; the contract's state machine finds a
    mutant that drops the whole tag set in only about 3 runs of 4."""
    clock = FakeClock(1_700_000_000.0)
    cache = make_redis_cache(clock=clock.monotonic)
    r = redis_server.client()
    for k in ("a", "b", "c", "d"):
        cache.set(k, k.encode(), None, ["shared", f"own:{k}"])
    assert cache.delete("a") is True
    cache.set("b", b"B")  # overwritten without tags
    assert cache.invalidate_tags(["own:c"]) == 1
    assert r.smembers(cache.prefix + "t:shared") == {b"d"}
    assert cache.invalidate_tags(["shared"]) == 1  # d, still indexed
    assert (cache.get("b"), cache.get("d")) == (b"B", None)


@pytest.mark.asyncio
async def test_removing_one_key_keeps_the_tag_index_async(make_redis_cache: MakeCache) -> None:
    cache = make_redis_cache()
    for k in ("a", "b", "c"):
        await cache.aset(k, k.encode(), None, ["shared"])
    assert await cache.adelete("a") is True
    assert await cache.ainvalidate_tags(["shared"]) == 2
    assert (await cache.aget("b"), await cache.aget("c")) == (None, None)


def test_namespaces_do_not_see_each_other(make_redis_cache: MakeCache) -> None:
    a, b = make_redis_cache("app-a"), make_redis_cache("app-b")
    for c in (a, b):
        c.clear()
    a.set("k", b"from a", None, ["t"])
    assert b.get("k") is None
    assert b.invalidate_tags(["t"]) == 0
    assert b.clear() == 0
    assert a.get("k") == b"from a"
    assert a.clear() == 1


def test_clear_leaves_other_keys_alone(
    make_redis_cache: MakeCache, redis_server: RedisServer
) -> None:
    cache = make_redis_cache()
    r = redis_server.client()
    r.set("someone-elses-key", "x")
    r.set(f"modelbus:{{{cache.settings.namespace}x}}:v:k", "a namespace that starts alike")
    cache.set("k", b"1", None, ["t"])
    with cache.lock("held") as acquired:
        assert acquired
        assert cache.clear() == 1
        assert r.exists(cache.prefix + "lock:held") == 1  # a holder's lock is not ours to drop
    assert r.get("someone-elses-key") == b"x"
    assert r.exists(f"modelbus:{{{cache.settings.namespace}x}}:v:k") == 1
    assert [k for k in r.scan_iter(match=cache.prefix + "*") if b":stats" not in k] == []


def test_a_foreign_value_is_a_miss_and_is_deleted(
    make_redis_cache: MakeCache, redis_server: RedisServer
) -> None:
    cache = make_redis_cache()
    r = redis_server.client()
    r.set(cache.prefix + "v:k", "a string, not a cache hash")  # e.g. an older layout
    with capture_logs() as logs:
        assert cache.get("k") is None
    assert [e["event"] for e in logs] == ["redis_cache_error"]
    assert r.exists(cache.prefix + "v:k") == 0
    cache.set("k", b"ok")
    assert cache.get("k") == b"ok"
    assert cache.stats().errors == 1


def test_undecodable_value_through_the_client_is_a_miss_and_deleted(
    redis_server: RedisServer,
) -> None:
    provider = FakeProvider()
    client = make_client(
        provider,
        {
            "modelbus": {"cache": "redis"},
            "caches": {"redis": {"url": redis_server.url, "namespace": "undecodable"}},
        },
    )
    cache = client.cache
    assert isinstance(cache, RedisCache)
    cache.clear()
    client.chat("q")
    r = redis_server.client()
    [vkey] = list(r.scan_iter(match=cache.prefix + "v:*"))
    r.hset(vkey, "v", b"{not json")
    with capture_logs() as logs:
        resp = client.chat("q")
    assert resp.cached is False and provider.calls == 2
    assert "cache_value_undecodable" in [e["event"] for e in logs]
    assert client.chat("q").cached is True  # the fresh answer replaced it
    client.close()


# --- stats ---------------------------------------------------------------------------------
def test_stats_are_shared_and_flushed_on_a_schedule(make_redis_cache: MakeCache) -> None:
    a = make_redis_cache(stats_flush_s=3600.0)
    b = make_redis_cache(a.settings.namespace)
    a.set("k", b"12345")
    assert a.get("k") == b"12345"
    assert a.get("nope") is None
    s = b.stats()  # sets are counted on the server at once; a's reads are still local
    assert (s.sets, s.hits, s.misses, s.entries, s.bytes) == (1, 0, 0, 1, 5)
    a.flush_stats()
    assert (b.stats().hits, b.stats().misses) == (1, 1)
    b_now = make_redis_cache(a.settings.namespace, stats_flush_s=0.0)  # flush every read
    b_now.get("k")
    assert a.stats().hits == 2


# --- event loops and threads ---------------------------------------------------------------
def test_several_event_loops_at_once(make_redis_cache: MakeCache) -> None:
    cache = make_redis_cache()
    errors: list[BaseException] = []

    async def work(t: int) -> None:
        for i in range(20):
            await cache.aset(f"{t}-{i}", str(i).encode(), None, [f"t{t}"])
            assert await cache.aget(f"{t}-{i}") == str(i).encode()
        assert await cache.ainvalidate_tags([f"t{t}"]) == 20

    def thread(t: int) -> None:
        try:
            asyncio.run(work(t))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=thread, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert cache.stats().hits == 80


def test_sync_calls_from_many_threads_use_their_own_connections(
    make_redis_cache: MakeCache,
) -> None:
    cache = make_redis_cache()
    cache.set("k", b"v")
    seen: list[bytes | None] = []
    threads = [
        threading.Thread(target=lambda: seen.extend(cache.get("k") for _ in range(50)))
        for _ in range(6)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert seen == [b"v"] * 300


# --- settings --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:****@host:6379/0"),
        ("rediss://user:s3cret@host:6380/1", "rediss://user:****@host:6380/1"),
        ("redis://s3cret@host/0", "redis://****@host/0"),
        (
            "unix:///run/redis.sock?db=2&password=s3cret",
            "unix:///run/redis.sock?db=2&password=****",
        ),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_url_password_is_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    s = RedisCacheSettings(url=url)
    assert "s3cret" not in repr(s) and s.redacted_url == shown


def test_the_password_never_reaches_the_logs(own_redis: RedisServer) -> None:
    url = f"redis://:s3cret@127.0.0.1:{own_redis.port}/0"
    cache = RedisCache(RedisCacheSettings(url=url, namespace="pw"))
    own_redis.kill()
    with capture_logs() as logs:
        assert cache.get("k") is None
    assert logs and "s3cret" not in repr(logs) and "s3cret" not in repr(cache)
    assert logs[0]["url"] == f"redis://:****@127.0.0.1:{own_redis.port}/0"


def test_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELBUS_REDIS_URL", "redis://10.0.0.5:6390/3")
    assert RedisCacheSettings().url == "redis://10.0.0.5:6390/3"
    monkeypatch.delenv("MODELBUS_REDIS_URL")
    assert RedisCacheSettings().url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"url": "http://:s3cret@host"}, "not a Redis URL"),
        ({"namespace": "a:b"}, "namespace"),
        ({"namespace": "a*"}, "namespace"),
        ({"socket_timeout_s": 0}, "socket_timeout_s"),
        ({"probe_interval_s": -1.0}, "probe_interval_s"),
        ({"url": 6379}, "url"),
        ({"urll": "redis://x"}, "urll"),
    ],
)
def test_bad_settings_name_the_key(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        modelbus.Client({"modelbus": {"cache": "redis"}, "caches": {"redis": section}})
    assert "s3cret" not in str(info.value)


def test_registered_through_the_entry_point(redis_server: RedisServer) -> None:
    client = modelbus.Client(
        {
            "modelbus": {"cache": "redis", "rate_limiter": "redis"},
            "caches": {"redis": {"url": redis_server.url, "namespace": "ep"}},
            "rate_limiters": {"redis": {"url": redis_server.url, "namespace": "ep"}},
        }
    )
    assert isinstance(client.cache, RedisCache)
    assert client.cache.prefix == key_prefix("ep") == "modelbus:{ep}:"
    assert type(client.rate_limiter).__name__ == "RedisRateLimiter"
    reg = client.registry.get("caches", "redis")
    assert reg.distribution == "modelbus-redis-cache"
    client.close()


def test_a_forked_child_does_not_share_the_parents_socket(make_redis_cache: MakeCache) -> None:
    cache = make_redis_cache()
    cache.set("k", b"v")
    assert cache.get("k") == b"v"  # this thread's pinned connection is open
    parent_conn = cache._link._pinned_connection()
    pid = os.fork()
    if pid == 0:  # the child: its own connection, same data
        code = 1
        try:
            own = cache._link._pinned_connection() is not parent_conn
            code = 0 if own and cache.get("k") == b"v" else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache._link._pinned_connection() is parent_conn
    assert cache.get("k") == b"v"


def test_a_pool_that_stays_busy_is_not_an_outage(make_redis_cache: MakeCache) -> None:
    """All connections held past ``pool_timeout_s``: the set waited that long, then
    failed as a command does on a working server (not the fallback, breaker closed)."""
    cache = make_redis_cache(max_connections=1, pool_timeout_s=0.2, stats_flush_s=60)
    pool = cache._link.sync.connection_pool
    taken = pool.get_connection()
    try:
        with capture_logs() as logs:
            t0 = time.monotonic()
            cache.set("k", b"v")
            assert time.monotonic() - t0 >= 0.2  # it waited for a connection first
        assert [e["event"] for e in logs] == ["redis_cache_error"]
        assert "stayed busy for 0.2 s" in str(logs[0]["error"])
        assert cache.breaker.state == "closed"
    finally:
        pool.release(taken)
    cache.set("k", b"v")
    assert cache.get("k") == b"v"
    assert cache.stats().errors == 1


def test_a_busy_pool_waits_for_a_connection(make_redis_cache: MakeCache) -> None:
    """A connection given back within ``pool_timeout_s`` serves the waiting call."""
    cache = make_redis_cache(max_connections=1, pool_timeout_s=5.0)
    pool = cache._link.sync.connection_pool
    taken = pool.get_connection()
    threading.Timer(0.2, pool.release, [taken]).start()
    with capture_logs() as logs:
        cache.set("k", b"v")
    assert logs == [] and cache.get("k") == b"v"


@pytest.mark.asyncio
async def test_a_busy_async_pool_waits_then_misses(make_redis_cache: MakeCache) -> None:
    cache = make_redis_cache(max_connections=1, pool_timeout_s=0.2, stats_flush_s=60)
    await cache.aset("k", b"v")
    pool = cache._link.aclient().connection_pool
    taken = await pool.get_connection()
    with capture_logs() as logs:
        assert await cache.aget("k") is None  # waited 0.2 s, then a miss
    assert [e["event"] for e in logs] == ["redis_cache_error"]
    assert cache.breaker.state == "closed"

    async def give_back() -> None:
        await asyncio.sleep(0.1)
        await pool.release(taken)

    release = asyncio.ensure_future(give_back())
    assert await cache.aget("k") == b"v"  # released within the wait: served, not deleted
    await release
    await cache.aclose()
