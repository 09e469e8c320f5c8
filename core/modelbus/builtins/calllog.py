"""Built-in observer ``log``: every call recorded in a SQLite file, searchable with FTS5.

Turned on by ``[modelbus] observers = ["log"]`` in a library; the ``modelbus`` CLI's
``chat`` turns it on by itself unless ``[log] enabled = false`` or ``--no-log``. Read it
with ``modelbus logs`` (:mod:`modelbus.builtins._calllog_store` holds the file format).

- The caller's thread only keeps the call's events (immutable objects) and hands them,
  at ``CallFinished``/``CallFailed``, to a queue (``put_nowait``, never waiting): a
  background thread turns them into rows and writes whatever the queue holds in one
  transaction. One writer thread per file per process, shared by every client.
- A full queue, a full disk, a locked or unwritable file: the call goes on, the rows are
  dropped and one ``modelbus.log_write_failed`` warning says so (again only after a
  write has succeeded in between).
- No secret is written: parameters and messages pass through the same redaction as the
  structured logs (values under secret-named keys, key-shaped strings, every
  :class:`modelbus.Secret`), errors are :class:`modelbus.events.ErrorInfo` (masked), and
  credentials are never in a request (they live in the provider's settings).
- The conversation id of a call is the one :func:`conversation` set in the caller's
  context (``None`` outside one).
- Pending rows are written at :func:`flush` / :func:`flush_all`, before every read of the
  file in this process, and at interpreter exit (``atexit``, up to ``EXIT_FLUSH_S``).
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import attrs

from .._config.validators import path as path_validator
from ..events import CallFailed, CallFinished, CallStarted, RetryScheduled
from ..hookspecs import hookimpl

__all__ = [
    "CallLog",
    "LogSettings",
    "Writer",
    "conversation",
    "current_conversation",
    "default_path",
    "flush_all",
    "log_path",
    "writer_for",
]

BATCH = 512  # rows per transaction at most: bounds the time the write lock is held
EXIT_FLUSH_S = 5.0
DATA_DIR_ENV = "MODELBUS_DATA_DIR"

_CID: ContextVar[str | None] = ContextVar("modelbus_log_cid", default=None)


def default_path() -> Path:
    """``calls.sqlite3`` in ``$MODELBUS_DATA_DIR`` when set, else in the user data dir
    (platformdirs: ``~/.local/share/modelbus`` on Linux, ``~/Library/Application
    Support/modelbus`` on macOS, ``%LOCALAPPDATA%\\modelbus\\modelbus`` on Windows)."""
    base = os.environ.get(DATA_DIR_ENV)
    if not base:
        import platformdirs

        base = platformdirs.user_data_dir("modelbus")
    return Path(base) / "calls.sqlite3"


@attrs.frozen
class LogSettings:
    """``[log]`` (also accepted as ``[observers.log]``): the call log.

    - ``enabled``: ``false`` turns the log off: the CLI does not add it, and a client
      whose ``observers`` name ``log`` records nothing.
    - ``path``: the SQLite file (``~`` expanded; relative paths from the working
      directory); default :func:`default_path`.
    - ``queue_size``: calls waiting for the writer thread at most; beyond that a call is
      not recorded (one warning) rather than making the caller wait.
    - ``busy_timeout_s``: seconds the writer waits for another process's write lock
      before giving up on a batch (one warning; the calls are not affected).
    """

    enabled: bool = True
    path: str | None = attrs.field(default=None, validator=path_validator)
    queue_size: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))
    busy_timeout_s: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))


def log_path(settings: LogSettings) -> Path:
    """The file ``settings`` names (see :class:`LogSettings`)."""
    return Path(settings.path).expanduser() if settings.path else default_path()


@contextmanager
def conversation(cid: str) -> Iterator[str]:
    """Record the calls made inside this block (this thread or task, and tasks it starts)
    under conversation id ``cid``; yields ``cid``."""
    token = _CID.set(cid)
    try:
        yield cid
    finally:
        _CID.reset(token)


def current_conversation() -> str | None:
    """The conversation id :func:`conversation` set here, if any."""
    return _CID.get()


class CallLog:
    """The ``log`` observer (a :class:`modelbus.protocols.Observer`). ``clock``: wall-clock
    seconds, the time a call started as written in ``ts``."""

    def __init__(
        self, settings: LogSettings | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = s = settings or LogSettings()
        self.path = log_path(s)
        self._clock = clock
        # call_id → [CallStarted, cid, ts, retries]; touched only on the caller's side.
        self._open: dict[int, list[Any]] = {}
        self._writer = writer_for(self.path, s) if s.enabled else None

    def on_event(self, event: Any) -> None:
        w = self._writer
        if w is None:
            return
        t = type(event)
        if t is CallStarted:
            self._open[event.call_id] = [event, _CID.get(), self._clock(), 0]
        elif t is CallFinished or t is CallFailed:
            started = self._open.pop(event.call_id, None)
            if started is not None:
                w.submit((*started, event))
        elif t is RetryScheduled:
            entry = self._open.get(event.call_id)
            if entry is not None:
                entry[3] += 1

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the calls finished so far are written (or dropped); ``False`` when
        ``timeout`` seconds passed first."""
        return True if self._writer is None else self._writer.flush(timeout)

    def close(self) -> None:
        """Write what is queued (up to ``EXIT_FLUSH_S`` seconds). The writer thread stays:
        other clients of the process share it."""
        self.flush(EXIT_FLUSH_S)


class Writer:
    """The background writer of one file: a bounded queue and a daemon thread started at
    the first row. Use :func:`writer_for` (one per file per process)."""

    def __init__(self, path: Path, settings: LogSettings) -> None:
        self.path = path
        self.busy_timeout_s = settings.busy_timeout_s
        self._size = settings.queue_size
        self._failing = False  # a warning was given and no write succeeded since
        self._dropped_full = False
        self._row_failed = False  # said once per writer: the same bug fails every call
        self.written = 0
        self.dropped = 0
        # Held while a batch is written, and by fork() (see _before_fork): a child must
        # not inherit SQLite's view of a transaction its parent's thread is inside.
        self.io_lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        """An empty queue and no thread: at start, and in a child after ``fork`` (the
        parent's thread is not there; its queued rows are the parent's to write)."""
        self._q: queue.Queue[Any] = queue.Queue(maxsize=self._size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, item: tuple[Any, ...]) -> None:
        """Queue one finished call; never blocks (a full queue drops it, one warning)."""
        if self._thread is None:
            self._start()
        try:
            self._q.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            if not self._dropped_full:
                self._dropped_full = True
                self._warn("the queue is full (the disk is slower than the calls)", 1)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for every row queued before this call to be written or dropped."""
        if self._thread is None:
            return True
        done = threading.Event()
        try:
            self._q.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def _start(self) -> None:
        # Imported here, on the caller's thread: a fork() while the writer thread is
        # importing would leave the child a half-initialised module.
        import sqlite3  # noqa: F401

        from . import _calllog_rows, _calllog_store  # noqa: F401

        with self._lock:
            if self._thread is None:
                t = threading.Thread(target=self._run, name="modelbus-log", daemon=True)
                t.start()
                self._thread = t

    def _run(self) -> None:
        from . import _calllog_rows as rows

        conn = None
        while True:
            batch = [self._q.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            marks = [b for b in batch if isinstance(b, threading.Event)]
            items = [b for b in batch if not isinstance(b, threading.Event)]
            batch_rows = []
            for item in items:
                try:
                    r = rows.row(item)
                except Exception as exc:  # a value the row code did not foresee
                    self.dropped += 1
                    if not self._row_failed:
                        self._row_failed = True
                        self._warn(f"cannot record a call: {type(exc).__name__}: {exc}", 1)
                    continue
                if r is not None:
                    batch_rows.append(r)
            if batch_rows:
                with self.io_lock:
                    conn = self._write(conn, batch_rows)
            for m in marks:
                m.set()

    def _write(self, conn: Any, batch: list[Any]) -> Any:
        import sqlite3

        from ._calllog_store import connect, insert

        try:
            if conn is None:
                conn = connect(self.path, busy_timeout_s=self.busy_timeout_s)
            insert(conn, batch)
        except (OSError, sqlite3.Error) as exc:
            self.dropped += len(batch)
            if not self._failing:
                self._failing = True
                self._warn(f"{type(exc).__name__}: {exc}", len(batch))
            if conn is not None and not isinstance(exc, sqlite3.OperationalError):
                conn.close()  # a damaged file: reopen for the next batch
                conn = None
            return conn
        self.written += len(batch)
        self._failing = self._dropped_full = False
        return conn

    def _warn(self, why: str, n: int) -> None:
        from .._logging import get_logger, redact

        get_logger("modelbus.log").warning(
            "modelbus.log_write_failed",
            path=str(self.path),
            error=redact(why),
            calls_not_logged=n,
            note="the calls are not affected; said once until a write succeeds",
        )


_WRITERS: dict[Path, Writer] = {}
_WRITERS_LOCK = threading.Lock()


def writer_for(path: Path, settings: LogSettings) -> Writer:
    """The process's writer of ``path`` (made on first use; the first settings win)."""
    key = path.absolute()
    with _WRITERS_LOCK:
        w = _WRITERS.get(key)
        if w is None:
            w = _WRITERS[key] = Writer(key, settings)
        return w


def flush_all(timeout: float | None = None, path: Path | None = None) -> None:
    """Write what every writer of this process (or only the one of ``path``) holds."""
    with _WRITERS_LOCK:
        writers = list(_WRITERS.values())
    deadline = None if timeout is None else time.monotonic() + timeout
    for w in writers:
        if path is None or w.path == path.absolute():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            w.flush(left)


def _before_fork() -> None:
    _WRITERS_LOCK.acquire()
    for w in _WRITERS.values():
        w.io_lock.acquire()


def _after_fork_in_parent() -> None:
    for w in _WRITERS.values():
        w.io_lock.release()
    _WRITERS_LOCK.release()


def _after_fork_in_child() -> None:
    # The child has none of the parent's threads: clients it inherited keep their
    # writers, which start a thread (and a connection) of their own at its first row.
    # The parent's connection is left unclosed: closing it would drop the parent's
    # POSIX locks on the file (SQLite docs, "How To Corrupt", section 2.6).
    global _WRITERS_LOCK
    _WRITERS_LOCK = threading.Lock()
    for w in _WRITERS.values():
        w.io_lock = threading.Lock()
        w._reset()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
atexit.register(flush_all, EXIT_FLUSH_S)


@hookimpl
def modelbus_register_observers(register: Callable[..., None]) -> None:
    register(
        "log",
        CallLog,
        settings=LogSettings,
        description="Every call recorded in a SQLite file, searched with `modelbus logs`",
    )
