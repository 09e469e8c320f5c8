"""Checks before sending: estimated prompt tokens against the context window.

Owned by the token-accounting work: context fitting (``truncate``), ``max_cost_usd``
budgets and client-side rate limits hook in here, after the cache lookup and before the
provider call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._ratelimit import arate_limit, rate_limit
from ._routing import Route
from ._types import ChatRequest
from .errors import ContextLengthExceededError

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["aprepare", "prepare"]


def prepare(c: Client, route: Route, req: ChatRequest) -> ChatRequest:
    """The checked request to send (:func:`_check_context`), after waiting for the
    client-side rate limits (``_ratelimit``)."""
    req = _check_context(c, route, req)
    # Rate limits last: a request refused by a check above must not spend the budget.
    rate_limit(c, route, req)
    return req


async def aprepare(c: Client, route: Route, req: ChatRequest) -> ChatRequest:
    """The async twin of :func:`prepare` (waits with ``clock.asleep``)."""
    req = _check_context(c, route, req)
    await arate_limit(c, route, req)
    return req


def _check_context(c: Client, route: Route, req: ChatRequest) -> ChatRequest:
    """The request to send, or :class:`ContextLengthExceededError` raised locally (naming
    both numbers) when the estimated prompt tokens plus ``max_tokens`` exceed the
    catalog's context window. Models the catalog does not know are sent unchecked."""
    entry = c.catalog.get(req.model)
    if entry is None or entry.context_window is None:
        return req
    counter = c.token_counter(req.model, route.provider)
    prompt = counter.count_messages(req.messages, req.model, req.tools)
    reserve = req.max_completion_tokens or req.max_tokens or 0
    if prompt + reserve > entry.context_window:
        raise ContextLengthExceededError(
            f"{prompt} prompt tokens + {reserve} max_tokens exceed the context window of "
            f"{req.model} ({entry.context_window} tokens)",
            prompt_tokens=prompt, context_window=entry.context_window,
            provider=route.provider,
        )
    return req
