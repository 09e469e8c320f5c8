"""Secrets in settings: read with bounds, never printed, logged or cached.

In ``modelbus.toml`` a secret is written as ``{ env = "NAME" }`` (read from the
environment when the settings are structured), ``{ file = "PATH" }`` (a relative path is
relative to the config file) or a plain string (works, but is discouraged). Settings
classes type such fields as ``Secret | None``.

A secret file is read under these rules (:func:`read_secret_file`), so that a wrong path
can neither hang the program nor print what it points at:

- only a regular file: a FIFO, a device (``/dev/zero``), a socket or a directory is
  refused before anything is read (the file is opened non-blocking, then checked);
- at most :data:`MAX_SECRET_FILE_BYTES` (64 KiB) are read; a larger file is refused;
- UTF-8 text; one trailing newline (``\\n`` or ``\\r\\n``) is stripped, nothing else;
- any other control character (a second line, a NUL as in ``/proc/self/environ``, a
  tab, DEL, C1 controls, U+2028/U+2029) or an empty secret is refused.

Every error names the file (and, through :class:`~modelbus.errors.ConfigError`, the
key and the config file) and never any of the file's content. Secrets from the
environment and literal strings follow the same character rules.

Every :class:`Secret` registers its value in one process-wide registry;
:func:`redact_text` replaces registered values (and their JSON/``repr`` escaped forms)
with ``**********``. Exceptions, log events, batch output and ``doctor`` consult it when
they render text, never on the path of a successful call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
import threading
import unicodedata
from pathlib import Path
from typing import Any

__all__ = [
    "MASK",
    "MAX_SECRET_FILE_BYTES",
    "Secret",
    "credential_fingerprint",
    "env_secret",
    "identity_with_credential",
    "known_secret_values",
    "path_problem",
    "read_secret_file",
    "redact_text",
    "register_secret",
    "resolve_secret",
]

MASK = "**********"
MAX_SECRET_FILE_BYTES = 64 * 1024
# Very short values are not registered: masking "ab" everywhere would garble text.
_MIN_KNOWN_LEN = 6

_lock = threading.Lock()
_known: set[str] = set()  # the values as given
_forms: set[str] = set()  # the values and their escaped forms, as they can appear in text
_pattern: re.Pattern[str] | None = None  # rebuilt lazily after a registration


def register_secret(value: str) -> None:
    """Add ``value`` (6 characters or more) to the values :func:`redact_text` masks.

    :class:`Secret` does this itself; call it for a credential held as a plain string
    (a header value, a token from another library)."""
    global _pattern
    if len(value) < _MIN_KNOWN_LEN or value in _known:
        return
    # A provider echoing the key in a JSON body, or an error showing repr(), escapes it.
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    forms.add(repr(value)[1:-1])
    with _lock:
        _known.add(value)
        _forms.update(f for f in forms if len(f) >= _MIN_KNOWN_LEN)
        _pattern = None


def known_secret_values() -> frozenset[str]:
    """The values of the :class:`Secret` objects created so far (6 characters or more)."""
    return frozenset(_known)


def _compiled() -> re.Pattern[str]:
    global _pattern
    with _lock:
        if _pattern is None:
            # Longest first, so a secret that contains another is masked whole.
            alternatives = sorted(_forms, key=len, reverse=True)
            _pattern = re.compile("|".join(map(re.escape, alternatives)))
        return _pattern


def redact_text(text: str) -> str:
    """``text`` with every registered secret value replaced by ``'**********'``.

    One precompiled regex pass; ``text`` itself when no secret is registered."""
    if not _known or not text:
        return text
    pattern = _pattern or _compiled()
    return pattern.sub(MASK, text)


class Secret:
    """A string that prints as ``'**********'``. ``get_secret_value()`` returns it.

    Creating one registers the value for redaction (see :func:`redact_text`)."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "literal") -> None:
        self._value = value
        self.source = source
        register_secret(value)

    def get_secret_value(self) -> str:
        """The secret itself; call it only where the value goes to the provider."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('**********', source={self.source!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def env_secret(*names: str) -> Secret | None:
    """The first set environment variable of ``names`` as a Secret, else ``None``.

    For settings defaults: ``api_key: Secret | None = attrs.field(factory=lambda:
    env_secret("OPENAI_API_KEY"))``.
    """
    for n in names:
        v = os.environ.get(n)
        if v:
            return Secret(v, f"env:{n}")
    return None


def _bad_character(text: str) -> str | None:
    """What is wrong with ``text`` as a one-line secret (never quoting it), or ``None``."""
    if not text:
        return "is empty"
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cc" or cat in ("Zl", "Zp"):
            if ch in "\r\n\u2028\u2029\x85":
                return "has more than one line (only one trailing newline is allowed)"
            if ch == "\x00":
                return "contains a NUL byte"
            return f"contains the control character U+{ord(ch):04X}"
    return None


def path_problem(value: str) -> str | None:
    """What keeps ``value`` from being a file path, or ``None``: a NUL character (no
    operating system accepts one), or a leading ``~user`` naming a user this machine
    does not have (``Path.expanduser`` raises ``RuntimeError``)."""
    if "\x00" in value:
        return "has a NUL character, which no file path can hold"
    try:
        Path(value).expanduser()
    except RuntimeError:
        return f"{value!r} starts with ~ and a user this machine does not have"
    return None


def read_secret_file(path: str | os.PathLike[str]) -> str:
    """The secret in the file at ``path``, read under the rules of the module doc.

    Raises ``ValueError`` naming the file and what is wrong (not a regular file, larger
    than 64 KiB, not UTF-8, empty, a second line or another control character), never
    quoting its content."""
    shown = repr(str(path))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        # Non-blocking: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ValueError(f"cannot read secret file {shown}: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a directory"
                if stat.S_ISDIR(mode)
                else "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket"
                if stat.S_ISSOCK(mode)
                else "not a regular file"
            )
            raise ValueError(f"secret file {shown} is {kind}; a secret file must be a regular file")
        chunks: list[bytes] = []
        total = 0
        # st_size cannot be trusted (/proc files report 0): read until EOF or the bound.
        while total <= MAX_SECRET_FILE_BYTES:
            chunk = os.read(fd, MAX_SECRET_FILE_BYTES + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise ValueError(f"cannot read secret file {shown}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if total > MAX_SECRET_FILE_BYTES:
        raise ValueError(
            f"secret file {shown} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB; "
            "a secret file holds one line"
        )
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"secret file {shown} is not UTF-8 text") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    problem = _bad_character(text)
    if problem is not None:
        raise ValueError(f"secret file {shown} {problem}")
    return text


def resolve_secret(value: Any, base_dir: Path | None = None) -> Secret | None:
    """``"literal"`` / ``{env = NAME}`` / ``{file = PATH}`` → Secret.

    Raises ``ValueError`` for another shape, an unset env variable, a file that breaks
    the rules of the module doc, or a value with control characters; the message names
    the variable or file and never quotes the value."""
    if value is None or isinstance(value, Secret):
        return value
    if isinstance(value, str):
        problem = _bad_character(value)
        if problem is not None:
            raise ValueError(f"the secret string {problem}")
        return Secret(value)
    if isinstance(value, dict) and len(value) == 1:
        if "env" in value and isinstance(value["env"], str):
            name = value["env"]
            v = os.environ.get(name)
            if v is None:
                raise ValueError(f"environment variable {name!r} is not set")
            problem = _bad_character(v)
            if problem is not None:
                raise ValueError(f"environment variable {name!r} {problem}")
            return Secret(v, f"env:{name}")
        if "file" in value and isinstance(value["file"], str):
            problem = path_problem(value["file"])
            if problem is not None:  # (a path is not a secret: shown)
                raise ValueError(f"secret file path {problem}")
            path = Path(value["file"]).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            return Secret(read_secret_file(path), f"file:{path}")
    raise ValueError('a secret is a string, { env = "NAME" } or { file = "PATH" }')


# Domain separation for the credential fingerprint: a fixed key, so that every process
# sharing a cache computes the same fingerprint for the same credential.
_FINGERPRINT_KEY = b"modelbus cache credential fingerprint v1"


def credential_fingerprint(*credentials: Secret | str | None) -> str:
    """A one-way identity of a credential: 16 hex characters of HMAC-SHA256 over the
    values (API key, organization, project... in the caller's order; ``None`` keeps its
    place), or ``""`` when every one is ``None`` or empty.

    For cache keys: two clients with different keys get different cache keys, and the
    key (itself a SHA-256 over the fingerprint) never contains the credential. The
    fingerprint is not a secret store: 64 bits of a keyed hash of a high-entropy API key
    cannot be inverted, but a guessable password should not rely on it."""
    values = [c.get_secret_value() if isinstance(c, Secret) else (c or "") for c in credentials]
    if not any(values):
        return ""
    digest = hmac.new(_FINGERPRINT_KEY, "\x00".join(values).encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def identity_with_credential(identity: str, *credentials: Secret | str | None) -> str:
    """``identity`` (a provider's ``cache_identity``) followed by
    ``|credential=<fingerprint>`` (see :func:`credential_fingerprint`), or ``identity``
    alone when no credential is set."""
    fp = credential_fingerprint(*credentials)
    return f"{identity}|credential={fp}" if fp else identity
