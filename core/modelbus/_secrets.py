"""Secrets in settings: never printed, logged or cached.

In ``modelbus.toml`` a secret is written as ``{ env = "NAME" }`` (read from the
environment when the client is built) or ``{ file = "PATH" }`` (the file's contents,
stripped; a relative path is relative to the config file). A plain string works too but
is discouraged. Settings classes type such fields as ``Secret | None``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["Secret", "env_secret", "known_secret_values", "resolve_secret"]


# Values of every Secret made in this process, so log redaction and the CLI's error
# output can mask them wherever they appear, even in an error message a provider wrote.
# Very short values are left out: masking "ab" everywhere would garble text.
_KNOWN_VALUES: set[str] = set()
_MIN_KNOWN_LEN = 6


def known_secret_values() -> frozenset[str]:
    """The values of the :class:`Secret` objects created so far (6 characters or more)."""
    return frozenset(_KNOWN_VALUES)


class Secret:
    """A string that prints as ``'**********'``. ``get_secret_value()`` returns it."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "literal") -> None:
        self._value = value
        self.source = source
        if len(value) >= _MIN_KNOWN_LEN:
            _KNOWN_VALUES.add(value)

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


def resolve_secret(value: Any, base_dir: Path | None = None) -> Secret | None:
    """``"literal"`` / ``{env = NAME}`` / ``{file = PATH}`` → Secret.

    Raises ``ValueError`` for another shape, an unset env variable or a missing file,
    naming which.
    """
    if value is None or isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    if isinstance(value, dict) and len(value) == 1:
        if "env" in value:
            name = value["env"]
            v = os.environ.get(name)
            if v is None:
                raise ValueError(f"environment variable {name!r} is not set")
            return Secret(v, f"env:{name}")
        if "file" in value:
            path = Path(value["file"]).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            try:
                return Secret(path.read_text().strip(), f"file:{path}")
            except OSError as exc:
                raise ValueError(f"cannot read secret file {str(path)!r}: {exc.strerror}") from exc
    raise ValueError('a secret is a string, { env = "NAME" } or { file = "PATH" }')
