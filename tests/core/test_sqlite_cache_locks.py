"""The ``sqlite`` cache and another process's write lock: a lookup never waits for it,
and a writer after a lookup still waits up to ``busy_timeout_s`` (the lookup's
no-wait setting does not leak); the async side closes for real."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from modelbus.builtins.sqlite_cache import SqliteCache, SqliteCacheSettings
from modelbus.testing import FakeClock


def _cache(tmp_path: Path, clock: FakeClock, **settings: Any) -> SqliteCache:
    return SqliteCache(
        SqliteCacheSettings(path=str(tmp_path / "c.db"), **settings), clock=clock.monotonic
    )


def _hold_write_lock(tmp_path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(tmp_path / "c.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    return other


def test_a_lookup_returns_at_once_while_the_file_is_locked(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    # A lookup that waited would sit the whole busy_timeout_s (then skip its bookkeeping
    # anyway): bounded here at a quarter of it, a margin no loaded machine eats up.
    cache = _cache(tmp_path, clock, busy_timeout_s=20, touch_interval_s=0)
    cache.set("k", b"v")
    cache.set("old", b"o", 1.5)
    clock.advance(2)
    other = _hold_write_lock(tmp_path)
    try:
        for key, want in (("k", b"v"), ("old", None)):  # a touch, an expired purge
            started = time.monotonic()
            assert cache.get(key) == want
            assert time.monotonic() - started < 5
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert cache.stats().entries == 1  # the purge skipped under the lock is done now


@pytest.mark.parametrize("lookup", ["hit", "expired", "miss"])
def test_a_write_after_a_lookup_still_waits_for_the_lock(tmp_path: Path, lookup: str) -> None:
    clock = FakeClock(1000.0)
    cache = _cache(tmp_path, clock, busy_timeout_s=10, touch_interval_s=0)
    cache.set("k", b"v", 1)
    if lookup == "expired":
        clock.advance(1)
    cache.get("k" if lookup != "miss" else "absent")
    other = _hold_write_lock(tmp_path)
    # The other process commits shortly; a writer left at busy_timeout 0 would fail now.
    release = threading.Timer(0.2, lambda: (other.execute("COMMIT"), other.close()))
    release.start()
    try:
        cache.set("k2", b"v2")
    finally:
        release.join()
    assert cache.get("k2") == b"v2"
    assert cache.stats().errors == 0


async def test_aclose_closes_before_returning(tmp_path: Path) -> None:
    cache = _cache(tmp_path, FakeClock(1000.0))
    await cache.aset("k", b"v", None, ["t"])
    assert await cache.aget("k") == b"v"
    assert await cache.ainvalidate_tags(["t"]) == 1
    await cache.aset("k", b"v")
    assert await cache.adelete("k") is True
    await cache.aset("k", b"v")
    assert await cache.aclear() == 1
    assert (await cache.astats()).sets == 3
    await cache.aclose()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        cache.get("k")
    reopened = _cache(tmp_path, FakeClock(1000.0))
    assert reopened.stats().hits == 1  # close wrote the pending lookup counters
    reopened.close()


def test_stats_on_a_locked_file_raises_and_keeps_the_pending_counters(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    cache = _cache(tmp_path, clock, busy_timeout_s=0.05)
    cache.set("k", b"v")
    for _ in range(3):
        cache.get("k")
    cache.get("absent")
    other = _hold_write_lock(tmp_path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            cache.stats()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            cache.set("k2", b"v")
    finally:
        other.execute("ROLLBACK")
        other.close()
    s = cache.stats()  # nothing counted before the failures was lost
    assert (s.hits, s.misses, s.sets, s.errors) == (3, 1, 1, 2)
    cache.close()


def test_delete_and_invalidate_remove_expired_entries_too(tmp_path: Path) -> None:
    # The clock is wall time (time.time), which can step back: an expired entry left in
    # the file would come back to life.
    clock = FakeClock(1000.0)
    cache = _cache(tmp_path, clock)
    cache.set("k", b"v", 1)
    cache.set("tagged", b"v", 1, ["t"])
    clock.advance(2)
    assert cache.delete("k") is False  # expired: not a live entry
    assert cache.invalidate_tags(["t"]) == 0
    clock.now -= 2
    assert (cache.get("k"), cache.get("tagged")) == (None, None)
    cache.close()


def test_one_connection_per_thread_and_close_closes_them_all(tmp_path: Path) -> None:
    cache = _cache(tmp_path, FakeClock(1000.0))
    cache.set("k", b"v")
    for _ in range(3):
        cache.get("k")
    threads = [threading.Thread(target=lambda: [cache.get("k") for _ in range(3)]) for _ in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conns = list(cache._conns)
    assert len(conns) == 3  # this thread's and one each for the two others
    cache.close()
    for c in conns:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            c.execute("SELECT 1")
