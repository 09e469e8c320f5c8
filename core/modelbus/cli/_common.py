"""What the commands share: state from the top group, error reporting, ``KEY=VALUE``
options, config and plugin loading.

Imports stay light at module level (click only): ``modelbus --help`` loads this module.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from .._catalog import Catalog
    from .._client import Client
    from .._config.config import Config
    from .._plugins.loading import LoadedPlugins
    from .._plugins.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "MAX_INPUT_BYTES",
    "CliState",
    "build_catalog",
    "config_option",
    "echo_json",
    "exit_code_for",
    "load_config",
    "make_client",
    "parse_key_values",
    "plugins_for",
    "read_input_text",
    "read_stdin_text",
    "report_error",
    "state",
    "table",
    "utf8_text",
]

# Exit codes (also in ``modelbus --help``): 1 a provider/runtime failure, 2 bad input —
# a config or plugin error, or a usage error (click's own code for those).
EXIT_RUNTIME = 1
EXIT_CONFIG = 2


class CliState:
    """Options of the top group: ``debug`` (tracebacks), ``log_format`` and
    ``log_level`` (``None``: not given on the command line, the config decides)."""

    __slots__ = ("debug", "log_format", "log_level")

    def __init__(
        self, debug: bool = False, log_format: str | None = None, log_level: str | None = None
    ) -> None:
        self.debug = debug
        self.log_format = log_format
        self.log_level = log_level


def _env_debug() -> bool:
    return os.environ.get("MODELBUS_DEBUG", "").lower() in ("1", "true", "yes")


def state(ctx: click.Context | None = None) -> CliState:
    """The top group's :class:`CliState` (a default one when a command runs on its own)."""
    ctx = ctx or click.get_current_context(silent=True)
    obj = ctx.find_object(CliState) if ctx is not None else None
    return obj if obj is not None else CliState(debug=_env_debug())


def config_option(fn: F) -> F:
    """``--config PATH``: the config file (default: ``$MODELBUS_CONFIG``,
    ``./modelbus.toml``, then the user config dir)."""
    return click.option(
        "--config",
        "config_path",
        metavar="PATH",
        default=None,
        type=click.Path(dir_okay=False),
        help="Config file (default: $MODELBUS_CONFIG, ./modelbus.toml, user config dir).",
    )(fn)


def parse_key_values(items: Iterable[str], what: str, *, as_json: bool) -> dict[str, Any]:
    """``["k=v", ...]`` → dict. With ``as_json`` a value is decoded as JSON when it parses
    (``temperature=0`` → ``0``, ``stop=["a"]`` → a list), else kept as the string.

    Raises :class:`click.BadParameter` for an item without ``=``, naming ``what``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=what)
        value: Any = raw
        if as_json:
            try:
                value = json.loads(raw)
            except (ValueError, RecursionError):
                value = raw
        out[key.strip()] = value
    return out


def utf8_text(value: str, what: str) -> str:
    """``value`` when it is text that can be sent; a prompt given on the command line with
    bytes that are not UTF-8 (Python keeps them as lone surrogates) raises
    :class:`click.BadParameter` naming ``what``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise click.BadParameter("not UTF-8 text", param_hint=what) from None
    return value


#: The most input a prompt (``chat``, ``tokens``) is read from, in bytes: 64 MiB, ten
#: times what the largest context window holds (1M tokens is ~4 MB of text), so that
#: ``/dev/zero`` or a disk image given by mistake is refused instead of read without end.
MAX_INPUT_BYTES = 64 * 1024 * 1024


def read_input_text(stream: IO[bytes], what: str, name: str = "stdin") -> str:
    """What ``stream`` holds, decoded as UTF-8, up to :data:`MAX_INPUT_BYTES`; more, or
    bytes that are not UTF-8 (a binary file), raise :class:`click.BadParameter` naming
    ``what`` (and ``name``, where it came from) instead of reaching a request."""
    data = stream.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise click.BadParameter(
            f"{name} holds more than {MAX_INPUT_BYTES} bytes: not a prompt", param_hint=what
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(
            f"{name} is not UTF-8 text (byte {exc.start})", param_hint=what
        ) from None


def read_stdin_text(what: str) -> str:
    """Stdin decoded as UTF-8 (:func:`read_input_text`)."""
    return read_input_text(sys.stdin.buffer, what)  # (not click.get_binary_stream: deprecated)


def load_config(path: str | None) -> Config:
    """The config at ``path`` or found by search
    (see :func:`modelbus._config.config.find_config`)."""
    from .._config.config import Config

    return Config.load(path)


def plugins_for(cfg: Config) -> LoadedPlugins:
    """Plugins loaded with the config's ``[modelbus.plugins]`` allow/block lists."""
    from .._plugins.loading import load_plugins

    return load_plugins(cfg.modelbus.plugins.allow, cfg.modelbus.plugins.block)


def make_client(config_path: str | None, *, log: bool = False, **overrides: Any) -> Client:
    """A client from ``config_path`` (or the config found by search); logging flags of the
    top group override the config's ``log_format``/``log_level``. ``log``: record the
    calls in the call log unless ``[log] enabled = false`` (``modelbus.cli._calllog``)."""
    from .._client import Client

    st = state()
    if st.log_format is not None:
        overrides.setdefault("log_format", st.log_format)
    if st.log_level is not None:
        overrides.setdefault("log_level", st.log_level)
    cfg = load_config(config_path)
    if log:
        from ._calllog import with_log

        cfg = with_log(cfg)
    return Client(cfg, **{k: v for k, v in overrides.items() if v is not None})


def exit_code_for(exc: BaseException) -> int:
    """2 for config, plugin, template and missing-tokenizer errors, 1 for the rest
    (provider errors, retries given up, budget, cache-only misses...)."""
    from ..errors import ConfigError, PluginError, TemplateError, TokenizerUnavailableError

    bad_input = (ConfigError, PluginError, TemplateError, TokenizerUnavailableError)
    return EXIT_CONFIG if isinstance(exc, bad_input) else EXIT_RUNTIME


def _headline(exc: BaseException) -> str:
    from ..errors import ConfigError, PluginError, ProviderError, RetryError, TemplateError

    if isinstance(exc, ConfigError):
        return f"config error: {exc}"
    if isinstance(exc, TemplateError):
        return f"template error: {exc}"
    if isinstance(exc, PluginError):
        return f"plugin error: {exc}"
    if isinstance(exc, ProviderError):
        return f"provider error ({type(exc).__name__}): {exc}"
    if isinstance(exc, RetryError):
        head, _, attempts = str(exc).partition("\n")
        last = exc.last_error
        if last is not None:
            head += f"; last error ({type(last).__name__}): {last}"
        return f"{head}\n{attempts}" if attempts else head
    return f"{type(exc).__name__}: {exc}"


def report_error(exc: BaseException, *, debug: bool | None = None) -> NoReturn:
    """Print ``exc`` as one paragraph on stderr, secrets redacted (the traceback first
    under ``--debug`` / ``MODELBUS_DEBUG=1``), then exit with :func:`exit_code_for`."""
    from .._logging import redact

    if debug is None:
        debug = state().debug or _env_debug()
    if debug:
        tb = "".join(traceback.format_exception(exc))
        click.echo(redact(tb), err=True, nl=False)
    click.echo(f"modelbus: {redact(_headline(exc))}", err=True)
    sys.exit(exit_code_for(exc))


def echo_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (non-JSON values as strings)."""
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def table(headers: Iterable[str], rows: Iterable[Iterable[Any]], title: str | None = None) -> None:
    """Print a table with rich (imported here: only listing commands need it). Off a
    terminal the width is fixed at 200 columns so piped output is not wrapped."""
    from rich.console import Console
    from rich.table import Table

    t = Table(*headers, title=title, title_justify="left", show_edge=False, pad_edge=False)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    # markup=False: details hold TOML keys such as [providers.openai], not rich markup
    console = Console(
        width=None if sys.stdout.isatty() else 200,
        soft_wrap=False,
        highlight=False,
        markup=False,
    )
    console.print(t)


def build_catalog(cfg: Config, registry: Registry) -> Catalog:
    """The catalog a client of ``cfg`` would use: the shipped file, plugin entries, then
    ``[catalog."model"]`` overrides. Raises :class:`ConfigError` for an unknown field."""
    from .._catalog import Catalog
    from ..errors import ConfigError

    layers = [{r.name: r.factory} for r in registry.of_kind("catalog")]
    try:
        return Catalog.load(*layers, cfg.catalog)
    except ValueError as exc:
        raise ConfigError(str(exc), key="catalog", source=cfg.source) from exc
