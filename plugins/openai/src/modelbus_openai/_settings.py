"""``[providers.openai]``: the settings of the ``openai`` provider."""

from __future__ import annotations

import os
from typing import Any, Literal
from urllib.parse import urlsplit

from attrs import field, frozen, validators

from modelbus import Secret, env_secret

__all__ = [
    "DEFAULT_BASE_URL",
    "OpenAISettings",
    "env_str",
    "header_fields",
    "header_value",
    "http_url",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# OpenAI API reference, "Create embeddings", ``input``: "any array must be 2048 dimensions
# or less" (i.e. at most 2048 inputs per request; each at most 8192 tokens).
MAX_EMBEDDING_INPUTS = 2048


def env_str(*names: str) -> str | None:
    """The first non-empty environment variable of ``names``, else ``None``."""
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


def _unsendable(text: str) -> int | None:
    """The index of the first character an HTTP header value cannot carry as sent (RFC
    9110 §5.5: visible ASCII, spaces and tabs; httpx encodes headers as ASCII), else
    ``None``."""
    for i, ch in enumerate(text):
        if not (" " <= ch <= "~" or ch == "\t"):
            return i
    return None


def header_value(_inst: Any, attr: Any, value: str | Secret | None) -> None:
    """``None``, or text HTTP can send in a header: a key pasted with a no-break space or
    a line break is refused with the settings, naming the key, not at the first call
    (with a traceback from the HTTP client). A secret's value is never shown."""
    if value is None:
        return
    text = value.get_secret_value() if isinstance(value, Secret) else value
    i = _unsendable(text)
    if i is not None:
        # where it came from when not the file itself (a key from $OPENAI_API_KEY)
        source = getattr(value, "source", "literal")
        origin = "" if source == "literal" else f" (from {source})"
        raise ValueError(
            f"{attr.name}{origin} has a character HTTP headers cannot carry (U+{ord(text[i]):04X}"
            f" at position {i}; RFC 9110 §5.5 allows visible ASCII, spaces and tabs)"
        )


_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def header_fields(_inst: Any, attr: Any, value: dict[str, str]) -> None:
    """Header names that are tokens (RFC 9110 §5.1) and values :func:`header_value`
    accepts."""
    for name, text in value.items():
        if not name or not _TCHAR.issuperset(name):
            raise ValueError(f"{attr.name}: {name!r} is not an HTTP header name (RFC 9110 §5.1)")
        i = _unsendable(text)
        if i is not None:
            raise ValueError(
                f"{attr.name}.{name} has a character HTTP headers cannot carry "
                f"(U+{ord(text[i]):04X} at position {i}; RFC 9110 §5.5)"
            )


def http_url(_inst: Any, attr: Any, value: str | None) -> None:
    """``None``, or an ``http://`` / ``https://`` URL with a host."""
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{attr.name} must be an http:// or https:// URL, got {value!r}")


@frozen(kw_only=True)
class OpenAISettings:
    """``[providers.openai]`` in ``modelbus.toml``.

    - ``api_key``: a secret (``{ env = "NAME" }`` / ``{ file = "PATH" }``); default
      ``$OPENAI_API_KEY``. Required when ``base_url`` is OpenAI's.
    - ``base_url``: API root including ``/v1``; default ``$OPENAI_BASE_URL``, else
      ``https://api.openai.com/v1``.
    - ``organization`` / ``project``: sent as ``OpenAI-Organization`` / ``OpenAI-Project``;
      defaults ``$OPENAI_ORG_ID`` / ``$OPENAI_PROJECT_ID`` (the SDK's variables).
    - ``timeout_s``: seconds one attempt may take (connect, send, wait, read the whole
      answer; for a stream, until its first chunk), default 120 — not the SDK's 600, so
      a hung server costs minutes, not half an hour, over 3 attempts; a call's
      ``timeout=`` or ``[models.X] timeout_s`` replaces it, ``deadline_s`` cuts it.
      ``connect_timeout_s``: seconds to open a connection, default 5 (the SDK's).
    - ``max_response_bytes``: the largest answer read, and the largest single stream
      event, in bytes; default 10485760 (10 MiB). A bigger one fails with a
      not-retryable ProviderError (``code = "response_too_large"``).
    - ``default_headers``: extra HTTP headers on every request.
    - ``async_transport``: ``"aiohttp"`` (default; ``openai.DefaultAioHttpClient``) or
      ``"httpx"`` for the async client. The sync client always uses httpx.
    - ``default_model``: the model used when neither the call nor ``[modelbus] model``
      names one.
    - ``embedding_batch_size``: inputs per ``/embeddings`` request, 1..2048 (OpenAI's limit).

    Retries are the core's job: the SDK clients run with ``max_retries=0``.
    """

    api_key: Secret | None = field(
        factory=lambda: env_secret("OPENAI_API_KEY"), validator=header_value
    )
    base_url: str | None = field(factory=lambda: env_str("OPENAI_BASE_URL"), validator=http_url)
    organization: str | None = field(
        factory=lambda: env_str("OPENAI_ORG_ID"), validator=header_value
    )
    project: str | None = field(
        factory=lambda: env_str("OPENAI_PROJECT_ID"), validator=header_value
    )
    timeout_s: float = field(default=120.0, validator=validators.gt(0))
    connect_timeout_s: float = field(default=5.0, validator=validators.gt(0))
    max_response_bytes: int = field(default=10 * 1024 * 1024, validator=validators.ge(1024))
    default_headers: dict[str, str] = field(factory=dict, validator=header_fields)
    async_transport: Literal["aiohttp", "httpx"] = field(
        default="aiohttp", validator=validators.in_(("aiohttp", "httpx"))
    )
    default_model: str | None = None
    embedding_batch_size: int = field(
        default=MAX_EMBEDDING_INPUTS,
        validator=[validators.ge(1), validators.le(MAX_EMBEDDING_INPUTS)],
    )
