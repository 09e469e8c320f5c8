"""structlog set-up for modelbus: one ``modelbus.call`` event per call, secrets redacted.

The redaction processor masks any value under a key that names a secret (``api_key``,
``authorization``, ``api-key``, ``password``, ``token``...), any string that looks like
an API key (``sk-...``, ``Bearer ...``) and the value of any :class:`modelbus.Secret` made
in this process, at any depth, before a renderer sees it.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

from ._config.secrets import MASK, Secret, redact_text

__all__ = [
    "calls_logged",
    "configure_logging",
    "enabled",
    "get_logger",
    "redact",
    "redact_exception",
]

_SECRET_KEYS = re.compile(
    r"(api[-_]?key|authorization|password|secret|token(?!s)|bearer|credential)", re.I
)
_SECRET_VALUES = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+[A-Za-z0-9._\-]+)")
_configured: tuple[str, str] | None = None
_INFO = logging.INFO


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    # Event keys are few and repeat: the regex runs once per key name.
    return _SECRET_KEYS.search(key) is not None


def redact(value: Any, key: str = "") -> Any:
    """``value`` with secrets masked: whole values under secret-looking keys, key-shaped
    substrings and the values of :class:`Secret` objects elsewhere. Counts such as
    ``prompt_tokens`` are not secrets."""
    if value is None or isinstance(value, (int, float)):  # counts are never secrets
        return value
    if key and _secret_key(key):
        return MASK
    if isinstance(value, str):
        return _SECRET_VALUES.sub(MASK, redact_text(value))
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    if isinstance(value, Secret):
        return MASK
    return value


def redact_exception(exc: BaseException) -> BaseException:
    """Mask registered secrets in ``exc`` and every exception it is chained to, in place:
    their ``args`` and the ``message`` / ``body`` attributes SDK errors keep. Returns
    ``exc``. For errors a library made from a provider's answer (a 401 body that echoes
    the key), so that a traceback printing the chain shows no secret."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        try:
            cur.args = tuple(
                redact(a) if isinstance(a, (str, Mapping, list)) else a for a in cur.args
            )
            for attr in ("message", "body"):
                v = getattr(cur, attr, None)
                if isinstance(v, (str, Mapping, list)):
                    setattr(cur, attr, redact(v))
        except (AttributeError, TypeError):  # read-only attributes: leave them
            pass
        cur = cur.__cause__ or cur.__context__
    return exc


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
    structlog_mod = sys.modules.get("structlog")
    if _configured == (fmt, level) and structlog_mod and structlog_mod.is_configured():
        return  # still in place (``structlog.reset_defaults`` undoes it)
    lvl = logging.getLevelName(level.upper())
    if not isinstance(lvl, int):
        raise ValueError(f"unknown log level {level!r}")
    import structlog

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
        # sys.stderr looked up per logger, not captured once: pytest's capsys, click's
        # CliRunner and contextlib.redirect_stderr replace it after configuration.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = (fmt, level)


def setup_default_logging(fmt: str | None, level: str | None) -> None:
    """What a client does at start: apply ``log_format``/``log_level`` from config when
    set. Otherwise modelbus leaves structlog's global configuration alone: events go
    through the application's configuration when it has one (or a ``capture_logs`` is
    active), else to a private stderr logger at ``warning`` level (structlog's own default
    would print every event to stdout, mixing logs into a program's output)."""
    if fmt or level:
        configure_logging(fmt or "console", level or "info")


_fallback: Any = None


class _Stderr:
    """A structlog logger writing to the current ``sys.stderr`` (looked up per event, since
    pytest's capsys, click's CliRunner and redirect_stderr replace it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _fallback_logger(structlog: Any) -> Any:
    global _fallback
    if _fallback is None:
        _fallback = structlog.wrap_logger(
            _Stderr(),
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso"),
                _redact_processor,
                structlog.dev.ConsoleRenderer(colors=False),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        )
    return _fallback


# wrapper class → its level check. structlog's configuration is global and may change at
# any time (structlog: "configuration belongs to the application"), so whether an event
# is shown is decided per event; what a wrapper class filters never changes, so that part
# is kept. Bounded: a program makes a handful of wrapper classes.
_checks: dict[Any, Any] = {}


def _level_check(structlog: Any, wrapper: Any) -> Any:
    """``check(level, name) -> bool`` for loggers of the configured ``wrapper`` class:
    its own minimum level for structlog's filtering loggers
    (``make_filtering_bound_logger``), the stdlib logger's level for
    ``structlog.stdlib.BoundLogger`` (the app's handlers filter the rest), else always
    true (the application's processors decide)."""
    stdlib = getattr(structlog, "stdlib", None)
    if stdlib is not None and issubclass(wrapper, stdlib.BoundLogger):
        return lambda level, name: logging.getLogger(name).isEnabledFor(level)
    try:
        # A filtering logger's level lives in the class; an instance with no logger is
        # enough to ask it (structlog >= 22.1: ``is_enabled_for``).
        is_enabled_for = wrapper(None, [], {}).is_enabled_for
        is_enabled_for(logging.INFO)
    except Exception:  # another wrapper: its processors decide
        return lambda level, name: True
    return lambda level, name: is_enabled_for(level)


class _PublicConfig:
    """structlog's configuration through its public API, for a structlog without the
    ``_config._CONFIG`` object read below."""

    def __init__(self, structlog: Any) -> None:
        self._structlog = structlog

    @property
    def is_configured(self) -> bool:
        return bool(self._structlog.is_configured())

    @property
    def default_wrapper_class(self) -> Any:
        return self._structlog.get_config()["wrapper_class"]


_structlog_config: Any = None


def _find_structlog_config() -> Any:
    """structlog's global configuration object once structlog is imported, else ``None``.
    The object itself, not ``get_config()``: that builds a dict per call (1.5 us measured),
    on every call path (a memory-cache hit costs ~20 us); the object lives as long as the
    module."""
    global _structlog_config
    structlog = sys.modules.get("structlog")
    if structlog is None:
        return None
    cfg = getattr(getattr(structlog, "_config", None), "_CONFIG", None)
    if not (hasattr(cfg, "is_configured") and hasattr(cfg, "default_wrapper_class")):
        cfg = _PublicConfig(structlog)
    _structlog_config = cfg
    return cfg


def enabled(level: int, name: str = "modelbus") -> bool:
    """Whether an event at ``level`` (a stdlib level number) from logger ``name`` would be
    shown under structlog's configuration *now*: with structlog unconfigured (or not even
    imported), only warnings and above (the private stderr logger); else as the configured
    wrapper class filters (see :func:`_level_check`). With nothing configured this costs
    two attribute reads."""
    cfg = _structlog_config if _structlog_config is not None else _find_structlog_config()
    if cfg is None or not cfg.is_configured:
        return level >= logging.WARNING
    wrapper = cfg.default_wrapper_class
    check = _checks.get(wrapper)
    if check is None:
        if len(_checks) > 64:
            _checks.clear()
        check = _checks[wrapper] = _level_check(sys.modules["structlog"], wrapper)
    return bool(check(level, name))


def calls_logged() -> bool:
    """Whether a ``modelbus.call`` event (info) would be shown now: asked per call, so a
    client built before the application configures structlog logs its later calls, and
    one whose events nobody would see skips building them. :func:`enabled`, with its
    nothing-configured answer first (the hot path's case)."""
    cfg = _structlog_config
    if cfg is None:
        if "structlog" not in sys.modules:  # (the hot path's case, without a call)
            return False
        if (cfg := _find_structlog_config()) is None:
            return False
    return bool(cfg.is_configured) and enabled(_INFO)


class _Logger:
    """A named logger that imports structlog only for an event that can be shown (see
    :func:`enabled`), then hands it to ``structlog.get_logger(name)`` when structlog is
    configured (by modelbus's config, the application or ``capture_logs``), else to a
    private stderr logger that shows warnings and errors only."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _emit(self, level: int, method: str, event: str, kw: dict[str, Any]) -> None:
        if not enabled(level, self.name):
            return
        import structlog

        if structlog.is_configured():
            # The processors in force may be the application's, which do not know
            # modelbus's secrets (it may have configured structlog after modelbus did):
            # mask them here; redact is idempotent, so modelbus's own processor is harmless.
            kw = {k: redact(v, k) for k, v in kw.items()}
            getattr(structlog.get_logger(self.name), method)(event, **kw)
        else:
            getattr(_fallback_logger(structlog), method)(event, logger=self.name, **kw)

    def debug(self, event: str, **kw: Any) -> None:
        self._emit(logging.DEBUG, "debug", event, kw)

    def info(self, event: str, **kw: Any) -> None:
        self._emit(logging.INFO, "info", event, kw)

    def warning(self, event: str, **kw: Any) -> None:
        self._emit(logging.WARNING, "warning", event, kw)

    def error(self, event: str, **kw: Any) -> None:
        self._emit(logging.ERROR, "error", event, kw)


def get_logger(name: str) -> Any:
    """A logger named ``name`` with structlog's ``debug/info/warning/error(event, **kw)``;
    structlog is imported at the first event that passes the level filter."""
    return _Logger(name)
