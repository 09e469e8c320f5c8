"""Finding ``modelbus.toml`` and reading it as TOML, a syntax error naming the key.

Found in this order: an explicit path, ``$MODELBUS_CONFIG``, ``./modelbus.toml``, then
``modelbus.toml`` in the user config dir (platformdirs: ``~/.config/modelbus`` on Linux).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["find_config", "read_toml"]


def find_config(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to use (the order: see the module doc), or ``None``. An explicit
    path or ``$MODELBUS_CONFIG`` that does not exist is a :class:`ConfigError`."""
    explicit = path if path is not None else os.environ.get("MODELBUS_CONFIG")
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ConfigError("config file not found", source=str(p))
        return p
    local = Path("modelbus.toml")
    if local.is_file():
        return local.resolve()
    import platformdirs

    user = Path(platformdirs.user_config_dir("modelbus")) / "modelbus.toml"
    return user if user.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML document at ``path``. Raises :class:`ConfigError` naming the file when it
    cannot be read or is not UTF-8, and the key at the line a syntax error points to."""
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is dropped, not a
        # syntax error at line 1 naming no key; anything else decodes as UTF-8 does.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read config: {why}", source=str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"invalid TOML: {exc}", key=_toml_error_key(text, str(exc)), source=str(path)
        ) from None


_AT_LINE = re.compile(r"at line (\d+), column \d+")
_HEADER = re.compile(r"^\s*\[\[?([^\]=#]+?)\s*(?:\]|$)")
_KEY_LINE = re.compile(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=")


def _dotted(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def _toml_error_key(text: str, message: str) -> str | None:
    """The dotted key at the line a TOML error points to (its table header, or the key
    of a ``key = value`` line under the last header), so that a syntax error names a key
    like any other config error. Only names are taken from the line, never values."""
    m = _AT_LINE.search(message)
    lines = text.splitlines()
    if m is None or not 1 <= int(m.group(1)) <= len(lines):
        return None
    line_no = int(m.group(1))
    table = ""
    for line in lines[: line_no - 1]:
        h = _HEADER.match(line)
        if h:
            table = _dotted(h.group(1))
    line = lines[line_no - 1]
    h = _HEADER.match(line)
    if h:
        return _dotted(h.group(1))
    k = _KEY_LINE.match(line)
    if k:
        key = _dotted(k.group(1))
        return f"{table}.{key}" if table else key
    return table or None
