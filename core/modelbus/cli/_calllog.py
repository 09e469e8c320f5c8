"""The call log in the CLI: turning it on for ``chat``, and the conversation a ``chat``
carries on (``--continue`` / ``--cid``). The log itself is the built-in observer ``log``
(:mod:`modelbus.builtins.calllog`)."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from .._config.config import Config
    from .._wire.types import Message
    from ..builtins.calllog import LogSettings

__all__ = ["ChatLog", "log_settings", "open_log", "with_log"]


def log_settings(cfg: Config) -> LogSettings:
    """The ``[log]`` settings of ``cfg`` (defaults when it has none)."""
    from ..builtins.calllog import LogSettings

    settings: LogSettings = cfg.section("observers", "log", LogSettings)
    return settings


def with_log(cfg: Config) -> Config:
    """``cfg`` with the ``log`` observer added last, unless ``[log] enabled = false`` or it
    is there already."""
    if not log_settings(cfg).enabled or "log" in cfg.modelbus.observers:
        return cfg
    return cfg.evolve(observers=[*cfg.modelbus.observers, "log"])


def open_log(cfg: Config) -> sqlite3.Connection | None:
    """A read-only connection to ``cfg``'s call log, after writing what this process still
    holds for it; ``None`` when the file does not exist. Raises :class:`click.ClickException`
    for a file that is not a call log."""
    from ..builtins._calllog_store import connect
    from ..builtins.calllog import flush_all, log_path

    path = log_path(log_settings(cfg))
    flush_all(5.0, path)
    if not path.is_file():
        return None
    try:
        return connect(path, create=False)
    except (OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"cannot read the call log {path}: {exc}") from None


def _earlier(cfg: Config, carry_on: bool, cid: str | None) -> tuple[str, list[Message]]:
    """(conversation id, earlier turns) for a chat: a new id, or the one given or last
    logged with its user and assistant messages."""
    from .._wire.converter import message_from_openai
    from ..builtins._calllog_store import last_conversation, turns

    if not carry_on and cid is None:
        return uuid.uuid4().hex[:12], []
    conn = open_log(cfg)
    try:
        if cid is None:
            cid = None if conn is None else last_conversation(conn)
            if cid is None:
                where = log_path_text(cfg)
                raise click.UsageError(f"--continue: no conversation in the call log ({where})")
        raw = [] if conn is None else turns(conn, cid)
    finally:
        if conn is not None:
            conn.close()
    return cid, [message_from_openai(m) for m in raw]


def log_path_text(cfg: Config) -> str:
    from ..builtins.calllog import log_path

    return str(log_path(log_settings(cfg)))


class ChatLog:
    """What ``chat`` needs of the log, as a ``with`` block around its call: the
    conversation id (``cid``) the calls are recorded under, the earlier turns to send
    (:meth:`with_earlier`), and on leaving, this process's rows written (so a
    ``modelbus logs`` right after sees the call)."""

    def __init__(self, cfg: Config, carry_on: bool, cid: str | None) -> None:
        self.cid, self.earlier = _earlier(cfg, carry_on, cid)
        self._path = Path(log_path_text(cfg))
        self._scope: contextlib.ExitStack | None = None

    def __enter__(self) -> ChatLog:
        from ..builtins.calllog import conversation

        self._scope = contextlib.ExitStack()
        self._scope.enter_context(conversation(self.cid))
        return self

    def __exit__(self, *exc: object) -> None:
        from ..builtins.calllog import flush_all

        if self._scope is not None:
            self._scope.close()
        flush_all(5.0, self._path)

    def with_earlier(self, messages: Sequence[Message]) -> tuple[Message, ...]:
        """``messages`` with the earlier turns after its system messages."""
        n = 0
        while n < len(messages) and messages[n].role in ("system", "developer"):
            n += 1
        return (*messages[:n], *self.earlier, *messages[n:])
