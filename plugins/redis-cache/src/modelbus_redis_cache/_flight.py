"""Cross-process single-flight on Redis: N workers missing the same key make one call.

The holder takes ``SET lock:KEY TOKEN NX PX ttl`` (a random token, so it never deletes
a lock that expired and was taken by someone else) unless the value is already there
(one script, ``_scripts.ACQUIRE``: a caller whose miss raced with the previous holder's
store then reads the value instead of calling again), calls the provider, stores the
value, then releases: a Lua script deletes the lock if it still holds the token and
``PUBLISH``es on ``done:KEY``.

The others wait with pub/sub rather than polling: each subscribes to ``done:KEY``
first, then reads the live value and the lock in one script (``_scripts.PEEK``: a
release between the two reads cannot be missed), and sleeps in ``get_message`` until a
notification or a re-check tick (``_RECHECK_S``, which also notices a holder that
crashed: its lock expires without a message). Waiting ends with the value; with
``None`` when the lock is gone without a value (the holder failed) or when
``timeout_s`` passes, and the caller then calls the provider itself. Pub/sub costs one
extra connection per waiting caller (from a pool apart from the commands' pool, so that
waiters never starve the holder) and no load on Redis while waiting; polling ``GET``
would cost a round trip per tick per waiter and up to a tick of added latency.

While Redis is unreachable ``lock`` yields True (nobody can coordinate: the process's own
single-flight still de-duplicates its threads) and ``wait_for`` returns ``None``.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from . import _scripts

if TYPE_CHECKING:
    from ._cache import RedisCache

__all__ = ["alock", "await_for", "lock", "wait_for"]

_RECHECK_S = 0.5


def _names(cache: RedisCache, key: str) -> tuple[str, str, str]:
    p = cache.prefix
    return p + "v:" + key, p + "lock:" + key, p + "done:" + key


def _ttl_ms(cache: RedisCache, ttl_s: float | None) -> int:
    ttl = cache.settings.lock_ttl_s if ttl_s is None else ttl_s
    if ttl <= 0:
        raise ValueError(f"lock ttl_s must be > 0 seconds, got {ttl!r}")
    return max(1, math.ceil(ttl * 1000))


@contextmanager
def lock(cache: RedisCache, key: str, ttl_s: float | None = None) -> Iterator[bool]:
    """See :meth:`RedisCache.lock`."""
    vkey, lkey, channel = _names(cache, key)
    ms = _ttl_ms(cache, ttl_s)
    token = secrets.token_hex(16)
    held: bool | None = cache._run(
        lambda: bool(
            cache._link.script(_scripts.ACQUIRE)(keys=[vkey, lkey], args=[token, ms, cache._now()])
        ),
        lambda: None,
        None,
        "lock",
    )
    try:
        yield held is not False
    finally:
        if held:
            cache._run(
                lambda: cache._link.script(_scripts.RELEASE)(keys=[lkey], args=[token, channel]),
                lambda: None,
                None,
                "unlock",
            )


def _wait(cache: RedisCache, key: str, timeout_s: float) -> bytes | None:
    vkey, lkey, channel = _names(cache, key)
    peek = cache._link.script(_scripts.PEEK)
    ps = cache._link.pubsub()
    try:
        ps.subscribe(channel)
        deadline = time.monotonic() + timeout_s
        while True:
            value, holder = peek(keys=[vkey, lkey], args=[cache._now()])
            if value is not None or holder is None:
                return value  # type: ignore[no-any-return]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ps.get_message(timeout=min(remaining, _RECHECK_S))
    finally:
        ps.close()


def _timeout(cache: RedisCache, timeout_s: float | None) -> float:
    return cache.settings.lock_wait_s if timeout_s is None else max(0.0, timeout_s)


def wait_for(cache: RedisCache, key: str, timeout_s: float | None = None) -> bytes | None:
    """See :meth:`RedisCache.wait_for`."""
    t = _timeout(cache, timeout_s)
    value: bytes | None = cache._run(lambda: _wait(cache, key, t), lambda: None, None, "wait_for")
    if value is not None and cache._count("hits"):
        cache.flush_stats()
    return value


@asynccontextmanager
async def alock(cache: RedisCache, key: str, ttl_s: float | None = None) -> AsyncIterator[bool]:
    """See :meth:`RedisCache.alock`."""
    vkey, lkey, channel = _names(cache, key)
    ms = _ttl_ms(cache, ttl_s)
    token = secrets.token_hex(16)

    async def take() -> bool:
        return bool(
            await cache._link.ascript(_scripts.ACQUIRE)(
                keys=[vkey, lkey], args=[token, ms, cache._now()]
            )
        )

    async def release() -> Any:
        return await cache._link.ascript(_scripts.RELEASE)(keys=[lkey], args=[token, channel])

    held: bool | None = await cache._arun(take, lambda: None, None, "lock")
    try:
        yield held is not False
    finally:
        if held:
            await cache._arun(release, lambda: None, None, "unlock")


async def _await(cache: RedisCache, key: str, timeout_s: float) -> bytes | None:
    vkey, lkey, channel = _names(cache, key)
    peek = cache._link.ascript(_scripts.PEEK)
    ps = cache._link.apubsub()
    try:
        await ps.subscribe(channel)
        deadline = time.monotonic() + timeout_s
        while True:
            value, holder = await peek(keys=[vkey, lkey], args=[cache._now()])
            if value is not None or holder is None:
                return value  # type: ignore[no-any-return]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await ps.get_message(ignore_subscribe_messages=True, timeout=min(remaining, _RECHECK_S))
    finally:
        await ps.aclose()


async def await_for(cache: RedisCache, key: str, timeout_s: float | None = None) -> bytes | None:
    """See :meth:`RedisCache.await_for`."""
    t = _timeout(cache, timeout_s)
    value: bytes | None = await cache._arun(
        lambda: _await(cache, key, t), lambda: None, None, "wait_for"
    )
    if value is not None and cache._count("hits"):
        await cache.aflush_stats()
    return value
