"""The built-in caches against the cache contract (``modelbus.testing.contracts_cache``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelbus.builtins.caches import MemoryCache, MemoryCacheSettings
from modelbus.builtins.sqlite_cache import SqliteCache, SqliteCacheSettings
from modelbus.testing import FakeClock
from modelbus.testing.contracts_cache import BoundedCacheContract


class TestMemoryCache(BoundedCacheContract):
    @pytest.fixture
    def make_cache(self, clock: FakeClock) -> Callable[[], Any]:
        return lambda: MemoryCache(clock=clock.monotonic)

    @pytest.fixture
    def make_bounded_cache(self, clock: FakeClock) -> Callable[..., Any]:
        def make(max_entries: int | None = None, max_bytes: int | None = None) -> MemoryCache:
            d = MemoryCacheSettings()
            s = MemoryCacheSettings(max_entries or d.max_entries, max_bytes or d.max_bytes)
            return MemoryCache(s, clock=clock.monotonic)

        return make


class TestSqliteCache(BoundedCacheContract):
    @pytest.fixture
    def make_cache(self, clock: FakeClock, tmp_path: Path) -> Iterator[Callable[[], Any]]:
        # One file per test: each new cache on it starts with clear() (the contract does
        # that). A second cache keeps the file open meanwhile, as another process would,
        # so closing a cache is not closing the file (a WAL checkpoint and fsync each).
        path = str(tmp_path / "cache.sqlite3")
        keeper = SqliteCache(SqliteCacheSettings(path=path))
        yield lambda: SqliteCache(SqliteCacheSettings(path=path), clock=clock.monotonic)
        keeper.close()

    @pytest.fixture
    def make_bounded_cache(self, clock: FakeClock, tmp_path: Path) -> Callable[..., Any]:
        paths = (tmp_path / f"bounded-{n}.sqlite3" for n in itertools.count())

        def make(max_entries: int | None = None, max_bytes: int | None = None) -> SqliteCache:
            s = SqliteCacheSettings(
                path=str(next(paths)),
                max_entries=max_entries,
                max_bytes=max_bytes,
                touch_interval_s=0,
            )
            return SqliteCache(s, clock=clock.monotonic)

        return make


# --- the contract has teeth: caches broken in one way each fail its state machine -----
class _ForgetsExpiry(MemoryCache):
    def get(self, key: str) -> bytes | None:
        e = self._data.get(key)
        if e is None:
            return super().get(key)
        self._stats.hits += 1
        return e.value


class _DeleteAlwaysTrue(MemoryCache):
    def delete(self, key: str) -> bool:
        super().delete(key)
        return True


class _InvalidatesFirstTagOnly(MemoryCache):
    def invalidate_tags(self, tags: Any) -> int:
        return super().invalidate_tags(list(tags)[:1])


class _ClearCountsExpired(MemoryCache):
    def clear(self) -> int:
        n = len(self._data)
        super().clear()
        return n


class _ZeroTtlKeepsOld(MemoryCache):
    def set(self, key: str, value: bytes, ttl_s: float | None = None, tags: Any = ()) -> None:
        if ttl_s is not None and ttl_s <= 0:
            return
        super().set(key, value, ttl_s, tags)


class _KeepsOldTags(MemoryCache):
    def set(self, key: str, value: bytes, ttl_s: float | None = None, tags: Any = ()) -> None:
        old = self._data[key].tags if key in self._data else ()
        super().set(key, value, ttl_s, [*tags, *(t for t in old if t not in tags)])


class _MissCountedAsHit(MemoryCache):
    def get(self, key: str) -> bytes | None:
        v = super().get(key)
        if v is None:
            self._stats.misses -= 1
            self._stats.hits += 1
        return v


@pytest.mark.parametrize(
    "broken",
    [
        _ForgetsExpiry,
        _DeleteAlwaysTrue,
        _InvalidatesFirstTagOnly,
        _ClearCountsExpired,
        _ZeroTtlKeepsOld,
        _KeepsOldTags,
        _MissCountedAsHit,
    ],
)
def test_state_machine_catches_broken_caches(broken: type[MemoryCache]) -> None:
    from hypothesis import Phase, settings

    class Contract(TestMemoryCache):
        # Derandomized, yet what is generated still depends on which modules are loaded
        # (Hypothesis draws on constants found in the code under test): 300 examples
        # missed _ClearCountsExpired in some test selections. A broken cache fails at
        # its first failing example, so the budget costs only when a bug goes unseen.
        state_machine_settings = settings(
            max_examples=3000,
            stateful_step_count=40,
            deadline=None,
            phases=[Phase.generate],
            database=None,
            derandomize=True,
        )

    clock = FakeClock(1_000.0)
    with pytest.raises((AssertionError, ExceptionGroup)):
        Contract().test_state_machine(lambda: broken(clock=clock.monotonic), clock.advance)
