"""``CacheContract``: the behaviour every cache plugin must have, as a pytest class.

Subclass it in a test module and provide ``make_cache``: a fixture returning a factory
that makes a new, empty cache with no default TTL whose time is the ``clock`` fixture
(a :class:`~modelbus.testing.FakeClock`; pass ``clock.monotonic`` as the cache's clock)::

    from modelbus.testing.contracts_cache import BoundedCacheContract, CacheContract

    class TestMyCache(CacheContract):
        @pytest.fixture
        def make_cache(self, clock, tmp_path):
            paths = (tmp_path / f"{n}.db" for n in itertools.count())
            return lambda: MyCache(MySettings(path=str(next(paths))), clock=clock.monotonic)

``make_cache`` is called once per test and once per state-machine example; the contract
calls ``clear()`` on each new cache and counts ``stats()`` from there, so the caches of
one test may share a store (a file, a key prefix), but not with other tests running at
the same time. Caches that have ``close()`` are closed afterwards.

Time never passes for real: TTL checks call the ``advance(seconds)`` fixture, which by
default moves ``clock``. A cache whose expiry is enforced elsewhere (a Redis server's
own TTL) overrides ``advance`` to make that much *cache* time pass. The recommended way
for such a cache is to take a ``clock`` too and check the expiry time it stored beside
the value on every read, keeping the server TTL (plus some slack) only to collect
garbage: then the default ``advance`` works unchanged and no test sleeps. The contract
only uses TTLs of ``n + 0.5`` seconds and advances in whole seconds, so a read never
falls on an expiry instant: a cache that rounds expiry to the millisecond still passes.

What is checked:

- the sync API and its types (``bytes`` values, ``str`` keys and tags; ``tags`` as one
  string is a ``TypeError``), round trips of binary values of any size, overwrites,
  TTL expiry and ``ttl_s <= 0`` (not stored, and the older value removed), ``delete``,
  ``invalidate_tags`` and ``clear`` return values (live entries removed);
- the async API, native or supplied by :func:`modelbus.adapt_cache`;
- ``stats()``: ``hits``/``misses`` count ``get`` calls, ``sets`` count stored values,
  counters survive ``clear()``; ``entries``/``bytes`` are the live entries and their
  value bytes (``stats_exact = False`` relaxes these two to bounds, for caches that
  count expired entries not yet collected);
- threads and asyncio tasks sharing one cache;
- a hypothesis ``RuleBasedStateMachine`` driving get/set/delete/invalidate_tags/clear/
  advance/stats against a plain dict model.

:class:`BoundedCacheContract` adds the ``max_entries``/``max_bytes`` checks, for caches
that have those limits; it needs ``make_bounded_cache(max_entries, max_bytes)`` too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from .._caching.async_side import adapt_cache
from .._wire.converter import dumps_response, loads_response
from .._wire.types import ChatResponse, Message, Usage
from ._cache_machine import CacheMachine, CacheModel
from ._fake import FakeClock

__all__ = ["BoundedCacheContract", "CacheContract", "CacheModel"]


def _response(text: str) -> ChatResponse:
    return ChatResponse(
        id="chatcmpl-1",
        model="m",
        message=Message("assistant", text),
        finish_reason="stop",
        usage=Usage(3, 2, 5),
        provider="p",
        cost_usd=0.25,
    )


class CacheContract:
    """The contract (see the module doc). Override ``state_machine_settings`` to change
    how hard the state machine is driven, ``stats_exact`` for approximate stats."""

    stats_exact = True
    state_machine_settings = settings(max_examples=100, stateful_step_count=30, deadline=None)

    @pytest.fixture
    def clock(self) -> FakeClock:
        """The cache's time: seconds, starting at a wall-clock-like value."""
        return FakeClock(start=1_700_000_000.0)

    @pytest.fixture
    def advance(self, clock: FakeClock) -> Callable[[float], None]:
        """Make ``seconds`` of cache time pass (override for server-side expiry)."""
        return clock.advance

    @pytest.fixture
    def make_cache(self) -> Callable[[], Any]:
        raise NotImplementedError(
            "a CacheContract subclass must provide a make_cache fixture (see the module doc)"
        )

    @pytest.fixture
    def cache(self, make_cache: Callable[[], Any]) -> Iterator[Any]:
        c = make_cache()
        c.clear()
        yield c
        close = getattr(c, "close", None)
        if close is not None:
            close()

    # --- the sync API ----------------------------------------------------------------
    def test_protocol(self, cache: Any) -> None:
        from ..protocols import Cache

        assert isinstance(cache, Cache)

    def test_missing_key_is_none(self, cache: Any) -> None:
        assert cache.get("absent") is None

    @pytest.mark.parametrize(
        "value",
        [b"", b"{}", "h\u00e9llo \u2603".encode(), bytes(range(256)), b"x" * 300_000],
        ids=["empty", "json", "utf8", "binary", "300kB"],
    )
    def test_round_trip(self, cache: Any, value: bytes) -> None:
        cache.set("k", value)
        got = cache.get("k")
        assert got == value and type(got) is bytes

    def test_keys_are_opaque_strings(self, cache: Any) -> None:
        keys = ["a" * 64, "ns:\u00e9/x y", "0" * 300]
        for i, k in enumerate(keys):
            cache.set(k, str(i).encode())
        assert [cache.get(k) for k in keys] == [b"0", b"1", b"2"]

    def test_pipeline_value_round_trip(self, cache: Any) -> None:
        resp = _response("cached \u2713")
        cache.set("k", dumps_response(resp))
        data = cache.get("k")
        assert data is not None and loads_response(data) == resp

    def test_set_overwrites(self, cache: Any) -> None:
        cache.set("k", b"old", None, ["t0"])
        cache.set("k", b"new")
        assert cache.get("k") == b"new"
        assert cache.invalidate_tags(["t0"]) == 0  # the old entry's tags went with it
        assert cache.get("k") == b"new"

    def test_ttl_expires(self, cache: Any, advance: Callable[[float], None]) -> None:
        cache.set("short", b"1", 2.5)
        cache.set("long", b"2", 10.5)
        cache.set("forever", b"3")
        advance(2)
        assert cache.get("short") == b"1"
        advance(1)
        assert cache.get("short") is None
        assert cache.get("long") == b"2"
        advance(100)
        assert (cache.get("long"), cache.get("forever")) == (None, b"3")

    @pytest.mark.parametrize("ttl", [0, -1.0])
    def test_ttl_not_positive_is_not_stored(self, cache: Any, ttl: float) -> None:
        cache.set("k", b"old")
        cache.set("k", b"new", ttl)
        assert cache.get("k") is None

    def test_delete(self, cache: Any, advance: Callable[[float], None]) -> None:
        cache.set("k", b"v")
        cache.set("gone", b"v", 1.5)
        advance(2)
        assert cache.delete("k") is True
        assert cache.delete("k") is False
        assert cache.delete("gone") is False  # expired counts as absent
        assert cache.get("k") is None

    def test_invalidate_tags(self, cache: Any, advance: Callable[[float], None]) -> None:
        cache.set("a", b"1", None, ["user:1", "model:x"])
        cache.set("b", b"2", None, ["user:2"])
        cache.set("c", b"3", None, ["model:x"])
        cache.set("d", b"4")
        cache.set("e", b"5", 1.5, ["user:2"])
        advance(2)
        assert cache.invalidate_tags(["model:x", "user:2"]) == 3
        assert [cache.get(k) for k in "abcde"] == [None, None, None, b"4", None]
        assert cache.invalidate_tags(["model:x"]) == 0
        assert cache.invalidate_tags([]) == 0

    def test_clear(self, cache: Any, advance: Callable[[float], None]) -> None:
        cache.set("a", b"1")
        cache.set("b", b"2", None, ["t"])
        cache.set("c", b"3", 1.5)
        advance(2)
        assert cache.clear() == 2
        assert cache.get("a") is None and cache.get("b") is None
        assert cache.clear() == 0

    def test_wrong_types_are_rejected(self, cache: Any) -> None:
        with pytest.raises(TypeError, match="bytes"):
            cache.set("k", "not bytes")
        with pytest.raises(TypeError, match="tags"):
            cache.set("k", b"v", None, "one-tag")
        with pytest.raises(TypeError, match="tags"):
            cache.invalidate_tags("one-tag")
        assert cache.get("k") is None

    def test_stats(self, cache: Any, advance: Callable[[float], None]) -> None:
        s0 = cache.stats()
        cache.set("a", b"12345")
        cache.set("b", b"123", 1.5)
        cache.set("c", b"1", 0)  # not stored, not a set
        cache.get("a")
        cache.get("a")
        cache.get("nope")
        advance(2)
        cache.get("b")  # expired: a miss
        s = cache.stats()
        assert (s.hits - s0.hits, s.misses - s0.misses, s.sets - s0.sets) == (2, 2, 2)
        assert s.errors == s0.errors
        if self.stats_exact:
            assert (s.entries, s.bytes) == (1, 5)
        cache.clear()
        s2 = cache.stats()
        assert (s2.hits, s2.misses, s2.sets) == (s.hits, s.misses, s.sets)  # clear keeps them
        assert (s2.entries, s2.bytes) == (0, 0)

    # --- the async API ---------------------------------------------------------------
    @pytest.mark.asyncio
    async def test_async_api(self, cache: Any, advance: Callable[[float], None]) -> None:
        ac = adapt_cache(cache)
        await ac.aset("a", b"1", None, ["t"])
        await ac.aset("b", b"2", 1.5)
        await ac.aset("c", b"3")
        assert await ac.aget("a") == b"1"
        advance(2)
        assert await ac.aget("b") is None
        assert await ac.adelete("c") is True
        assert await ac.ainvalidate_tags(["t"]) == 1
        await ac.aset("d", b"4")
        assert await ac.aclear() == 1
        assert (await ac.astats()).entries == 0

    @pytest.mark.asyncio
    async def test_many_tasks(self, cache: Any) -> None:
        ac = adapt_cache(cache)
        s0 = cache.stats()

        async def one(i: int) -> bytes | None:
            await ac.aset(f"k{i}", str(i).encode(), None, [f"t{i % 3}"])
            return await ac.aget(f"k{i}")  # type: ignore[no-any-return]

        got = await asyncio.gather(*(one(i) for i in range(60)))
        assert got == [str(i).encode() for i in range(60)]
        assert await ac.ainvalidate_tags(["t0"]) == 20
        s = cache.stats()
        assert (s.hits - s0.hits, s.sets - s0.sets) == (60, 60)

    def test_many_threads(self, cache: Any) -> None:
        s0 = cache.stats()
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def work(t: int) -> None:
            try:
                start.wait()
                for i in range(25):
                    key = f"t{t}-{i}"
                    cache.set(key, key.encode())
                    assert cache.get(key) == key.encode()
            except BaseException as exc:  # reported below, with the thread's error
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        s = cache.stats()
        assert (s.hits - s0.hits, s.sets - s0.sets) == (200, 200)
        if self.stats_exact:
            assert s.entries == 200

    # --- the model -------------------------------------------------------------------
    def test_state_machine(
        self, make_cache: Callable[[], Any], advance: Callable[[float], None]
    ) -> None:
        exact = self.stats_exact

        class Machine(CacheMachine):
            cache_factory = staticmethod(make_cache)
            advance_fn = staticmethod(advance)
            stats_exact = exact

            def __init__(self) -> None:
                self.cache = self.cache_factory()
                super().__init__()

        run_state_machine_as_test(  # type: ignore[no-untyped-call]
            Machine, settings=self.state_machine_settings
        )


class BoundedCacheContract(CacheContract):
    """:class:`CacheContract` plus the ``max_entries``/``max_bytes`` limits. Provide
    ``make_bounded_cache``: a fixture returning ``factory(max_entries=None,
    max_bytes=None)`` (``None``: the cache's default) for a new, empty cache on ``clock``
    whose LRU order is exact at the clock's resolution (the contract advances the clock
    by one second between uses)."""

    @pytest.fixture
    def make_bounded_cache(self) -> Callable[..., Any]:
        raise NotImplementedError("a BoundedCacheContract subclass must provide make_bounded_cache")

    @pytest.fixture
    def bounded(self, make_bounded_cache: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
        made: list[Any] = []

        def factory(**limits: int | None) -> Any:
            c = make_bounded_cache(**limits)
            c.clear()
            made.append(c)
            return c

        yield factory
        for c in made:
            close = getattr(c, "close", None)
            if close is not None:
                close()

    def test_max_entries_evicts_least_recently_used(
        self, bounded: Callable[..., Any], advance: Callable[[float], None]
    ) -> None:
        cache = bounded(max_entries=3)
        s0 = cache.stats()
        for k in "abc":
            cache.set(k, k.encode())
            advance(1)
        assert cache.get("a") == b"a"  # a is now the most recently used
        advance(1)
        cache.set("d", b"d")
        assert [cache.get(k) for k in "abcd"] == [b"a", None, b"c", b"d"]
        s = cache.stats()
        assert s.evictions - s0.evictions == 1
        assert s.entries == 3

    def test_max_bytes_evicts_least_recently_used(
        self, bounded: Callable[..., Any], advance: Callable[[float], None]
    ) -> None:
        cache = bounded(max_bytes=10)
        for k in "abc":
            cache.set(k, k.encode() * 4)
            advance(1)
        assert [cache.get(k) for k in "abc"] == [None, b"bbbb", b"cccc"]
        s = cache.stats()
        assert s.bytes == 8 and s.evictions >= 1

    def test_value_larger_than_max_bytes_is_not_stored(self, bounded: Callable[..., Any]) -> None:
        cache = bounded(max_bytes=10)
        cache.set("small", b"1234")
        cache.set("big", b"x" * 11)
        assert cache.get("big") is None
        assert cache.get("small") == b"1234"
