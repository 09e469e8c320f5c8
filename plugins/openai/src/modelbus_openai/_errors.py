"""OpenAI SDK exceptions and OpenAI-style error bodies → :mod:`modelbus.errors`.

Reused by every OpenAI-compatible provider (``azure``, ``local``):

- :func:`map_openai_error` — any exception the ``openai`` SDK (or its ``httpx2``
  transport) raises → the matching :class:`~modelbus.errors.ProviderError`.
- :func:`error_from_body` — an HTTP status, response headers and a decoded error body
  (``{"error": {"message", "type", "param", "code"}}``) → ProviderError. Also used for
  ``error`` events inside an SSE stream (no status).
- :func:`invalid_body_error` — a 2xx response whose body is not the JSON it should be.

What is read, and from where:

The vendor-neutral reading (status, headers, the ``error`` object) is the core's
:func:`modelbus.plugin.read_http_error`; this module adds OpenAI's and Azure's cases:

- ``request_id``: ``x-request-id`` (OpenAI), else ``apim-request-id`` (Azure).
- ``retry_after_s``: ``retry-after-ms`` / ``Retry-After`` (see
  :func:`modelbus.plugin.retry_after_seconds`); when a 429 carries neither, the wait
  stated in the message ("Please try again in 1.5s", Azure's "Please retry after 86400
  seconds").
- ``should_retry``: the ``x-should-retry`` header (``true``/``false``), which the SDK's
  own retry logic obeys first.
- The class: by status (:func:`modelbus.errors.error_for_status`), then by ``code``:
  ``context_length_exceeded`` → ContextLengthExceededError (also llama.cpp's
  ``exceed_context_size_error`` and a 400 whose message states the maximum context
  length, as vLLM sends it); ``content_filter`` → ContentFilterError with the categories
  of ``innererror.content_filter_result`` (Azure); ``insufficient_quota`` → RateLimitError
  with ``retryable=False`` (retrying cannot add credits), as is a 429 "Request too large"
  (one request over the whole tokens-per-minute budget).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from typing import Any

import jiter

from modelbus.plugin import (
    APIConnectionError,
    APITimeoutError,
    ContentFilterError,
    ContextLengthExceededError,
    ProviderError,
    RateLimitError,
    ServerError,
    decode_body,
    error_for_status,
    read_http_error,
    redact_exception,
    request_id_from,
)

__all__ = [
    "decode_body",
    "error_from_body",
    "invalid_body_error",
    "json_object",
    "map_openai_error",
    "retry_after_from_message",
    "sdk_error_types",
]

# "This model's maximum context length is 4097 tokens. However, your messages resulted in
# 4294 tokens." (OpenAI; vLLM uses the same first sentence.)
_CONTEXT_RE = re.compile(
    r"maximum context length is (\d+) tokens.*?(?:resulted in|requested) (\d+) tokens", re.S
)
# OpenAI: "Please try again in 20ms." / "in 1.5s" / "in 6m0s" / "in 114h18m0s".
_TRY_AGAIN_RE = re.compile(r"try again in ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)", re.I)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
# Azure: "Please retry after 86400 seconds." / "Try again in 2 seconds."
_SECONDS_RE = re.compile(r"(?:retry after|try again in) (\d+(?:\.\d+)?) seconds?", re.I)
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def retry_after_from_message(message: str) -> float | None:
    """Seconds to wait as stated in an error message, or ``None``.

    Reads OpenAI's Go-style durations ("Please try again in 1.5s", "in 6m0s", "in 20ms")
    and Azure's "Please retry after N seconds" / "Try again in N seconds". Used only
    when the response has no ``retry-after-ms`` / ``Retry-After`` header.
    """
    m = _SECONDS_RE.search(message)
    if m:
        return float(m.group(1))
    m = _TRY_AGAIN_RE.search(message)
    if m:
        return sum(float(v) * _UNIT_S[u] for v, u in _DURATION_PART.findall(m.group(1)))
    return None


def _hint(code: str | None, param: str | None, err: Mapping[str, Any]) -> str | None:
    """What to do, for the codes where the class's default hint is too vague."""
    if code == "model_not_found":
        return "the model does not exist or this key has no access: check the model name"
    if code in ("DeploymentNotFound", "deployment_not_found"):
        return (
            "no Azure deployment of that name: map the model in [providers.azure] "
            "deployments or create the deployment"
        )
    if code in ("unsupported_parameter", "unsupported_value") and param:
        return f"remove or change the parameter {param!r} for this model"
    if code == "invalid_api_key":
        return "the API key is wrong or revoked: check api_key / its environment variable"
    if param:
        return f"fix the parameter {param!r}"
    return None


def error_from_body(
    *,
    provider: str,
    status: int | None,
    headers: Mapping[str, str] | None,
    body: Any,
    message: str | None = None,
) -> ProviderError:
    """The ProviderError for an error answer: ``status`` (``None`` for an SSE ``error``
    event), response ``headers`` (any case), the decoded ``body`` (dict, text or ``""``)
    and a fallback ``message``. See the module docstring for what is read."""
    info = read_http_error(status, headers, body, message=message)
    err, code, etype, param = info.error, info.code, info.type, info.param
    msg, status = info.message, info.status
    raw_inner = err.get("innererror")
    inner: Mapping[str, Any] = raw_inner if isinstance(raw_inner, Mapping) else {}
    retry_after = info.retry_after_s
    if retry_after is None and (status == 429 or code in ("rate_limit_exceeded", "429")):
        retry_after = retry_after_from_message(msg)
    kw: dict[str, Any] = {**info.fields(provider), "retry_after_s": retry_after}
    if (
        code == "context_length_exceeded"
        or etype == "exceed_context_size_error"
        or (status in (400, None) and _CONTEXT_RE.search(msg))
    ):
        m = _CONTEXT_RE.search(msg)
        return ContextLengthExceededError(
            msg,
            context_window=int(m.group(1)) if m else None,
            prompt_tokens=int(m.group(2)) if m else None,
            **kw,
        )
    if code == "content_filter" or inner.get("code") == "ResponsibleAIPolicyViolation":
        categories = inner.get("content_filter_result") or err.get("content_filter_result")
        return ContentFilterError(msg, categories=categories, **kw)
    if code == "insufficient_quota" or etype == "insufficient_quota":
        return RateLimitError(
            msg,
            retryable=False,
            hint="the account is out of credits or over its monthly budget: add credits or "
            "raise the limit in the billing settings; retrying will not help",
            **kw,
        )
    if status == 429 and msg.startswith("Request too large"):
        return RateLimitError(
            msg,
            retryable=False,
            hint="this one request is over the tokens-per-minute limit: shorten the messages "
            "or lower max_tokens; retrying cannot help",
            **kw,
        )
    if status is not None and 300 <= status < 400:
        location = next((v for k, v in (headers or {}).items() if k.lower() == "location"), None)
        return _redirect(msg, location, kw)
    if status is not None:
        cls = error_for_status(status)
    elif etype == "server_error" or code == "server_error":
        cls = ServerError
    elif code in ("rate_limit_exceeded", "429"):
        cls = RateLimitError
    else:
        cls = ProviderError
    return cls(msg, hint=_hint(code, param, err), **kw)


def _redirect(msg: str, location: str | None, kw: dict[str, Any]) -> ProviderError:
    """A 3xx answer. Redirects are followed in no mode: a 301/302 would turn the POST
    into a GET without its body (RFC 9110 §15.4.2-3) and a redirect may lead to
    another host; the caller fixes ``base_url`` instead."""
    where = location or "(no Location header)"
    return ProviderError(
        f"{msg}: the server redirected to {where}",
        retryable=False,
        hint=f"modelbus does not follow redirects; set base_url to the final URL ({where})",
        **kw,
    )


def invalid_body_error(
    provider: str, status: int, headers: Mapping[str, str], what: str, content: bytes | str
) -> ProviderError:
    """A 2xx answer whose body is not the JSON it should be (cut by a proxy, an HTML page
    from a gateway...): a retryable :class:`ServerError` with the first 200 characters."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    return ServerError(
        f"{what} is not valid JSON: {text[:200]!r}",
        provider=provider,
        status_code=status,
        request_id=request_id_from(headers),
        body=text,
        hint="the server or a proxy in between sent a broken body (retryable)",
    )


def json_object(
    provider: str, status: int, headers: Mapping[str, str], what: str, content: bytes
) -> dict[str, Any]:
    """The JSON object of a 2xx body; raises :func:`invalid_body_error` when it is not one.

    Parsed by ``jiter`` (about a third of ``json.loads``' CPU on a chat answer: it runs
    on every call). What jiter refuses goes to ``json.loads``, so every body decodes as
    it always did: a UTF-8 BOM or UTF-16/32 (RFC 8259 §8.1 forbids them, ``json.loads``
    accepts them), lone surrogate escapes, and the errors themselves. A body nested past
    the parsers' depth limits (a hostile server) is not a JSON object either."""
    try:
        data = jiter.from_json(content)
    except ValueError:
        try:
            data = json.loads(content)
        except (ValueError, RecursionError):
            raise invalid_body_error(provider, status, headers, what, content) from None
    if type(data) is not dict:
        raise invalid_body_error(provider, status, headers, what, content)
    return data


def sdk_error_types() -> tuple[type[BaseException], ...]:
    """The exception types :func:`map_openai_error` maps: the ``httpx2`` transport errors
    that escape while a streamed body is read, and ``openai.OpenAIError`` once the SDK is
    loaded (an SDK that was never imported raised nothing: the direct path does not
    import it, see ``_direct``)."""
    import httpx2

    openai = sys.modules.get("openai")
    transport: tuple[type[BaseException], ...] = (httpx2.TimeoutException, httpx2.RequestError)
    return transport if openai is None else (openai.OpenAIError, *transport)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def _is_disconnect(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is both
        return False
    if isinstance(exc, ConnectionError):
        return True
    # aiohttp's ClientConnectionError (ServerDisconnectedError...) is no ConnectionError;
    # matched by name so that this module never imports aiohttp itself.
    return any(
        c.__name__ == "ClientConnectionError" and c.__module__.startswith("aiohttp")
        for c in type(exc).__mro__
    )


def _is_timeout(exc: BaseException) -> bool:
    """A timeout, unless the root cause is a dropped connection: the SDK's vendored aiohttp
    transport maps every ``aiohttp.ClientConnectionError`` (a reset, a server that
    closes the connection) to ``httpx.ConnectTimeout``, which would report a peer gone
    as a timeout."""
    return not any(_is_disconnect(e) for e in _chain(exc))


def _cause(exc: BaseException) -> str:
    c = exc.__cause__ or exc.__context__
    return f" ({type(c).__name__}: {c})" if c is not None and str(c) else ""


def map_openai_error(exc: BaseException, provider: str) -> ProviderError:
    """The :class:`~modelbus.errors.ProviderError` for an exception raised by the openai
    SDK (``APIStatusError`` with its response, ``APITimeoutError``, ``APIConnectionError``,
    ``APIError`` from a stream's ``error`` event, other ``OpenAIError``) or by its httpx2
    transport while reading a stream. ``provider`` is the registered provider name.

    Status errors keep status, headers-derived fields and the full decoded body (see
    :func:`error_from_body`). Raise the result ``from exc`` to keep the SDK traceback:
    ``exc`` and its chain are scrubbed of configured secrets first (a 401 body that
    echoes the key would otherwise show it in the traceback).
    """
    import httpx2

    redact_exception(exc)
    # Not imported here: an exception of an SDK that was never loaded cannot be one of
    # its classes, and the direct path (``_direct``) never loads it.
    openai: Any = sys.modules.get("openai")
    if openai is not None and isinstance(exc, openai.APIStatusError):
        resp = exc.response
        try:
            content = resp.content
        except Exception:  # a streamed body that could not be read: use what the SDK kept
            body: Any = exc.body
        else:
            body = decode_body(content)
        return error_from_body(
            provider=provider,
            status=exc.status_code,
            headers=resp.headers,
            body=body,
            message=exc.message,
        )
    timeouts = (
        (httpx2.TimeoutException,)
        if openai is None
        else (openai.APITimeoutError, httpx2.TimeoutException)
    )
    if isinstance(exc, timeouts) and _is_timeout(exc):
        return APITimeoutError(f"no response within the timeout{_cause(exc)}", provider=provider)
    if openai is not None and isinstance(exc, openai.APIConnectionError):
        return APIConnectionError(f"connection failed{_cause(exc)}", provider=provider)
    if isinstance(exc, httpx2.RequestError):
        return APIConnectionError(
            f"connection failed while reading the response: {type(exc).__name__}: {exc}",
            provider=provider,
        )
    if openai is not None and isinstance(exc, openai.APIError):
        body = exc.body if exc.body is not None else {}
        wrapped = {"error": body} if isinstance(body, Mapping) else body
        return error_from_body(
            provider=provider, status=None, headers=None, body=wrapped, message=exc.message
        )
    return ProviderError(f"{type(exc).__name__}: {exc}", provider=provider)
