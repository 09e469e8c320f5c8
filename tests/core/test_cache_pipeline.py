"""The cache through the client, sync and async: modes use/refresh/bypass/only, TTL,
tags, streams cached once complete and replayed, errors never cached, undecodable
values, failing caches, namespaces. Real Client, real caches, FakeProvider at the edge."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog import testing as structlog_testing

from modelbus import ChatRequest, ChatResponse, Message, Usage, cache_key
from modelbus.builtins.caches import MemoryCache
from modelbus.errors import BadRequestError, CacheMiss
from modelbus.protocols import CacheStats
from modelbus.testing import FakeClock, FakeProvider, make_client

SIDES = ["sync", "async"]


@pytest.fixture(params=SIDES)
def side(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeProvider:
    return FakeProvider("fake", clock=clock)


@pytest.fixture
def client(fake: FakeProvider, clock: FakeClock) -> Iterator[Any]:
    c = make_client(fake, clock=clock)
    c.cache = MemoryCache(clock=clock.monotonic)  # TTLs run on the test's clock
    yield c
    c.close()


@contextmanager
def capture_logs() -> Iterator[list[dict[str, Any]]]:
    """structlog's capture_logs, leaving structlog as unconfigured as it found it: its own
    exit keeps ``structlog.is_configured()`` true, after which clients skip modelbus's
    default logging set-up and later tests would see info events on stdout."""
    was_configured = structlog.is_configured()
    with structlog_testing.capture_logs() as logs:
        yield logs
    if not was_configured:
        structlog.reset_defaults()


def ask(client: Any, side: str, *args: Any, **kw: Any) -> ChatResponse:
    if side == "sync":
        return client.chat(*args, **kw)  # type: ignore[no-any-return]
    return asyncio.run(client.achat(*args, **kw))


def stream_all(client: Any, side: str, *args: Any, **kw: Any) -> tuple[list[Any], ChatResponse]:
    if side == "sync":
        s = client.stream(*args, **kw)
        chunks = list(s)
        return chunks, s.response

    async def go() -> tuple[list[Any], ChatResponse]:
        s = client.astream(*args, **kw)
        chunks = [c async for c in s]
        return chunks, s.response

    return asyncio.run(go())


def key_of(prompt: str, *, namespace: str = "", **params: Any) -> str:
    """The key the pipeline uses for a one-message prompt to the fake provider."""
    req = ChatRequest(model="fake-model", messages=(Message("user", prompt),), **params)
    return cache_key(req, provider="fake", endpoint="fake://", namespace=namespace)


# --- use ---------------------------------------------------------------------------------
def test_second_identical_call_is_a_hit(client: Any, fake: FakeProvider, side: str) -> None:
    fake.enqueue_text("Paris.", usage=Usage(12, 3, 15))
    first = ask(client, side, "Capital of France?")
    again = ask(client, side, "Capital of France?")
    assert fake.calls == 1
    assert (first.cached, first.attempts) == (False, 1)
    assert (again.cached, again.attempts) == (True, 0)
    for field in (
        "id",
        "model",
        "message",
        "finish_reason",
        "usage",
        "provider",
        "cost_usd",
        "created",
        "extra",
    ):
        assert getattr(again, field) == getattr(first, field), field
    assert again.latency_s > 0
    totals = client.usage_totals
    assert (totals.requests, totals.cache_hits, totals.usage) == (1, 1, Usage(12, 3, 15))


def test_keyword_order_and_number_format_share_a_key(
    client: Any, fake: FakeProvider, side: str
) -> None:
    ask(client, side, "q", temperature=1, top_p=0.5, stop="END")
    hit = ask(client, side, "q", stop=["END"], top_p=0.5, temperature=1.0)
    assert hit.cached and fake.calls == 1


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.3},
        {"max_tokens": 11},
        {"seed": 7},
        {"system": "Be terse."},
        {"model": "other-model"},
        {"response_format": {"type": "json_object"}},
        {"extra_body": {"top_k": 3}},
    ],
)
def test_anything_changing_the_output_changes_the_key(
    client: Any, fake: FakeProvider, change: dict[str, Any]
) -> None:
    base: dict[str, Any] = {"temperature": 0.2, "max_tokens": 10}
    client.chat("q", **base)
    assert not client.chat("q", **{**base, **change}).cached
    assert fake.calls == 2


def test_namespaces_do_not_share_entries(fake: FakeProvider, clock: FakeClock) -> None:
    shared = MemoryCache(clock=clock.monotonic)
    a = make_client(fake, clock=clock, namespace="app-a")
    b = make_client(fake, clock=clock, namespace="app-b")
    a2 = make_client(fake, clock=clock, namespace="app-a")
    for c in (a, b, a2):
        c.cache = shared
    assert not a.chat("q").cached
    assert not b.chat("q").cached
    assert a2.chat("q").cached
    assert fake.calls == 2
    assert shared.get(key_of("q", namespace="app-b")) is not None


# --- refresh, bypass, only -------------------------------------------------------------
def test_refresh_calls_and_overwrites(client: Any, fake: FakeProvider, side: str) -> None:
    fake.enqueue_text("old").enqueue_text("new")
    assert ask(client, side, "q").content == "old"
    fresh = ask(client, side, "q", cache="refresh")
    assert (fresh.content, fresh.cached, fake.calls) == ("new", False, 2)
    again = ask(client, side, "q")
    assert (again.content, again.cached) == ("new", True)


def test_bypass_neither_reads_nor_writes(client: Any, fake: FakeProvider, side: str) -> None:
    fake.enqueue_text("stored").enqueue_text("live").enqueue_text("other")
    ask(client, side, "q")
    sets = client.cache.stats().sets
    live = ask(client, side, "q", cache="bypass")
    assert (live.content, live.cached) == ("live", False)
    ask(client, side, "never stored", cache="bypass")
    assert client.cache.stats().sets == sets
    assert ask(client, side, "q").content == "stored"
    with pytest.raises(CacheMiss):
        ask(client, side, "never stored", cache="only")


def test_only_raises_cache_miss_and_never_calls(client: Any, fake: FakeProvider, side: str) -> None:
    with pytest.raises(CacheMiss, match="cache='only'"):
        ask(client, side, "q", cache="only")
    assert fake.calls == 0
    ask(client, side, "q")
    assert ask(client, side, "q", cache="only").cached
    assert fake.calls == 1


def test_only_without_any_cache_is_a_miss(fake: FakeProvider, clock: FakeClock, side: str) -> None:
    with make_client(fake, {"modelbus": {"cache": "none"}}, clock=clock) as c:
        assert c.cache is None
        with pytest.raises(CacheMiss, match="no cache is configured"):
            ask(c, side, "q", cache="only")
        with pytest.raises(CacheMiss):
            stream_all(c, side, "q", cache="only")
        assert not ask(c, side, "q").cached  # without a cache, calls go through
    assert fake.calls == 1


def test_bad_per_call_controls_are_errors(client: Any, fake: FakeProvider, side: str) -> None:
    with pytest.raises(TypeError, match="cache_tags"):
        ask(client, side, "q", cache_tags="user:1")
    with pytest.raises(TypeError, match="cache_tags"):
        ask(client, side, "q", cache_tags=["ok", 3])
    with pytest.raises(TypeError, match="cache_ttl_s"):
        ask(client, side, "q", cache_ttl_s="60")
    with pytest.raises(ValueError, match="cache must be one of"):
        ask(client, side, "q", cache="sometimes")
    with pytest.raises(TypeError, match="cache_tags"):
        stream_all(client, side, "q", cache_tags="user:1")
    assert fake.calls == 0


# --- TTL and tags ----------------------------------------------------------------------
def test_per_call_ttl(client: Any, fake: FakeProvider, clock: FakeClock, side: str) -> None:
    ask(client, side, "q", cache_ttl_s=10)
    clock.advance(9.5)
    assert ask(client, side, "q").cached
    clock.advance(1)
    assert not ask(client, side, "q").cached
    assert fake.calls == 2


def test_default_ttl_from_config(fake: FakeProvider, clock: FakeClock, side: str) -> None:
    with make_client(fake, {"modelbus": {"cache_ttl_s": 5.0}}, clock=clock) as c:
        c.cache = MemoryCache(clock=clock.monotonic)
        ask(c, side, "q")
        ask(c, side, "long", cache_ttl_s=60)
        clock.advance(6)
        assert not ask(c, side, "q").cached
        assert ask(c, side, "long").cached
    assert fake.calls == 3


def test_ttl_zero_is_not_stored(client: Any, fake: FakeProvider, side: str) -> None:
    ask(client, side, "q", cache_ttl_s=0)
    assert not ask(client, side, "q").cached
    assert fake.calls == 2


def test_tags_invalidate_what_they_label(client: Any, fake: FakeProvider, side: str) -> None:
    ask(client, side, "a", cache_tags=["user:1", "doc:9"])
    ask(client, side, "b", cache_tags=["user:2"])
    ask(client, side, "c")
    assert client.cache.invalidate_tags(["user:1"]) == 1
    assert not ask(client, side, "a").cached
    assert ask(client, side, "b").cached and ask(client, side, "c").cached
    assert fake.calls == 4


# --- streams ---------------------------------------------------------------------------
def test_stream_is_cached_once_complete_and_replayed(
    client: Any, fake: FakeProvider, clock: FakeClock, side: str
) -> None:
    fake.enqueue_text("Hello streamed world", usage=Usage(7, 3, 10))
    chunks, first = stream_all(client, side, "greet me")
    replayed, again = stream_all(client, side, "greet me")
    text = "".join(c.content or "" for c in replayed)
    assert text == "".join(c.content or "" for c in chunks) == "Hello streamed world"
    assert replayed[-1].finish_reason == "stop" and replayed[-1].usage == Usage(7, 3, 10)
    assert (first.cached, again.cached, again.attempts) == (False, True, 0)
    assert again.usage == first.usage and fake.calls == 1
    assert clock.sleeps == []  # replayed without any delay
    # streamed and non-streamed requests share a key
    assert ask(client, side, "greet me").content == "Hello streamed world"
    assert fake.calls == 1


def test_a_chat_answer_serves_a_later_stream(client: Any, fake: FakeProvider, side: str) -> None:
    fake.enqueue_text("from chat")
    ask(client, side, "q")
    chunks, resp = stream_all(client, side, "q")
    assert resp.cached and "".join(c.content or "" for c in chunks) == "from chat"
    assert fake.calls == 1


def test_abandoned_stream_is_not_cached(client: Any, fake: FakeProvider, side: str) -> None:
    fake.enqueue_text("one two three")
    if side == "sync":
        with client.stream("q") as s:
            next(iter(s))
    else:

        async def go() -> None:
            s = client.astream("q")
            async with s:
                async for _ in s:
                    break

        asyncio.run(go())
    with pytest.raises(CacheMiss):
        ask(client, side, "q", cache="only")


def test_stream_modes(client: Any, fake: FakeProvider, side: str) -> None:
    with pytest.raises(CacheMiss):
        stream_all(client, side, "q", cache="only")
    fake.enqueue_text("v1").enqueue_text("v2").enqueue_text("v3")
    stream_all(client, side, "q")
    _, fresh = stream_all(client, side, "q", cache="refresh")
    _, live = stream_all(client, side, "q", cache="bypass")
    _, hit = stream_all(client, side, "q", cache="only")
    assert [fresh.content, live.content, hit.content] == ["v2", "v3", "v2"]
    assert hit.cached and fake.calls == 3


def test_stream_ttl_and_tags(client: Any, fake: FakeProvider, clock: FakeClock, side: str) -> None:
    stream_all(client, side, "a", cache_ttl_s=5, cache_tags=["t"])
    stream_all(client, side, "b", cache_tags=["t"])
    clock.advance(6)
    assert client.cache.invalidate_tags(["t"]) == 1  # "a" already expired
    assert fake.calls == 2


# --- errors and incomplete answers are never cached ------------------------------------
def test_errors_are_never_cached(client: Any, fake: FakeProvider, side: str) -> None:
    fake.enqueue_error(400, "bad request")
    with pytest.raises(BadRequestError):
        ask(client, side, "q")
    with pytest.raises(CacheMiss):
        ask(client, side, "q", cache="only")
    assert ask(client, side, "q").content == "echo: q"
    assert ask(client, side, "q").cached and fake.calls == 2


def test_stream_errors_are_never_cached(client: Any, fake: FakeProvider, side: str) -> None:
    fake.enqueue_error(400, "bad request")
    with pytest.raises(BadRequestError):
        stream_all(client, side, "q")
    with pytest.raises(CacheMiss):
        ask(client, side, "q", cache="only")


@pytest.mark.parametrize("finish_reason", [None, "error"])
def test_incomplete_answers_are_not_cached(
    client: Any, fake: FakeProvider, side: str, finish_reason: str | None
) -> None:
    fake.enqueue_response(
        ChatResponse(
            id="x",
            model="fake-model",
            message=Message("assistant", "half an ans"),
            finish_reason=finish_reason,
        )
    )
    assert ask(client, side, "q").content == "half an ans"
    assert not ask(client, side, "q").cached


def test_a_shared_error_is_not_cached_either(client: Any, fake: FakeProvider) -> None:
    fake.enqueue_error(401, "no key")
    with pytest.raises(Exception, match="no key"):
        client.chat("q")
    assert client.cache.stats().sets == 0


def test_hits_never_share_mutable_parts(client: Any, fake: FakeProvider, side: str) -> None:
    fake.enqueue_text("plain")
    fake.enqueue_response(
        ChatResponse(
            id="x",
            model="fake-model",
            message=Message("assistant", "with extra"),
            finish_reason="stop",
            extra={"system_fingerprint": "fp_1"},
        )
    )
    for prompt in ("plain", "extra"):
        ask(client, side, prompt)
        first = ask(client, side, prompt)
        first.extra["mine"] = 1  # a caller scribbling on its response
        second = ask(client, side, prompt)
        assert first.cached and second.cached and first is not second
        assert "mine" not in second.extra
    assert ask(client, side, "extra").extra == {"system_fingerprint": "fp_1"}


def test_a_changed_value_is_read_afresh(client: Any, fake: FakeProvider, side: str) -> None:
    fake.enqueue_text("v1").enqueue_text("v2")
    ask(client, side, "q")
    assert ask(client, side, "q").content == "v1"
    ask(client, side, "q", cache="refresh")
    assert ask(client, side, "q").content == "v2"


# --- values the client cannot read -----------------------------------------------------
GARBAGE = [
    b"not json",
    b"{}",
    b"[1, 2]",
    b'{"_modelbus": {}, "choices": "x"}',
    b'{"_modelbus": 3}',
    b"\xff\xfe\x00",
    b'{"_modelbus": {}} trailing',
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_undecodable_value_is_a_miss_deleted_and_logged(
    client: Any, fake: FakeProvider, side: str, garbage: bytes
) -> None:
    key = key_of("q")
    client.cache.set(key, garbage)
    with capture_logs() as logs, pytest.raises(CacheMiss):
        ask(client, side, "q", cache="only")
    assert client.cache.get(key) is None  # deleted, so it is not read again
    events = [e for e in logs if e["event"] == "cache_value_undecodable"]
    assert len(events) == 1 and events[0]["key"] == key and events[0]["log_level"] == "warning"
    client.cache.set(key, garbage)
    resp = ask(client, side, "q")  # "use": a miss, answered and stored afresh
    assert not resp.cached and ask(client, side, "q").cached
    assert fake.calls == 1


# --- caches that fail ------------------------------------------------------------------
class ExplodingCache:
    """Every operation fails, as a cache whose server went away."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _boom(self, name: str) -> Any:
        self.calls.append(name)
        raise ConnectionError(f"{name}: cache server unreachable")

    def get(self, key: str) -> bytes | None:
        return self._boom("get")  # type: ignore[no-any-return]

    def set(self, key: str, value: bytes, ttl_s: float | None = None, tags: Any = ()) -> None:
        self._boom("set")

    def delete(self, key: str) -> bool:
        return self._boom("delete")  # type: ignore[no-any-return]

    def invalidate_tags(self, tags: Any) -> int:
        return self._boom("invalidate_tags")  # type: ignore[no-any-return]

    def clear(self) -> int:
        return self._boom("clear")  # type: ignore[no-any-return]

    def stats(self) -> CacheStats:
        return self._boom("stats")  # type: ignore[no-any-return]

    async def aget(self, key: str) -> bytes | None:
        return self._boom("aget")  # type: ignore[no-any-return]

    async def aset(
        self, key: str, value: bytes, ttl_s: float | None = None, tags: Any = ()
    ) -> None:
        self._boom("aset")


def test_a_failing_cache_never_breaks_a_call(client: Any, fake: FakeProvider, side: str) -> None:
    broken = client.cache = ExplodingCache()
    with capture_logs() as logs:
        first = ask(client, side, "q")
        _, streamed = stream_all(client, side, "q")
        with pytest.raises(CacheMiss):
            ask(client, side, "q", cache="only")
    assert first.content == streamed.content == "echo: q"
    assert fake.calls == 2
    events = {e["event"] for e in logs}
    assert {"cache_get_failed", "cache_set_failed"} <= events
    assert all(
        "cache server unreachable" in e["error"] for e in logs if e["event"].startswith("cache_")
    )
    prefix = "a" if side == "async" else ""
    assert broken.calls[:2] == [prefix + "get", prefix + "set"]


def test_a_cache_returning_non_bytes_is_a_miss(client: Any, fake: FakeProvider, side: str) -> None:
    class WrongType(MemoryCache):
        def get(self, key: str) -> Any:
            super().get(key)
            return {"not": "bytes"}

    client.cache = WrongType()
    with capture_logs() as logs:
        assert not ask(client, side, "q").cached
        assert not ask(client, side, "q").cached
    assert fake.calls == 2
    assert [e["event"] for e in logs].count("cache_value_undecodable") == 2


# --- the async path and sync-only caches -------------------------------------------------
class SyncOnlyCache(MemoryCache):
    """A sync-only cache (no async methods): records the thread of each call."""

    aget = aset = adelete = ainvalidate_tags = aclear = astats = None  # type: ignore[assignment]

    def __init__(self, blocking: bool) -> None:
        super().__init__()
        self.blocking = blocking
        self.threads: list[int] = []

    def get(self, key: str) -> bytes | None:
        self.threads.append(threading.get_ident())
        return super().get(key)

    def set(self, key: str, value: bytes, ttl_s: float | None = None, tags: Any = ()) -> None:
        self.threads.append(threading.get_ident())
        super().set(key, value, ttl_s, tags)


@pytest.mark.parametrize("blocking", [True, False])
def test_async_path_runs_blocking_sync_caches_off_the_loop(client: Any, blocking: bool) -> None:
    client.cache = cache = SyncOnlyCache(blocking)

    async def go() -> int:
        await client.achat("q")
        assert (await client.achat("q")).cached
        return threading.get_ident()

    loop_thread = asyncio.run(go())
    assert len(cache.threads) == 3  # get, set, get
    on_loop = [t == loop_thread for t in cache.threads]
    assert on_loop == [not blocking] * 3


# --- a persistent cache through the client ---------------------------------------------
def test_sqlite_cache_through_the_client(
    fake: FakeProvider, clock: FakeClock, tmp_path: Path, side: str
) -> None:
    cfg = {"modelbus": {"cache": "sqlite"}, "caches": {"sqlite": {"path": str(tmp_path / "c.db")}}}
    with make_client(fake, cfg, clock=clock) as c:
        fake.enqueue_text("persisted")
        ask(c, side, "q", cache_tags=["t"])
        assert ask(c, side, "q").cached
        _, streamed = stream_all(c, side, "q")
        assert streamed.cached
    with make_client(fake, cfg, clock=clock) as c:  # a new client: the file remembers
        again = ask(c, side, "q")
        assert (again.cached, again.content) == (True, "persisted")
        assert c.cache.invalidate_tags(["t"]) == 1
        s = c.cache.stats()
        assert (s.hits, s.misses, s.sets, s.entries) == (3, 1, 1, 0)
    assert fake.calls == 1


class _SameReply(FakeProvider):
    """A provider that hands out one response object every time (as a plugin keeping a
    canned answer might)."""

    reply: ChatResponse | None = None

    def chat(self, request: ChatRequest) -> ChatResponse:
        if self.reply is None:
            self.reply = super().chat(request)
        return self.reply

    async def achat(self, request: ChatRequest) -> ChatResponse:
        return self.chat(request)


def test_each_caller_gets_its_own_response_and_latency() -> None:
    # Without a cache the engine writes the latency on the response it priced for this
    # caller (no copy): the provider's own object, handed out again, is never touched.
    fake = _SameReply()
    clock = FakeClock()
    with make_client(fake, {"modelbus": {"cache": "none"}}, clock=clock) as client:
        first = client.chat("hi")
        second = asyncio.run(client.achat("hi"))
    assert fake.reply is not None and fake.reply.latency_s == 0.0
    assert first is not fake.reply and second is not fake.reply and first is not second
    assert first.latency_s > 0 and second.latency_s > 0
    assert first.latency_s != second.latency_s
    assert (first.attempts, first.provider) == (1, fake.name)
