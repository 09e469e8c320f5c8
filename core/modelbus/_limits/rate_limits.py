"""The client-side rate-limit step of ``prepare``: which limits apply, and waiting on them.

``[rate_limits."openai"]`` limits every call to a provider; ``[rate_limits."openai/gpt-4o"]``
one model of it; both apply when both are set, and so does ``[models.X] rate_limit``
(key ``"models/X"``). A call costs one request and, against
``tpm``, its estimated prompt tokens plus its ``max_tokens`` (or
``max_completion_tokens``) reserve, the same sum OpenAI counts against a token limit
when it admits a request. The waiting is done by the configured limiter
(``[modelbus] rate_limiter``, a :class:`modelbus.protocols.RateLimiter`) on the client's
clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .._config.config import RateLimit
from .._logging import calls_logged
from .._routing.resolve import Route
from .._wire.types import ChatRequest

if TYPE_CHECKING:
    from .._engine import Engine

__all__ = ["arate_limit", "rate_limit", "rate_limits_configured", "request_tokens"]


def _limits(c: Engine, route: Route, req: ChatRequest) -> list[tuple[str, RateLimit]]:
    if not rate_limits_configured(c, route):
        return []
    limits = c.config.rate_limits
    own = route.rate_limit
    found = []
    if own is not None and (own.rpm or own.tpm):
        found.append((f"models/{route.alias}", own))
    for key in (route.provider, f"{route.provider}/{req.model}"):
        limit = limits.get(key)
        if limit is not None and (limit.rpm or limit.tpm):
            found.append((key, limit))
    return found


def request_tokens(c: Engine, route: Route, req: ChatRequest) -> int:
    """Tokens a request counts against ``tpm``: estimated prompt tokens (the model's token
    counter) plus the ``max_completion_tokens`` / ``max_tokens`` reserve."""
    counter = c.token_counter(req.model, route.provider)
    prompt = counter.count_messages(req.messages, req.model, req.tools)
    return prompt + (req.max_completion_tokens or req.max_tokens or 0)


def _tokens(
    c: Engine,
    route: Route,
    req: ChatRequest,
    limits: list[tuple[str, RateLimit]],
    count: Callable[[], int] | None,
) -> int:
    # Counting costs real time on long prompts: only do it when a token limit applies.
    if not any(lim.tpm for _, lim in limits):
        return 0
    return count() if count is not None else request_tokens(c, route, req)


def _log(c: Engine, key: str, waited: float, tokens: int) -> None:
    if waited > 0 and calls_logged():
        c.log.info("modelbus.rate_limited", key=key, waited_s=round(waited, 3), tokens=tokens)


def rate_limits_configured(c: Engine, route: Route) -> bool:
    """Whether any rate limit could apply to a call on ``route`` (``[rate_limits]`` or
    the model's ``rate_limit``); :func:`rate_limit` decides which ones do."""
    return bool(c.config.rate_limits) or route.rate_limit is not None


def rate_limit(
    c: Engine, route: Route, req: ChatRequest, count: Callable[[], int] | None = None
) -> None:
    """Wait (``clock.sleep``) until the request fits every limit that applies to it.
    ``count()`` returns the request's tokens when the caller has already estimated them
    (default: :func:`request_tokens`)."""
    limits = _limits(c, route, req)
    if not limits:
        return
    tokens = _tokens(c, route, req, limits, count)
    for key, limit in limits:
        _log(c, key, c.rate_limiter.acquire(key, tokens, limit, c.clock), tokens)


async def arate_limit(
    c: Engine, route: Route, req: ChatRequest, count: Callable[[], int] | None = None
) -> None:
    """The async twin of :func:`rate_limit` (awaits ``clock.asleep``)."""
    limits = _limits(c, route, req)
    if not limits:
        return
    tokens = _tokens(c, route, req, limits, count)
    for key, limit in limits:
        _log(c, key, await c.rate_limiter.aacquire(key, tokens, limit, c.clock), tokens)
