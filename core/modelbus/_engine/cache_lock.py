"""Cross-process single-flight through a cache's optional lock (see
:class:`modelbus.protocols.LockingCache`).

On a cache miss, after the in-process single-flight picked this thread (or task) as the
one to call, the pipeline asks the cache for its distributed lock, if it has one:

- acquired: call the provider and store the response while holding the lock, so that
  waiters find it when the lock is released;
- not acquired (another process is calling, or has just stored the value since our
  miss): wait, bounded by the cache's own timeout, for the value and return it as a
  cache hit, or call the provider ourselves when none came.

A cache without ``lock`` costs nothing here. Failures of the lock calls are logged and
the call proceeds unlocked: a cache problem never fails a request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._wire.types import ChatResponse
    from . import Engine

__all__ = ["arun_locked", "run_locked"]

Decode = Callable[[Any], "ChatResponse | None"]


def run_locked(
    c: Engine, cache: Any, key: str, decode: Decode, call: Callable[[], ChatResponse]
) -> ChatResponse:
    """``call()`` under ``cache.lock(key)`` when the cache offers one (module doc);
    ``decode`` turns cached bytes (or ``None``) into a hit response (or ``None``)."""
    lock = getattr(cache, "lock", None)
    if lock is None:
        return call()
    try:
        cm = lock(key)
        acquired = bool(cm.__enter__())
    except Exception as exc:
        c.log_warning("cache_lock_failed", error=f"{type(exc).__name__}: {exc}")
        return call()
    try:
        if acquired:
            return call()
        hit = decode(c.guard(lambda: cache.wait_for(key), "cache_wait_failed"))
        return hit if hit is not None else call()
    finally:
        c.guard(lambda: cm.__exit__(None, None, None), "cache_unlock_failed")


async def arun_locked(
    c: Engine, cache: Any, key: str, decode: Decode, call: Callable[[], Awaitable[ChatResponse]]
) -> ChatResponse:
    """The async twin of :func:`run_locked`, with ``cache.alock``/``cache.await_for``
    (a cache with only the sync ``lock`` is not locked on the async path: blocking the
    event loop on a wait would stall every other task)."""
    lock = getattr(cache, "alock", None)
    if lock is None:
        return await call()
    try:
        cm = lock(key)
        acquired = bool(await cm.__aenter__())
    except Exception as exc:
        c.log_warning("cache_lock_failed", error=f"{type(exc).__name__}: {exc}")
        return await call()
    try:
        if acquired:
            return await call()
        hit = decode(await c.aguard(cache.await_for(key), "cache_wait_failed"))
        return hit if hit is not None else await call()
    finally:
        await c.aguard(cm.__aexit__(None, None, None), "cache_unlock_failed")
