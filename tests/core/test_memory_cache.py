"""The memory cache's bookkeeping, case by case (the ``CacheContract`` state machine
explores the same rules at random; these pin the cases it can miss): the tag index of
the other keys survives a delete, byte and entry limits, counters, type checks."""

from __future__ import annotations

import pytest

from modelbus.builtins.caches import MemoryCache, MemoryCacheSettings, NoCache, check_entry
from modelbus.testing import FakeClock


def cache(**settings: object) -> tuple[MemoryCache, FakeClock]:
    clock = FakeClock(start=1000.0)
    return MemoryCache(MemoryCacheSettings(**settings), clock=clock.monotonic), clock  # type: ignore[arg-type]


def test_deleting_one_key_keeps_the_tag_index_of_the_others() -> None:
    c, _ = cache()
    c.set("a", b"1", tags=["t", "u"])
    c.set("b", b"2", tags=["t"])
    c.set("c", b"3", tags=["u"])
    assert c.delete("a") is True
    assert c.invalidate_tags(["t"]) == 1
    assert c.get("b") is None
    assert c.get("c") == b"3"
    assert c.invalidate_tags(["u"]) == 1
    assert c.get("c") is None


def test_replacing_a_key_drops_its_old_tags() -> None:
    c, _ = cache()
    c.set("a", b"1", tags=["old"])
    c.set("a", b"2", tags=["new"])
    assert c.invalidate_tags(["old"]) == 0
    assert c.get("a") == b"2"
    assert c.invalidate_tags(["new", "new"]) == 1
    assert c.stats().entries == 0


def test_invalidate_counts_live_entries_only_and_removes_expired_ones_too() -> None:
    c, clock = cache()
    c.set("short", b"1", ttl_s=1, tags=["t"])
    c.set("long", b"2", ttl_s=10, tags=["t"])
    c.set("untagged", b"3")
    clock.advance(1)  # "short" is expired from set time + ttl_s on
    assert c.invalidate_tags(["t", "absent"]) == 1
    assert c.stats().entries == 1
    assert c.get("untagged") == b"3"


def test_expiry_is_at_set_time_plus_ttl_and_the_default_ttl_applies() -> None:
    c, clock = cache(ttl_s=5.0)
    clock.advance(100)  # a clock that does not start at 0
    c.set("k", b"v")
    c.set("explicit", b"v", ttl_s=20)
    clock.advance(4.999)
    assert c.get("k") == b"v"
    clock.advance(0.001)
    assert c.get("k") is None
    assert c.get("explicit") == b"v"
    assert c.delete("explicit") is True
    c.set("gone", b"v", ttl_s=1)
    clock.advance(1)
    assert c.delete("gone") is False  # expired counts as absent


def test_ttl_zero_removes_the_older_value_and_stores_nothing() -> None:
    c, _ = cache()
    c.set("k", b"old", tags=["t"])
    c.set("k", b"new", ttl_s=0)
    assert c.get("k") is None
    s = c.stats()
    assert (s.sets, s.entries, s.bytes) == (1, 0, 0)
    c.set("k", b"new", ttl_s=-1)
    assert c.get("k") is None


def test_byte_limit_evicts_least_recently_used_and_skips_oversized_values() -> None:
    c, _ = cache(max_bytes=10)
    c.set("a", b"aaaa")
    c.set("b", b"bbbb")
    assert c.get("a") == b"aaaa"  # "b" is now the least recently used
    c.set("c", b"cccc")
    assert c.get("b") is None
    assert (c.get("a"), c.get("c")) == (b"aaaa", b"cccc")
    s = c.stats()
    assert (s.bytes, s.entries, s.evictions) == (8, 2, 1)
    c.set("exact", b"x" * 10)  # exactly max_bytes fits, evicting the rest
    assert c.get("exact") == b"x" * 10
    c.set("huge", b"x" * 11)
    assert c.get("huge") is None
    s = c.stats()
    assert (s.entries, s.bytes, s.evictions, s.sets) == (1, 10, 3, 4)


def test_entry_limit_evicts_exactly_down_to_the_limit() -> None:
    c, _ = cache(max_entries=2)
    for k in "abc":
        c.set(k, b"v")
    assert [c.get(k) for k in "abc"] == [None, b"v", b"v"]
    s = c.stats()
    assert (s.entries, s.evictions, s.hits, s.misses) == (2, 1, 2, 1)


def test_counters_and_stats_purge_the_expired() -> None:
    c, clock = cache()
    c.set("k", b"vv", ttl_s=1)
    c.set("forever", b"v")
    assert c.get("k") == b"vv"
    assert c.get("nope") is None
    clock.advance(2)
    s = c.stats()
    assert (s.hits, s.misses, s.sets, s.entries, s.bytes) == (1, 1, 2, 1, 1)
    assert c.get("k") is None
    assert c.stats().misses == 2


def test_clear_counts_live_entries_keeps_counters_and_forgets_tags() -> None:
    c, clock = cache()
    c.set("a", b"1", tags=["t"])
    c.set("b", b"2", ttl_s=1, tags=["t"])
    clock.advance(1)
    assert c.clear() == 1
    assert c.stats().sets == 2
    assert (c.stats().entries, c.stats().bytes) == (0, 0)
    c.set("a", b"1")
    assert c.invalidate_tags(["t"]) == 0
    assert c.get("a") == b"1"


async def test_the_async_side_is_the_same_cache() -> None:
    c, _ = cache()
    await c.aset("k", b"v", None, ["t"])
    assert await c.aget("k") == b"v"
    assert c.get("k") == b"v"
    assert await c.ainvalidate_tags(["t"]) == 1
    await c.aset("k", b"v")
    assert await c.adelete("k") is True
    await c.aset("k", b"v")
    assert await c.aclear() == 1
    assert (await c.astats()).sets == 3


@pytest.mark.parametrize(
    ("args", "word"),
    [
        ((1, b"v", None, ()), "key"),
        (("k", "v", None, ()), "value"),
        (("k", b"v", "5", ()), "ttl_s"),
        (("k", b"v", True, ()), "ttl_s"),
        (("k", b"v", None, "tag"), "tags"),
        (("k", b"v", None, [1]), "tag"),
    ],
)
def test_check_entry_names_the_wrong_argument(args: tuple[object, ...], word: str) -> None:
    with pytest.raises(TypeError, match=word):
        check_entry(*args)  # type: ignore[arg-type]
    c, _ = cache()
    with pytest.raises(TypeError):
        c.set(*args)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tags"):
        c.invalidate_tags("t")


def test_check_entry_accepts_numbers_and_sequences() -> None:
    check_entry("k", b"v", 1, ["a", "b"])
    check_entry("k", b"v", 1.5, ("a",))
    check_entry("k", b"v", None, ())


def test_settings_reject_non_positive_limits() -> None:
    for bad in ({"max_entries": 0}, {"max_bytes": 0}):
        with pytest.raises(ValueError):
            MemoryCacheSettings(**bad)  # type: ignore[arg-type]
    one = MemoryCache(MemoryCacheSettings(max_entries=1, max_bytes=1))
    one.set("a", b"1")
    one.set("b", b"2")
    assert (one.get("a"), one.get("b")) == (None, b"2")
    assert MemoryCacheSettings().max_entries == 10_000
    assert MemoryCacheSettings().max_bytes == 256 * 1024 * 1024


def test_no_cache_stores_nothing() -> None:
    n = NoCache()
    n.set("k", b"v")
    assert n.get("k") is None
    assert (n.delete("k"), n.invalidate_tags(["t"]), n.clear()) == (False, 0, 0)
    assert n.stats().sets == 0
    assert n.blocking is False


def test_the_three_caches_are_registered_with_their_settings() -> None:
    from modelbus._plugins.loading import load_plugins
    from modelbus.builtins.sqlite_cache import SqliteCache, SqliteCacheSettings

    reg = load_plugins().registry
    got = {n: reg.get("caches", n) for n in ("memory", "sqlite", "none")}
    assert (got["memory"].factory, got["memory"].settings) == (MemoryCache, MemoryCacheSettings)
    assert (got["sqlite"].factory, got["sqlite"].settings) == (SqliteCache, SqliteCacheSettings)
    assert got["none"].factory is NoCache
