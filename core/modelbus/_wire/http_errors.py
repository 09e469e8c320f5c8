"""An HTTP error answer (status, headers, body) → the :class:`~modelbus.errors.ProviderError`
subclass with its fields, for any JSON wire format.

The vendor-neutral part of what every HTTP provider does with an error: the class from
the status (or, inside a stream where there is no status, from the error ``type``), the
server's retry hints from the headers, the request id, and the message and code from the
body's error object. Provider plugins add their own special cases on top (OpenAI's
``insufficient_quota``, Azure's content filter...) by reading :func:`read_http_error`
and choosing another class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from .._retry.retry_after import retry_after_seconds, should_retry_header
from ..errors import (
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
    error_for_status,
)

__all__ = [
    "REQUEST_ID_HEADERS",
    "HttpErrorInfo",
    "decode_body",
    "error_for_type",
    "error_from_http",
    "read_http_error",
    "request_id_from",
]

# x-request-id: OpenAI, most gateways; request-id: Anthropic; apim-request-id: Azure APIM.
REQUEST_ID_HEADERS: tuple[str, ...] = ("x-request-id", "request-id", "apim-request-id")

# Error ``type`` strings (OpenAI's and Anthropic's documented ones) for errors that come
# without an HTTP status: an ``error`` event after a stream's 200.
_BY_TYPE: dict[str, type[ProviderError]] = {
    "server_error": ServerError,
    "api_error": ServerError,
    "overloaded_error": ServerError,
    "rate_limit_error": RateLimitError,
    "rate_limit_exceeded": RateLimitError,
    "timeout_error": APITimeoutError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "invalid_request_error": BadRequestError,
}


def decode_body(content: bytes | str) -> Any:
    """A response body as JSON when it parses, else as text (``""`` when empty).

    Args:
        content: the raw body (bytes are decoded as UTF-8, bad bytes replaced).
    """
    if not content:
        return ""
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # (nested deeper than the decoder goes)
        return content.decode("utf-8", "replace") if isinstance(content, bytes) else content


def request_id_from(
    headers: Mapping[str, str] | None, names: tuple[str, ...] = REQUEST_ID_HEADERS
) -> str | None:
    """The request id the server gave: the value of the first header of ``names`` present
    with a non-empty value (names matched case-insensitively), or ``None``. By default
    :data:`REQUEST_ID_HEADERS`: ``x-request-id`` (OpenAI, most gateways), ``request-id``
    (Anthropic), ``apim-request-id`` (Azure API Management)."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    return next((lower[n] for n in names if lower.get(n)), None)


def _error_object(body: Any) -> Mapping[str, Any]:
    # {"error": {...}} (OpenAI, and Anthropic's {"type": "error", "error": {...}}), else a
    # flat {"message": ..., "code": ...} as some OpenAI-compatible servers send.
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping):
            return inner
        if "message" in body or "code" in body:
            return body
    return {}


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


@attrs.frozen
class HttpErrorInfo:
    """What an error answer says, read from any JSON wire format.

    ``status`` (HTTP status, ``None`` for an error event inside a stream unless the
    error object carries an integer ``status``); ``message`` (the error object's
    ``message``, else the fallback given, else ``"HTTP <status>"``); ``code`` / ``type``
    / ``param`` (strings from the error object, or ``None``); ``request_id`` (see
    :data:`REQUEST_ID_HEADERS`); ``retry_after_s`` (seconds, see
    :func:`retry_after_seconds`); ``should_retry`` (the ``x-should-retry`` header);
    ``body`` (the decoded body as given); ``error`` (the error object, ``{}`` if none).
    """

    status: int | None
    message: str
    code: str | None
    type: str | None
    param: str | None
    request_id: str | None
    retry_after_s: float | None
    should_retry: bool | None
    body: Any
    error: Mapping[str, Any]

    def fields(self, provider: str) -> dict[str, Any]:
        """The keyword arguments of a :class:`ProviderError` subclass: ``provider``,
        ``status_code``, ``request_id``, ``retry_after_s``, ``should_retry``, ``body`` and
        ``code`` (the error ``code``, else its ``type``)."""
        return {
            "provider": provider,
            "status_code": self.status,
            "request_id": self.request_id,
            "retry_after_s": self.retry_after_s,
            "should_retry": self.should_retry,
            "body": self.body,
            "code": self.code or self.type,
        }


def read_http_error(
    status: int | None,
    headers: Mapping[str, str] | None,
    body: Any,
    *,
    message: str | None = None,
    request_id_headers: tuple[str, ...] = REQUEST_ID_HEADERS,
) -> HttpErrorInfo:
    """Read an error answer into an :class:`HttpErrorInfo` (no exception is raised).

    Args:
        status: the HTTP status, or ``None`` for an error event inside a stream.
        headers: the response headers, any case (``None`` when there are none).
        body: the decoded body (:func:`decode_body`): a dict, text or ``""``.
        message: the fallback message when the body has none.
        request_id_headers: where the request id is read, first found wins.
    """
    h = {k.lower(): v for k, v in (headers or {}).items()}
    err = _error_object(body)
    raw_code = err.get("code")
    if status is None and isinstance(err.get("status"), int):
        status = err["status"]
    return HttpErrorInfo(
        status=status,
        message=_str(err.get("message")) or message or f"HTTP {status}",
        code=str(raw_code) if raw_code is not None else None,
        type=_str(err.get("type")),
        param=_str(err.get("param")),
        request_id=request_id_from(h, request_id_headers),
        retry_after_s=retry_after_seconds(h),
        should_retry=should_retry_header(h),
        body=body,
        error=err,
    )


def error_for_type(error_type: str | None) -> type[ProviderError]:
    """The :class:`ProviderError` subclass for an error ``type`` string when there is no
    status (``overloaded_error`` / ``api_error`` / ``server_error`` → ServerError,
    ``rate_limit_error`` → RateLimitError, ``invalid_request_error`` → BadRequestError...,
    as OpenAI's and Anthropic's error references name them); unknown → ProviderError."""
    return _BY_TYPE.get(error_type or "", ProviderError)


def error_from_http(
    status: int | None,
    headers: Mapping[str, str] | None,
    body: Any,
    *,
    provider: str,
    message: str | None = None,
    hint: str | None = None,
    request_id_headers: tuple[str, ...] = REQUEST_ID_HEADERS,
) -> ProviderError:
    """The :class:`ProviderError` for an error answer, ready to ``raise``.

    The class comes from ``status`` (:func:`modelbus.errors.error_for_status`: 400/422 →
    BadRequestError, 401, 403, 404, 408 → APITimeoutError, 409 and >= 500 → ServerError,
    429 → RateLimitError), or without a status from the error ``type``
    (:func:`error_for_type`). Its fields: ``status_code``, ``request_id``,
    ``retry_after_s`` (seconds: ``retry-after-ms``, else ``Retry-After`` as seconds or an
    HTTP-date, RFC 9110 §10.2.3), ``should_retry`` (``x-should-retry: true|false``, which
    the core's retry obeys before the class's default), ``code`` (the error's ``code``,
    else its ``type``), the decoded ``body`` and ``provider``.

    Args:
        status: the HTTP status, ``None`` for an error event inside a stream.
        headers: the response headers (any case), or ``None``.
        body: the decoded body (see :func:`decode_body`).
        provider: the registered provider name (shown in the message).
        message: fallback message when the body carries none.
        hint: what to do, instead of the class's default hint.
        request_id_headers: header names tried, in order, for the request id.

    Example::

        if response.status_code >= 400:
            raise error_from_http(response.status_code, response.headers,
                                  decode_body(response.content), provider=self.name)
    """
    info = read_http_error(
        status, headers, body, message=message, request_id_headers=request_id_headers
    )
    cls = error_for_status(info.status) if info.status is not None else error_for_type(info.type)
    return cls(info.message, hint=hint, **info.fields(provider))
