"""Hypothesis strategies for provider errors and server retry hints (``modelbus.testing.
strategies``): what retry policies, fallbacks and provider plugins are tested against."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from hypothesis import strategies as st

from ..errors import (
    APIConnectionError,
    APITimeoutError,
    ContentFilterError,
    ContextLengthExceededError,
    ProviderError,
    error_for_status,
)

__all__ = [
    "FIXED_NOW",
    "non_retryable_errors",
    "provider_errors",
    "retry_after_headers",
    "retryable_errors",
]

# The Unix time HTTP-date hints are made relative to; pass ``now=lambda: FIXED_NOW`` to
# ``retry_after_seconds`` when parsing them.
FIXED_NOW = 1_700_000_000.0

RETRYABLE_STATUSES = (408, 409, 429, 500, 502, 503, 504, 529)
NON_RETRYABLE_STATUSES = (400, 401, 403, 404, 422)


def _error(
    status: int,
    *,
    retry_after_s: float | None = None,
    should_retry: bool | None = None,
    code: str | None = None,
) -> ProviderError:
    return error_for_status(status)(
        f"scripted {status}",
        provider="strategy",
        status_code=status,
        retry_after_s=retry_after_s,
        should_retry=should_retry,
        code=code,
        body={"error": {"message": f"scripted {status}", "code": code}},
        retryable=False if code == "insufficient_quota" else None,
    )


def retryable_errors(
    *, retry_after_s: st.SearchStrategy[float | None] | None = None
) -> st.SearchStrategy[BaseException]:
    """Errors :func:`modelbus.is_retryable` accepts: 408, 409, 429, 5xx, a 4xx with
    ``x-should-retry: true``, modelbus and builtin timeouts and connection errors.
    ``retry_after_s`` draws the server hint of the HTTP ones (default: none)."""
    hints = retry_after_s if retry_after_s is not None else st.none()
    http = st.builds(
        lambda s, h: _error(s, retry_after_s=h), st.sampled_from(RETRYABLE_STATUSES), hints
    )
    forced = st.builds(
        lambda s: _error(s, should_retry=True), st.sampled_from(NON_RETRYABLE_STATUSES)
    )
    transport = st.sampled_from(("timeout", "connect", "builtin-timeout", "builtin-connect"))
    return st.one_of(http, forced, transport.map(_transport_error))


def _transport_error(kind: str) -> BaseException:
    if kind == "timeout":
        return APITimeoutError("no answer in time", provider="strategy")
    if kind == "connect":
        return APIConnectionError("connection refused", provider="strategy")
    if kind == "builtin-timeout":
        return TimeoutError("timed out")
    return ConnectionRefusedError("connection refused")


def non_retryable_errors() -> st.SearchStrategy[BaseException]:
    """Errors no retry can fix: 400, 401, 403, 404, 422, context length, content filter,
    429 ``insufficient_quota``, a retryable status sent with ``x-should-retry: false``,
    and exceptions that are not provider errors (a bug in the caller's code)."""
    plain = st.sampled_from(NON_RETRYABLE_STATUSES).map(_error)
    special = st.sampled_from(
        (
            ContextLengthExceededError(
                "too long", provider="strategy", status_code=400, code="context_length_exceeded"
            ),
            ContentFilterError(
                "filtered", provider="strategy", status_code=400, code="content_filter"
            ),
        )
    )
    quota = st.just(429).map(lambda s: _error(s, code="insufficient_quota"))
    refused = st.sampled_from(RETRYABLE_STATUSES).map(lambda s: _error(s, should_retry=False))
    bugs = st.sampled_from((ValueError("bad value"), KeyError("missing"), TypeError("bad")))
    return st.one_of(plain, special, quota, refused, bugs)


def provider_errors() -> st.SearchStrategy[BaseException]:
    """Any error a provider may raise (retryable or not)."""
    return st.one_of(retryable_errors(), non_retryable_errors())


def retry_after_headers(
    max_s: int = 600, *, now: float = FIXED_NOW
) -> st.SearchStrategy[tuple[dict[str, str], float]]:
    """``(headers, seconds)``: a server retry hint and the seconds it means, as
    ``retry-after-ms`` (milliseconds, OpenAI), ``Retry-After`` delta-seconds or
    ``Retry-After`` HTTP-date (RFC 9110 §10.2.3, relative to ``now``), with header names
    in random case. When both are sent, ``retry-after-ms`` wins."""
    case = st.sampled_from((str.lower, str.title, str.upper))
    ms = st.builds(
        lambda v, c: ({c("retry-after-ms"): str(v)}, v / 1000.0),
        st.integers(0, max_s * 1000),
        case,
    )
    delta = st.builds(
        lambda v, c: ({c("retry-after"): str(v)}, float(v)), st.integers(0, max_s), case
    )
    date = st.builds(
        lambda v, c: (
            {
                c("retry-after"): format_datetime(
                    datetime.fromtimestamp(now + v, tz=UTC), usegmt=True
                )
            },
            float(v),
        ),
        st.integers(0, max_s),
        case,
    )
    both = st.builds(lambda a, b: ({**b[0], **a[0]}, a[1]), ms, st.one_of(delta, date))
    return st.one_of(ms, delta, date, both)
