"""structlog set-up for modelbus: one ``modelbus.call`` event per call, secrets redacted.

The redaction processor masks any value under a key that names a secret (``api_key``,
``authorization``, ``api-key``, ``password``, ``token``...) and any string that looks like
an API key (``sk-...``, ``Bearer ...``), at any depth, before a renderer sees it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["configure_logging", "get_logger", "redact"]

MASK = "**********"
_SECRET_KEYS = re.compile(
    r"(api[-_]?key|authorization|password|secret|token(?!s)|bearer|credential)", re.I
)
_SECRET_VALUES = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+[A-Za-z0-9._\-]+)")
_configured: tuple[str, str] | None = None


def redact(value: Any, key: str = "") -> Any:
    """``value`` with secrets masked: whole values under secret-looking keys, key-shaped
    substrings elsewhere. Counts such as ``prompt_tokens`` are not secrets."""
    if key and _SECRET_KEYS.search(key) and not isinstance(value, (int, float, bool)):
        return MASK
    if isinstance(value, str):
        return _SECRET_VALUES.sub(MASK, value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    from ._secrets import Secret

    if isinstance(value, Secret):
        return MASK
    return value


def _redact_processor(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
    for k in list(event):
        event[k] = redact(event[k], k)
    return event


def configure_logging(fmt: str = "console", level: str = "warning") -> None:
    """Configure structlog once per (format, level): stdlib-level filtering (so a filtered
    event costs one comparison), the redaction processor, then a console or JSON renderer
    on stderr. Apps that configure structlog themselves can skip this: modelbus only
    calls it from the CLI and when a client's config sets ``log_format``/``log_level``."""
    global _configured
    if _configured == (fmt, level):
        return
    import structlog

    lvl = logging.getLevelName(level.upper())
    if not isinstance(lvl, int):
        raise ValueError(f"unknown log level {level!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            _redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = (fmt, level)


def setup_default_logging(fmt: str | None, level: str | None) -> None:
    """What a client does at start: apply ``log_format``/``log_level`` from config when
    set; otherwise, only if the application has not configured structlog itself, send
    modelbus's events to stderr at ``warning`` level (structlog's own default would print
    every event to stdout, mixing logs into a program's output)."""
    import structlog

    if fmt or level:
        configure_logging(fmt or "console", level or "info")
    elif _configured is None and not structlog.is_configured():
        configure_logging("console", "warning")


def get_logger(name: str) -> Any:
    """A structlog logger named ``name``."""
    import structlog

    return structlog.get_logger(name)


def level_enabled(level: str) -> bool:
    """Whether events at ``level`` pass the configured filter (skip building them if not)."""
    if _configured is None:
        import structlog

        return bool(structlog.is_configured())
    wanted: int = logging.getLevelName(level.upper())
    threshold: int = logging.getLevelName(_configured[1].upper())
    return wanted >= threshold
