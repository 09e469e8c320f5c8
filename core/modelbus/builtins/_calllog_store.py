"""The call log's SQLite file: its schema, the batched insert and the queries behind
``modelbus logs`` and ``modelbus chat --continue``.

Schema (version in ``PRAGMA user_version``): ``calls``, one row per call (JSON text in
``messages``, ``params``, ``response``, ``usage`` and ``error``), and ``calls_fts``, an
FTS5 table over each call's prompt and reply text whose ``rowid`` is the call's ``id``
(SQLite FTS5 docs, section 4.4: external ``rowid``). The file is in WAL mode, so
``modelbus logs`` reads while a process writes.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ._sqlite_store import write

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "QueryError",
    "connect",
    "fts_query",
    "insert",
    "last_conversation",
    "row_dict",
    "search",
    "texts",
    "turns",
]

SCHEMA_VERSION = 1

# Order of the values :func:`insert` takes, one tuple per call.
COLUMNS = (
    "ts",
    "cid",
    "operation",
    "provider",
    "model",
    "stream",
    "messages",
    "params",
    "response",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "usage",
    "cost_usd",
    "latency_s",
    "attempts",
    "cache",
    "error",
)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS calls (
        id                INTEGER PRIMARY KEY,
        ts                REAL NOT NULL,
        cid               TEXT,
        operation         TEXT NOT NULL,
        provider          TEXT NOT NULL,
        model             TEXT NOT NULL,
        stream            INTEGER NOT NULL,
        messages          TEXT,
        params            TEXT,
        response          TEXT,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        total_tokens      INTEGER,
        usage             TEXT,
        cost_usd          REAL,
        latency_s         REAL,
        attempts          INTEGER,
        cache             TEXT,
        error             TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS calls_cid ON calls (cid, id)",
    "CREATE INDEX IF NOT EXISTS calls_model ON calls (model, id)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS calls_fts USING fts5 (prompt, reply)",
)


class QueryError(ValueError):
    """A ``-q`` text SQLite's FTS5 cannot run (the message says why)."""


def connect(path: Path, *, busy_timeout_s: float = 5.0, create: bool = True) -> sqlite3.Connection:
    """A connection to the log at ``path`` in autocommit mode (transactions are explicit),
    schema created when ``create``, else opened read-only (an empty file then reads as
    an empty log). Raises ``OSError`` / ``sqlite3.Error`` when the file cannot be opened
    or is not a call log of this schema version."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    else:
        # mode=ro: reading never creates the file nor takes the write lock.
        uri = path.resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, isolation_level=None)
    try:
        if create:
            _init(conn)
        elif _check_version(conn) == 0:
            # Nothing written yet: an empty in-memory log with the same tables.
            conn.close()
            conn = sqlite3.connect(":memory:", isolation_level=None)
            for stmt in _SCHEMA:
                conn.execute(stmt)
    except BaseException:
        conn.close()
        raise
    return conn


def _check_version(conn: sqlite3.Connection) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version not in (0, SCHEMA_VERSION):
        raise sqlite3.DatabaseError(
            f"call log schema version {version}, this modelbus reads {SCHEMA_VERSION}; "
            "move the file away or point [log] path elsewhere"
        )
    return version


def _init(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode: a power cut may lose the last commits, never corrupt the file
    # (SQLite docs, "PRAGMA synchronous"); a log does not need FULL's fsync per commit.
    conn.execute("PRAGMA synchronous = NORMAL")
    with write(conn):
        if _check_version(conn) == 0:
            for stmt in _SCHEMA:
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


_INSERT = f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def insert(conn: sqlite3.Connection, rows: Sequence[tuple[tuple[Any, ...], str, str]]) -> None:
    """Write ``rows`` (each: the values of :data:`COLUMNS`, the prompt text, the reply
    text) in one transaction: all or none."""
    with write(conn):
        for values, prompt, reply in rows:
            cur = conn.execute(_INSERT, values)
            conn.execute(
                "INSERT INTO calls_fts (rowid, prompt, reply) VALUES (?, ?, ?)",
                (cur.lastrowid, prompt, reply),
            )


_WORD = re.compile(r"\S+")


def fts_query(text: str) -> str:
    """``text`` as an FTS5 query that matches rows holding every word of it: each
    whitespace-separated word becomes a quoted string (quotes doubled), so operators,
    parentheses and column filters in user text are searched for, never parsed (SQLite
    FTS5 docs, section 3.1: strings). A word ending in ``*`` stays a prefix query.

    Raises :class:`QueryError` when ``text`` holds no word."""
    parts = []
    # SQLite reads the query as a C string: a NUL would end it inside a quoted word.
    for word in _WORD.findall(text.replace("\x00", " ")):
        star = word.endswith("*") and len(word) > 1
        body = word[:-1] if star else word
        parts.append('"' + body.replace('"', '""') + '"' + ("*" if star else ""))
    if not parts:
        raise QueryError("the search text is empty")
    return " ".join(parts)


def search(
    conn: sqlite3.Connection,
    *,
    query: str | None = None,
    model: str | None = None,
    cid: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The newest ``limit`` calls, newest first, holding every word of ``query`` in their
    prompt or reply (see :func:`fts_query`), of ``model`` and conversation ``cid`` when
    given; each as :func:`row_dict` makes it. Raises :class:`QueryError` for a query
    FTS5 refuses."""
    where, args = [], []
    if query is not None:
        where.append("id IN (SELECT rowid FROM calls_fts WHERE calls_fts MATCH ?)")
        args.append(fts_query(query))
    if model is not None:
        where.append("model = ?")
        args.append(model)
    if cid is not None:
        where.append("cid = ?")
        args.append(cid)
    sql = "SELECT * FROM calls"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    try:
        cur = conn.execute(sql, (*args, limit))
    except sqlite3.OperationalError as exc:
        if query is not None and any(w in str(exc) for w in ("fts5", "syntax", "unterminated")):
            raise QueryError(f"cannot search for {query!r}: {exc}") from None
        raise
    names = [d[0] for d in cur.description]
    return [row_dict(dict(zip(names, r, strict=True))) for r in cur.fetchall()]


def row_dict(raw: dict[str, Any]) -> dict[str, Any]:
    """A ``calls`` row as ``modelbus logs --json`` prints it: the JSON columns decoded,
    ``stream`` a bool, token counts folded into ``usage``."""
    out = dict(raw)
    for key in ("messages", "params", "response", "usage", "error"):
        v = out.get(key)
        out[key] = json.loads(v) if v is not None else None
    out["stream"] = bool(out["stream"])
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        out.pop(key, None)
    return out


def last_conversation(conn: sqlite3.Connection) -> str | None:
    """The conversation id of the newest call that has one."""
    row = conn.execute(
        "SELECT cid FROM calls WHERE cid IS NOT NULL ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else str(row[0])


def turns(conn: sqlite3.Connection, cid: str) -> list[dict[str, Any]]:
    """The user and assistant messages (OpenAI shape) of conversation ``cid``: those sent
    by its newest answered chat call followed by that call's reply; ``[]`` when it has
    none. System and tool messages are left out (the next call brings its own)."""
    row = conn.execute(
        "SELECT messages, response FROM calls WHERE cid = ? AND operation = 'chat' "
        "AND error IS NULL AND response IS NOT NULL ORDER BY id DESC LIMIT 1",
        (cid,),
    ).fetchone()
    if row is None:
        return []
    msgs: list[dict[str, Any]] = json.loads(row[0] or "[]")
    reply = json.loads(row[1])
    out = [m for m in msgs if m.get("role") in ("user", "assistant")]
    if isinstance(reply, dict) and reply.get("role") == "assistant":
        out.append(reply)
    return [_plain(m) for m in out]


def _plain(m: dict[str, Any]) -> dict[str, Any]:
    # Tool calls would need their tool results, which a plain chat does not send back.
    return {k: v for k, v in m.items() if k in ("role", "content", "name")}


def texts(messages: Iterable[dict[str, Any]]) -> str:
    """The text of OpenAI-shaped ``messages``, one per line (what FTS5 indexes)."""
    lines = []
    for m in messages:
        c = m.get("content")
        if isinstance(c, str):
            lines.append(c)
        elif isinstance(c, list):
            lines.extend(p["text"] for p in c if isinstance(p, dict) and "text" in p)
    return "\n".join(lines)
