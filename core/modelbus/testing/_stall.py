"""The short timeout of the contract's stalled attempt, and that attempt alone.

A stall (the server never answers) can only be seen by waiting for a timeout, so the
stalled attempt needs a short one; every other request of the contract (the happy paths,
the retry after a fault) must not have it, or a loaded machine (a load average over 10
on two cores makes a loopback answer take more than a quarter second now and then) turns
slow answers into spurious :class:`~modelbus.errors.APITimeoutError`. The contract
therefore gives the stalled attempt :data:`STALL_TIMEOUT_S` through the attempt limits
every provider honours (``modelbus.attempt_limits``), and the provider under test keeps
its own timeout for everything else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .._engine.timeouts import CallLimits

__all__ = ["STALL_TIMEOUT_S", "FirstCallStalls", "stall_limits"]

#: Seconds the stalled attempt may take (a stall costs this much real time).
STALL_TIMEOUT_S = 0.25

_END = object()


def stall_limits(stalls: bool = True) -> contextlib.AbstractContextManager[None]:
    """Around a provider call: the attempt limits of a stalled attempt
    (:data:`STALL_TIMEOUT_S`) when ``stalls``, else nothing."""
    return (
        CallLimits(timeout_s=STALL_TIMEOUT_S).attempt(0.0) if stalls else contextlib.nullcontext()
    )


class FirstCallStalls:
    """``provider`` as a Client sees it, with its first call (``chat``, ``achat``,
    ``stream`` or ``astream``: the one the stall is injected into) under
    :func:`stall_limits`; the calls after it (the client's retry) and every other
    attribute are the provider's own. A method the provider lacks stays missing, so the
    Client adapts it as it would the provider.

    ``served`` (optional) tells whether the stall has met a request yet: on a loaded
    machine the short timeout can end an attempt before its request reached the server
    (the connect alone took longer), leaving the stall for the next request. Such
    attempts are counted in :attr:`early` and the short timeout stays for the next one,
    so the test can still ask for exactly one attempt after the stall."""

    def __init__(self, provider: Any, served: Callable[[], bool] | None = None) -> None:
        self._inner = provider
        self._served = served
        self._armed = True
        self.early = 0

    @contextlib.contextmanager
    def _first(self) -> Iterator[None]:
        if not self._armed:
            yield
            return
        try:
            with stall_limits():
                yield
        finally:
            if self._served is None or self._served():
                self._armed = False
            else:
                self.early += 1

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        wrap = _WRAPS.get(name)
        return value if wrap is None or value is None else wrap(self, value)


def _chat(p: FirstCallStalls, fn: Callable[..., Any]) -> Callable[..., Any]:
    def chat(req: Any) -> Any:
        with p._first():
            return fn(req)

    return chat


def _achat(p: FirstCallStalls, fn: Callable[..., Any]) -> Callable[..., Any]:
    async def achat(req: Any) -> Any:
        with p._first():
            return await fn(req)

    return achat


def _stream(p: FirstCallStalls, fn: Callable[..., Any]) -> Callable[..., Iterator[Any]]:
    def stream(req: Any) -> Iterator[Any]:
        # The request is sent by the first next(): the limits are set around it only,
        # never across a yield (a context variable must be reset where it was set).
        with p._first():
            it = iter(fn(req))
            first = next(it, _END)
        try:
            if first is not _END:
                yield first
                yield from it
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    return stream


def _astream(p: FirstCallStalls, fn: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
    async def astream(req: Any) -> AsyncIterator[Any]:
        with p._first():
            it = aiter(fn(req))
            first = await anext(it, _END)
        try:
            if first is not _END:
                yield first
                async for chunk in it:
                    yield chunk
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()

    return astream


_WRAPS: dict[str, Callable[[FirstCallStalls, Callable[..., Any]], Callable[..., Any]]] = {
    "chat": _chat,
    "achat": _achat,
    "stream": _stream,
    "astream": _astream,
}
