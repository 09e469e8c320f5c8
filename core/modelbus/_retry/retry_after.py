"""Reading a server's retry hints from response headers: how long to wait
(``retry-after-ms``, ``Retry-After``) and whether to retry at all (``x-should-retry``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

__all__ = ["retry_after_seconds", "should_retry_header"]


def retry_after_seconds(
    headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> float | None:
    """Seconds the server asks to wait, or ``None``.

    ``retry-after-ms`` (milliseconds, as OpenAI sends it) wins over ``Retry-After``, which
    is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3); a date is converted using
    ``now()`` (Unix seconds). Header names are matched case-insensitively; a malformed or
    negative value counts as absent; a date in the past is 0.0.

    Args:
        headers: response headers (any mapping; names in any case).
        now: the current time in Unix seconds (inject a clock in tests).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            v = float(ms) / 1000.0
            if v >= 0:
                return v
        except ValueError:
            pass
    ra = lower.get("retry-after")
    if ra is None:
        return None
    ra = ra.strip()
    try:
        v = float(ra)
        return v if v >= 0 else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(ra)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now())


def should_retry_header(headers: Mapping[str, str]) -> bool | None:
    """The ``x-should-retry`` header (``true``/``false``, any case; OpenAI and Anthropic
    send it and their SDKs obey it before the status): ``True``, ``False``, or ``None``
    when absent or another value. Header names are matched case-insensitively."""
    v = next((val for k, val in headers.items() if k.lower() == "x-should-retry"), None)
    if v is None:
        return None
    v = v.strip().lower()
    return True if v == "true" else False if v == "false" else None
