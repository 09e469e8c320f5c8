"""Fallback models: which error moves a call to which other model.

``[models.X] fallbacks = ["azure/gpt-4o", "local/llama3"]`` are tried in order when the
primary is unavailable: its retries are exhausted (:class:`RetryError`) or it failed with
an availability error (429, 408, 409, >= 500, timeout, connection error, a
``RateLimitError`` for a too-long ``Retry-After``). A 400-class error (bad request,
authentication, permission, not found, content filter) never falls back: another model
would not fix the request, and hiding a configuration error helps nobody.
``context_window_fallback = "model"`` is tried on :class:`ContextLengthExceededError`
(found locally before sending, or reported by the provider).

The fallback gets the same messages and parameters with its own model; its own cache key,
retries, rate limits and retry budget apply. ``ChatResponse.provider``/``model`` name the
one that answered. Fallback *i* carries on with fallbacks *i+1...* only; a context-window
fallback has none, so a chain always ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from .._routing.resolve import Route, build_request
from .._wire.types import ChatRequest
from ..errors import (
    APIConnectionError,
    APITimeoutError,
    ContextLengthExceededError,
    ProviderError,
    RateLimitError,
    RetryError,
    ServerError,
)

if TYPE_CHECKING:
    from . import Engine
    from .observe import Scope

__all__ = ["is_availability_error", "next_route"]

_AVAILABILITY = (
    RetryError,
    RateLimitError,
    ServerError,
    APITimeoutError,
    APIConnectionError,
    TimeoutError,
    ConnectionError,
)


def is_availability_error(error: BaseException) -> bool:
    """Whether ``error`` says the model could not answer now (so another one may), rather
    than that the request is wrong (see the module doc)."""
    if isinstance(error, _AVAILABILITY):
        return True
    if isinstance(error, ProviderError) and error.status_code is not None:
        s = error.status_code
        return s >= 500 or s in (408, 409, 429)
    return False


def next_route(
    c: Engine, route: Route, req: ChatRequest, error: BaseException, scope: Scope | None = None
) -> tuple[Route, ChatRequest] | None:
    """The route and request to try after ``error`` on ``route``, or ``None`` (re-raise).

    Logs a ``modelbus.fallback`` warning naming both models and the error, and emits
    :class:`~modelbus.events.FallbackTaken` to the call's ``scope`` (a stream's) or the
    current chat call's. Raises :class:`ConfigError` when a fallback name does not
    resolve."""
    if isinstance(error, ContextLengthExceededError) and route.context_window_fallback:
        target = c.route(route.context_window_fallback)
        nxt = attrs.evolve(target, fallbacks=(), context_window_fallback=None)
        reason = "context_window"
    elif route.fallbacks and is_availability_error(error):
        target = c.route(route.fallbacks[0])
        nxt = attrs.evolve(target, fallbacks=route.fallbacks[1:], context_window_fallback=None)
        reason = "unavailable"
    else:
        return None
    assert nxt.model is not None
    c.log_warning(
        "modelbus.fallback",
        from_provider=route.provider,
        from_model=route.model,
        to_provider=nxt.provider,
        to_model=nxt.model,
        reason=reason,
        error_type=type(error).__name__,
        error=str(error),
    )
    if c.observers is not None:
        from .observe import current

        s = scope or current()
        if s is not None:
            s.fallback(route, nxt, reason, error)
    return nxt, _request_for(req, route, nxt)


def _request_for(req: ChatRequest, primary: Route, target: Route) -> ChatRequest:
    """``req`` re-aimed at ``target``: its model, and its alias's ``params`` for every
    parameter the caller did not set (unset, or still the primary alias's value), so a
    call's own parameters always win and the primary alias's defaults do not carry over
    where the fallback alias has its own."""
    assert target.model is not None
    if not target.params:
        return attrs.evolve(req, model=target.model)
    wanted = build_request(req.messages, target.model, target.params)
    inherited = build_request(req.messages, target.model, primary.params or {})
    changes: dict[str, Any] = {"model": target.model}
    for name in target.params:
        current = getattr(req, name)
        if current is None or (name in primary.params and current == getattr(inherited, name)):
            changes[name] = getattr(wanted, name)
    return attrs.evolve(req, **changes)
