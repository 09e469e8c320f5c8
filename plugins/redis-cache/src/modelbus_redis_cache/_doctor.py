"""``modelbus doctor`` checks of the ``redis`` cache and rate limiter, also run first by
``modelbus cache stats|clear|invalidate``: is the server there, does it accept us?

A call on the request path never raises for Redis (it falls back); an operator asking
about the cache must learn *why* it is not Redis that answers. Each check is one PING on
a fresh connection, outside the circuit breaker, and reports the reason in one line:
the URL with its password masked and redis-py's message (which never holds the
password).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    from ._cache import RedisCache
    from ._link import RedisLink
    from ._ratelimit import RedisRateLimiter

__all__ = ["check", "reason"]

Row = tuple[str, bool, str]


def reason(exc: BaseException, socket_timeout_s: float) -> str:
    """Why a PING failed, for a human: the kind of failure, then redis-py's message."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, redis.exceptions.AuthenticationError) or "NOAUTH" in text:
        return f"authentication failed ({text}): check the password in the URL or `password`"
    if isinstance(exc, redis.exceptions.TimeoutError):
        return f"no answer within socket_timeout_s = {socket_timeout_s} s ({text})"
    if isinstance(exc, (redis.exceptions.ConnectionError, OSError)):
        return f"cannot connect ({text})"
    return f"{type(exc).__name__}: {text}"


def _ping(link: RedisLink, socket_timeout_s: float) -> list[Row]:
    pool = link.sync.connection_pool  # its settings; the connection is not the pool's
    conn = pool.connection_class(**pool.connection_kwargs)
    t0 = time.perf_counter()
    try:
        conn.send_command("PING")
        conn.read_response()
    except (redis.RedisError, OSError) as exc:
        return [("redis reachable", False, f"{link.redacted_url}: {reason(exc, socket_timeout_s)}")]
    finally:
        conn.disconnect()
    ms = (time.perf_counter() - t0) * 1000
    return [("redis reachable", True, f"{link.redacted_url} answered PING in {ms:.1f} ms")]


def check(component: RedisCache | RedisRateLimiter) -> list[Row]:
    """``[(what, ok, detail)]`` for the ``redis`` cache or rate limiter (registered as
    ``caches.redis`` and ``rate_limiters.redis``)."""
    return _ping(component._link, component.settings.socket_timeout_s)
