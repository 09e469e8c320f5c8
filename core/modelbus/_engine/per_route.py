"""What the engine builds once per route rather than once per call: a call's time limits,
its retry callback and, for routes where nothing runs before the first attempt, what the
async driver's plain call needs (``Engine.limits``, ``Engine.on_retry``,
``Engine.plain``).

Routes are kept by the client's route table, so a route's identity stands for it; a
:class:`RouteMemo` holds each value beside its route, so an id reused after a route is
gone never returns another route's value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .timeouts import CallLimits

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from .._retry.runner import RetryQuota
    from .._routing.resolve import Route
    from .._wire.types import ChatRequest, ChatResponse
    from .engine import Engine
    from .provider_adapter import AdaptedProvider

T = TypeVar("T")

__all__ = ["PlainRoute", "RouteMemo", "call_limits", "plain_route", "retry_callback"]


class RouteMemo(Generic[T]):
    """Values by route identity, at most ``size`` (then forgotten all at once: a client
    has a handful of routes, and more means names built per call)."""

    __slots__ = ("_items", "_size")

    def __init__(self, size: int = 1024) -> None:
        self._items: dict[int, tuple[Route, T]] = {}
        self._size = size

    def get(self, route: Route, default: Any = None) -> T | Any:
        known = self._items.get(id(route))
        return known[1] if known is not None and known[0] is route else default

    def clear(self) -> None:
        """Forget every route's value (``Engine.close``: the values hold providers)."""
        self._items.clear()

    def put(self, route: Route, value: T) -> T:
        if len(self._items) >= self._size:
            self._items.clear()
        self._items[id(route)] = (route, value)  # the reference keeps the id valid
        return value


def call_limits(e: Engine, route: Route, timeout_s: float | None) -> CallLimits:
    """The time limits of a call on ``route``: ``timeout_s`` (the call's, seconds), else
    the model's; the retry policy's ``deadline_s``; ``[modelbus] stream_idle_timeout_s``."""
    deadline = getattr(e.policy(route), "deadline_s", None)
    return CallLimits(
        timeout_s if timeout_s is not None else route.timeout_s,
        None if deadline is None else float(deadline),
        e.config.modelbus.stream_idle_timeout_s,
        route.provider,
    )


class PlainRoute:
    """What an uncached async call on a route needs when nothing has to run before its
    first attempt (``_engine.chat``): the route's provider (its ``achat`` and whether
    its answers are fresh, ``fresh_responses``) and its retry quota. Worked out once per
    route by :func:`plain_route`, from the decisions every call takes."""

    __slots__ = ("achat", "fresh", "quota")

    def __init__(self, provider: AdaptedProvider, quota: RetryQuota | None) -> None:
        self.achat: Callable[[ChatRequest], Awaitable[ChatResponse]] = provider.achat
        self.fresh = provider.fresh
        self.quota = quota


def plain_route(e: Engine, route: Route) -> PlainRoute | None:
    """The :class:`PlainRoute` of ``route``, or ``None`` when something may run before a
    call's first attempt there: a budget or a rate limit to await
    (``prepare.prepare_awaits``), or time limits for the retry runner to set (the
    model's ``timeout_s``, the retry policy's ``deadline_s``, a stream idle timeout other
    than the default: ``CallLimits.unbounded``). Builds the provider (first use)."""
    from .prepare import prepare_awaits

    if prepare_awaits(e, route) or not e.limits_of(route).unbounded():
        return None
    return PlainRoute(e.provider(route.provider), e.retry_quota(route.provider))


def retry_callback(e: Engine, route: Route, scope: Any) -> Callable[[Any, int], None]:
    """The retry runner's ``on_retry`` for calls on ``route``: a ``RetryScheduled`` event
    to the call's observers (``scope``, else the current chat call's) and a
    ``modelbus.retry`` warning."""

    def on_retry(a: Any, n: int) -> None:
        if e.observers is not None:
            from .observe import current

            s = scope or current()
            if s is not None:
                s.retry(a, n)
        e.log_warning(
            "modelbus.retry",
            provider=route.provider,
            model=route.model,
            attempt=n,
            error_type=a.error_type,
            status=a.status_code,
            delay_s=round(a.delay_s, 3),
            error=str(a.error),
        )

    return on_retry
