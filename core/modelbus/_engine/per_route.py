"""What the engine builds once per route rather than once per call: a call's time limits
and its retry callback (``Engine.limits``, ``Engine.on_retry``).

Routes are kept by the client's route table, so a route's identity stands for it; a
:class:`RouteMemo` holds each value beside its route, so an id reused after a route is
gone never returns another route's value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .timeouts import CallLimits

if TYPE_CHECKING:
    from .._routing.resolve import Route
    from .engine import Engine

T = TypeVar("T")

__all__ = ["RouteMemo", "call_limits", "retry_callback"]


class RouteMemo(Generic[T]):
    """Values by route identity, at most ``size`` (then forgotten all at once: a client
    has a handful of routes, and more means names built per call)."""

    __slots__ = ("_items", "_size")

    def __init__(self, size: int = 1024) -> None:
        self._items: dict[int, tuple[Route, T]] = {}
        self._size = size

    def get(self, route: Route) -> T | None:
        known = self._items.get(id(route))
        return known[1] if known is not None and known[0] is route else None

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
