"""Built-in cache ``sqlite``: one SQLite file shared by the processes of one machine.

The durable replacement for a pickle file: values are the converter's JSON bytes in a
``BLOB`` column, never pickled objects, so a file written by one modelbus version can be
read (or safely rejected as a miss) by another.

- Concurrency: WAL journal (readers never block the writer), a ``busy_timeout`` for
  writers, every write in a ``BEGIN IMMEDIATE`` transaction (so two writers never
  deadlock upgrading a read lock), one connection per thread (``sqlite3`` connections
  must not be shared between threads without care), reopened after ``fork``.
- Time: ``clock`` is wall-clock seconds (``time.time``), since expiry times written by
  one process are read by others.
- Eviction: after a ``set``, while the file holds more than ``max_entries`` entries or
  ``max_bytes`` bytes of values, expired entries go first, then the least recently used,
  where "used" is the last ``set`` or ``get``. A hit records its use time only when the
  recorded one is ``touch_interval_s`` or more old, so repeated hits stay read-only; LRU
  order is exact to ``touch_interval_s`` (``0``: every hit writes, exact LRU).
- A lookup never waits for another process's write lock: its bookkeeping (recording a
  use, purging the expired entry it found, writing a batch of counters) is skipped when
  the file is busy, and done by a later call.
- Counters (``hits``, ``misses``, ``sets``, ``evictions``, ``errors``) live in the file
  and are summed over every process that used it since it was created; a process adds
  its lookups in batches (with its next write, every 256 lookups when the file is free,
  on ``stats()`` and on ``close()``), so a process killed without closing may lose the
  lookups of its last batch.
  ``entries``/``bytes`` are the live entries and their value bytes.
- Errors: ``sqlite3.Error`` from any method is counted in ``errors`` and re-raised (the
  client logs it and carries on without the cache).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from .._config.validators import path as path_validator
from ..protocols import CacheStats
from ._sqlite_store import SCHEMA_VERSION, evict, init_schema, write
from .caches import check_entry

__all__ = ["SCHEMA_VERSION", "SqliteCache", "SqliteCacheSettings", "default_path"]

_FLUSH_EVERY = 256
_COUNTERS = ("hits", "misses", "sets", "evictions", "errors")

_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def default_path() -> Path:
    """``cache.sqlite3`` in the user cache dir (platformdirs: ``~/.cache/modelbus`` on
    Linux, ``~/Library/Caches/modelbus`` on macOS, ``%LOCALAPPDATA%\\modelbus\\Cache``
    on Windows)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("modelbus")) / "cache.sqlite3"


def _positive_or_none(_inst: Any, attr: Any, v: Any) -> None:
    if v is not None and v <= 0:
        raise ValueError(f"{attr.name} must be > 0, or unset for no limit; got {v!r}")


@attrs.frozen
class SqliteCacheSettings:
    """``[caches.sqlite]``.

    - ``path``: the database file (``~`` expanded; relative paths from the working
      directory); default :func:`default_path`. ``":memory:"`` is refused: use
      ``cache = "memory"``.
    - ``ttl_s``: default time to live in seconds (``None``: no expiry).
    - ``max_entries`` / ``max_bytes``: limits enforced after each ``set`` (see the module
      doc for the eviction order); ``None``: no limit. Bytes are value bytes.
    - ``busy_timeout_s``: how long a writer waits for another process's write lock
      before failing with ``sqlite3.OperationalError: database is locked`` (seconds).
    - ``touch_interval_s``: LRU resolution in seconds (see the module doc).
    """

    path: str | None = attrs.field(default=None, validator=path_validator)
    ttl_s: float | None = None
    max_entries: int | None = attrs.field(default=100_000, validator=_positive_or_none)
    max_bytes: int | None = attrs.field(default=1024**3, validator=_positive_or_none)
    busy_timeout_s: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))
    touch_interval_s: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))


class SqliteCache:
    """The ``sqlite`` cache (see the module doc). ``clock`` returns wall-clock seconds.

    Raises ``ValueError`` for ``path=":memory:"`` and ``OSError``/``sqlite3.Error``
    (naming the file) when the file cannot be created or is not a cache of this schema.
    """

    def __init__(
        self,
        settings: SqliteCacheSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = s = settings or SqliteCacheSettings()
        if s.path == ":memory:":
            raise ValueError('sqlite cache path ":memory:" is per connection; use cache = "memory"')
        self.path = Path(s.path).expanduser() if s.path else default_path()
        self._clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._pending = dict.fromkeys(_COUNTERS, 0)
        self._pending_n = 0
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            init_schema(self._conn())
        except sqlite3.Error as exc:
            self.close()
            raise type(exc)(f"sqlite cache {self.path}: {exc}") from exc

    # --- connections -------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # forked: the parent's connections must not be used
            self._pid = os.getpid()
            self._local = threading.local()
            self._conns = []
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise sqlite3.ProgrammingError(f"sqlite cache {self.path} is closed")
            conn = sqlite3.connect(
                self.path,
                timeout=self.settings.busy_timeout_s,
                isolation_level=None,  # autocommit; writes use explicit BEGIN IMMEDIATE
                check_same_thread=False,  # only close() touches another thread's one
            )
            conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a cache needs no fsync
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _errors_counted(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error:
            self._count("errors")
            raise

    def _count(self, name: str) -> None:
        with self._lock:
            self._pending[name] += 1
            self._pending_n += 1

    def _take_pending(self) -> list[tuple[int, str]]:
        with self._lock:
            out = [(n, k) for k, n in self._pending.items() if n]
            self._pending = dict.fromkeys(_COUNTERS, 0)
            self._pending_n = 0
        return out

    def _flush(self, conn: sqlite3.Connection, pending: list[tuple[int, str]]) -> None:
        if pending:
            conn.executemany("UPDATE counters SET value = value + ? WHERE name = ?", pending)

    def _restore(self, pending: list[tuple[int, str]]) -> None:
        with self._lock:
            for n, k in pending:
                self._pending[k] += n
                self._pending_n += n

    def _flush_now(self, conn: sqlite3.Connection) -> None:
        pending = self._take_pending()
        if not pending:
            return
        try:
            self._flush_in_transaction(conn, pending)
        except sqlite3.Error:
            self._restore(pending)  # counted next time rather than lost
            raise

    # --- the Cache protocol --------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` (absent or expired; an expired entry is
        deleted)."""
        with self._errors_counted():
            conn = self._conn()
            now = self._clock()
            row = conn.execute(
                "SELECT value, expires_at, used_at FROM entries WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and row[1] is not None and row[1] <= now:
                sql = "DELETE FROM entries WHERE key = ? AND expires_at <= ?"
                self._unless_busy(conn, lambda: conn.execute(sql, (key, now)))
                row = None
            if row is not None and now - row[2] >= self.settings.touch_interval_s:
                sql = "UPDATE entries SET used_at = ? WHERE key = ?"
                self._unless_busy(conn, lambda: conn.execute(sql, (now, key)))
            self._count("misses" if row is None else "hits")
            if self._pending_n >= _FLUSH_EVERY:
                pending = self._take_pending()
                try:
                    if not self._unless_busy(
                        conn, lambda: self._flush_in_transaction(conn, pending)
                    ):
                        self._restore(pending)  # written with a later lookup or write
                except sqlite3.Error:
                    self._restore(pending)
                    raise
            return None if row is None else bytes(row[0])

    def _unless_busy(self, conn: sqlite3.Connection, work: Callable[[], object]) -> bool:
        """Run a lookup's own bookkeeping without waiting for another process's write lock
        (a hit must not wait on it): returns False, having done nothing, when the file is
        busy. Skipped use times make LRU coarser; skipped purges and counter batches are
        done by a later call."""
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            work()
            return True
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            return False
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.settings.busy_timeout_s * 1000)}")

    def _flush_in_transaction(
        self, conn: sqlite3.Connection, pending: list[tuple[int, str]]
    ) -> None:
        with write(conn):
            self._flush(conn, pending)

    def set(
        self, key: str, value: bytes, ttl_s: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds, then evict if over a limit."""
        check_entry(key, value, ttl_s, tags)
        s = self.settings
        ttl = s.ttl_s if ttl_s is None else ttl_s
        size = len(value)
        with self._errors_counted():
            conn = self._conn()
            pending = self._take_pending()
            try:
                with write(conn):
                    now = self._clock()
                    conn.execute("DELETE FROM entries WHERE key = ?", (key,))
                    if (ttl is None or ttl > 0) and (s.max_bytes is None or size <= s.max_bytes):
                        conn.execute(
                            "INSERT INTO entries (key, value, size, expires_at, used_at) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (key, value, size, None if ttl is None else now + ttl, now),
                        )
                        conn.executemany(
                            "INSERT OR IGNORE INTO tags (tag, key) VALUES (?, ?)",
                            [(t, key) for t in tags],
                        )
                        pending.append((1, "sets"))
                        evicted = evict(conn, now, s.max_entries, s.max_bytes)
                        if evicted:
                            pending.append((evicted, "evictions"))
                    self._flush(conn, pending)
            except sqlite3.Error:
                self._restore([p for p in pending if p[1] not in ("sets", "evictions")])
                raise

    def delete(self, key: str) -> bool:
        """Remove ``key``; returns whether a live entry was there."""
        with self._errors_counted():
            conn = self._conn()
            with write(conn):
                now = self._clock()
                live = conn.execute(
                    f"DELETE FROM entries WHERE key = ? AND {_LIVE}", (key, now)
                ).rowcount
                conn.execute("DELETE FROM entries WHERE key = ?", (key,))
            return live > 0

    def invalidate_tags(self, tags: Sequence[str]) -> int:
        """Remove every entry carrying any of ``tags``; returns how many were live."""
        if isinstance(tags, (str, bytes)):
            raise TypeError(f"tags must be a sequence of str, not a single {type(tags).__name__}")
        with self._errors_counted():
            conn = self._conn()
            with write(conn):
                now = self._clock()
                keys = {
                    k
                    for t in tags
                    for (k,) in conn.execute("SELECT key FROM tags WHERE tag = ?", (t,))
                }
                live = 0
                for k in keys:
                    live += conn.execute(
                        f"DELETE FROM entries WHERE key = ? AND {_LIVE}", (k, now)
                    ).rowcount
                    conn.execute("DELETE FROM entries WHERE key = ?", (k,))
            return live

    def clear(self) -> int:
        """Remove every entry; returns how many were live. Counters are kept."""
        with self._errors_counted():
            conn = self._conn()
            with write(conn):
                now = self._clock()
                live: int = conn.execute(
                    f"SELECT count(*) FROM entries WHERE {_LIVE}", (now,)
                ).fetchone()[0]
                conn.execute("DELETE FROM entries")
            return live

    def stats(self) -> CacheStats:
        """Counters summed over the processes using the file (see the module doc);
        expired entries are purged first, so ``entries``/``bytes`` are the live ones."""
        with self._errors_counted():
            conn = self._conn()
            pending = self._take_pending()
            try:
                with write(conn):
                    conn.execute("DELETE FROM entries WHERE expires_at <= ?", (self._clock(),))
                    self._flush(conn, pending)
                    values = dict(conn.execute("SELECT name, value FROM counters"))
            except sqlite3.Error:
                self._restore(pending)
                raise
        return CacheStats(**{k: int(values.get(k, 0)) for k in (*_COUNTERS, "bytes", "entries")})

    def close(self) -> None:
        """Write pending counters and close every thread's connection. Idempotent; the
        cache cannot be used afterwards."""
        if self._closed:
            return
        try:
            if self._pid == os.getpid() and self._pending_n:
                self._flush_now(self._conn())
        finally:
            self._closed = True
            with self._lock:
                conns, self._conns = self._conns, []
            for c in conns:
                c.close()
            self._local = threading.local()

    # --- the async side: SQLite calls block, so they run in a worker thread -------------
    async def aget(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self.get, key)

    async def aset(
        self, key: str, value: bytes, ttl_s: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        await asyncio.to_thread(self.set, key, value, ttl_s, tags)

    async def adelete(self, key: str) -> bool:
        return await asyncio.to_thread(self.delete, key)

    async def ainvalidate_tags(self, tags: Sequence[str]) -> int:
        return await asyncio.to_thread(self.invalidate_tags, tags)

    async def aclear(self) -> int:
        return await asyncio.to_thread(self.clear)

    async def astats(self) -> CacheStats:
        return await asyncio.to_thread(self.stats)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
