"""The file format and the write-side SQL of the ``sqlite`` cache (see ``sqlite_cache``).

Schema (version in ``PRAGMA user_version``): ``entries`` (key, value BLOB, size, expires_at,
used_at), ``tags`` (tag, key) and ``counters`` (name, value). Triggers keep the
``entries``/``bytes`` counters and the tags of a deleted entry right whichever process
writes, so eviction reads two rows instead of counting the table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SCHEMA_VERSION", "evict", "init_schema", "write"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key        TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    size       INTEGER NOT NULL,
    expires_at REAL,
    used_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_used_at ON entries (used_at);
CREATE INDEX IF NOT EXISTS entries_expires_at ON entries (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS tags (
    tag TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (tag, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_key ON tags (key);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO counters (name, value) VALUES
    ('entries', 0), ('bytes', 0), ('hits', 0), ('misses', 0), ('sets', 0),
    ('evictions', 0), ('errors', 0);
-- entries/bytes follow every insert and delete, whichever process makes it
CREATE TRIGGER IF NOT EXISTS entries_insert AFTER INSERT ON entries BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'entries';
    UPDATE counters SET value = value + NEW.size WHERE name = 'bytes';
END;
CREATE TRIGGER IF NOT EXISTS entries_delete AFTER DELETE ON entries BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'entries';
    UPDATE counters SET value = value - OLD.size WHERE name = 'bytes';
    DELETE FROM tags WHERE key = OLD.key;
END;
"""


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction taking the write lock up front (``BEGIN IMMEDIATE``): a
    deferred one upgrading from a read lock could fail at once with SQLITE_BUSY instead
    of waiting the busy timeout. Rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def init_schema(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL and create the schema, or check the existing one's version
    (``sqlite3.DatabaseError`` for another version)."""
    conn.execute("PRAGMA journal_mode = WAL")
    with write(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(
                f"schema version {version}, this modelbus reads {SCHEMA_VERSION}; "
                "delete the file or point [caches.sqlite] path elsewhere"
            )
        if version == 0:
            for stmt in _statements(_SCHEMA):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _totals(conn: sqlite3.Connection) -> tuple[int, int]:
    rows = dict(conn.execute("SELECT name, value FROM counters WHERE name IN ('entries', 'bytes')"))
    return rows["entries"], rows["bytes"]


def _over(entries: int, nbytes: int, max_entries: int | None, max_bytes: int | None) -> bool:
    return (max_entries is not None and entries > max_entries) or (
        max_bytes is not None and nbytes > max_bytes
    )


def evict(
    conn: sqlite3.Connection, now: float, max_entries: int | None, max_bytes: int | None
) -> int:
    """Inside a write transaction: while over a limit, delete the expired entries, then
    the least recently used (``used_at``, then insertion order); returns how many
    live entries were evicted."""
    if max_entries is None and max_bytes is None:
        return 0
    entries, nbytes = _totals(conn)
    if not _over(entries, nbytes, max_entries, max_bytes):
        return 0
    conn.execute("DELETE FROM entries WHERE expires_at <= ?", (now,))
    entries, nbytes = _totals(conn)
    evicted = 0
    if max_entries is not None and entries > max_entries:
        n = entries - max_entries
        conn.execute(
            "DELETE FROM entries WHERE rowid IN "
            "(SELECT rowid FROM entries ORDER BY used_at, rowid LIMIT ?)",
            (n,),
        )
        evicted += n
        entries, nbytes = _totals(conn)
    if max_bytes is not None and nbytes > max_bytes:
        excess, victims = nbytes - max_bytes, []
        for rowid, size in conn.execute("SELECT rowid, size FROM entries ORDER BY used_at, rowid"):
            victims.append((rowid,))
            excess -= size
            if excess <= 0:
                break
        conn.executemany("DELETE FROM entries WHERE rowid = ?", victims)
        evicted += len(victims)
    return evicted


def _statements(script: str) -> Iterator[str]:
    """The statements of ``script`` (``executescript`` would COMMIT our transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf.strip()
            buf = ""
