"""Giving a sync-only cache its async side.

A cache plugin must implement the sync side of :class:`modelbus.protocols.Cache`; the
async side (``aget``, ``aset``, ``adelete``, ``ainvalidate_tags``, ``aclear``, and
``astats``) is optional. Where it is missing, the sync method runs in a worker thread
(``asyncio.to_thread``) so a cache doing I/O never blocks the event loop — unless the
cache declares ``blocking = False`` (it only touches memory), in which case it runs
inline, which is much cheaper than a thread hop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["ASYNC_METHODS", "SYNC_METHODS", "AdaptedCache", "adapt_cache"]

SYNC_METHODS = ("get", "set", "delete", "invalidate_tags", "clear", "stats")
ASYNC_METHODS = tuple("a" + m for m in SYNC_METHODS)


def _async_of(fn: Callable[..., Any], blocking: bool) -> Callable[..., Coroutine[Any, Any, Any]]:
    if blocking:

        async def in_thread(*args: Any) -> Any:
            return await asyncio.to_thread(fn, *args)

        return in_thread

    async def inline(*args: Any) -> Any:
        return fn(*args)

    return inline


def _is_blocking(cache: Any) -> bool:
    return getattr(cache, "blocking", True) is not False


class AdaptedCache:
    """``inner`` with both sides: its own methods where it has them, the sync ones run in
    a worker thread (or inline for ``blocking = False``) where it has not. ``close`` /
    ``aclose`` are passed through when ``inner`` has them."""

    __slots__ = ("_inner", *SYNC_METHODS, *ASYNC_METHODS)

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        blocking = _is_blocking(inner)
        for name in SYNC_METHODS:
            setattr(self, name, getattr(inner, name))
        for name in ASYNC_METHODS:
            afn = getattr(inner, name, None)
            setattr(
                self,
                name,
                afn if afn is not None else _async_of(getattr(inner, name[1:]), blocking),
            )

    @property
    def inner(self) -> Any:
        """The cache object that was adapted."""
        return self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()

    async def aclose(self) -> None:
        aclose = getattr(self._inner, "aclose", None)
        if aclose is not None:
            await aclose()
        else:
            close = getattr(self._inner, "close", None)
            if close is not None:
                await _async_of(close, _is_blocking(self._inner))()


def adapt_cache(cache: Any) -> Any:
    """``cache`` with the full sync and async API of :class:`modelbus.protocols.Cache`:
    the object itself when it already has every async method, else an
    :class:`AdaptedCache` (see the module doc). Raises ``TypeError`` naming the missing
    sync methods."""
    missing = [m for m in SYNC_METHODS if not callable(getattr(cache, m, None))]
    if missing:
        raise TypeError(
            f"{type(cache).__qualname__} is not a cache: it lacks {', '.join(missing)} "
            "(see modelbus.protocols.Cache)"
        )
    if isinstance(cache, AdaptedCache) or all(
        callable(getattr(cache, m, None)) for m in ASYNC_METHODS
    ):
        return cache
    return AdaptedCache(cache)
