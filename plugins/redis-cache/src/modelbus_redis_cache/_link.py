"""One Redis endpoint as the cache and the rate limiter use it.

- a sync :class:`redis.Redis` on a connection pool, created without retries (redis-py 6+
  retries a failed command 3-10 times with backoff by default; here an error means
  "outage", and the circuit breaker decides when to try again);
- per-thread *pinned* connections for the hot read (``HMGET``): a cache hit then costs
  one send and one read on a socket this thread owns, without the pool's lock and
  bookkeeping (see ``benchmarks/bench_redis.py``);
- one :class:`redis.asyncio.Redis` per event loop: an asyncio connection belongs to the
  loop that opened it, so each loop that uses the cache gets its own pool;
- the :class:`CircuitBreaker` and the once-per-outage warning.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript, Script
from redis.retry import Retry

from modelbus import Secret
from modelbus.plugin import get_logger

from ._breaker import CircuitBreaker
from ._settings import redact_url

__all__ = ["OUTAGE_ERRORS", "POOL_FULL", "RedisLink"]

# Errors that mean "Redis is not there" (refused, reset, timed out, loading, auth
# failed): they open the breaker. Any other RedisError (WRONGTYPE, OOM...) is a failed
# command on a working server.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    asyncio.TimeoutError,
)

# A subclass of ConnectionError raised by our own pool when all its connections are in
# use (max_connections): Redis is fine, so it must be caught before OUTAGE_ERRORS.
POOL_FULL = redis.exceptions.MaxConnectionsError

_log = get_logger("modelbus.redis")
_PACKED_MAX = 4096

# Bumped in a forked child: a socket inherited from the parent must not be shared with
# it (cheaper than comparing os.getpid() on every read).
_forks = 0


def _after_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_after_fork)


class _LoopState:
    __slots__ = ("client", "scripts")

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.scripts: dict[str, AsyncScript] = {}


class RedisLink:
    """Connections to one Redis URL, a circuit breaker and outage logging.

    ``component`` names the user in log events (``"cache"``, ``"rate_limiter"``);
    ``clock`` drives the breaker (seconds, monotonic)."""

    def __init__(
        self,
        url: str,
        *,
        component: str,
        password: Secret | None = None,
        socket_timeout_s: float = 1.0,
        max_connections: int = 64,
        probe_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.redacted_url = redact_url(url)
        self.component = component
        self.breaker = CircuitBreaker(probe_interval_s, clock)
        self._kwargs: dict[str, Any] = {
            "socket_timeout": socket_timeout_s,
            "socket_connect_timeout": socket_timeout_s,
            "max_connections": max_connections,
        }
        if password is not None:
            self._kwargs["password"] = password.get_secret_value()
        self.sync = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **self._kwargs)
        self._scripts: dict[str, Script] = {}
        self._local = threading.local()
        self._packed: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._pinned: weakref.WeakSet[Any] = weakref.WeakSet()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )

    # --- sync ----------------------------------------------------------------------------
    def _pinned_connection(self) -> Any:
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.forks != _forks:  # a forked child opens its own
            pool = self.sync.connection_pool
            conn = pool.connection_class(**pool.connection_kwargs)
            local.conn, local.forks = conn, _forks
            self._pinned.add(conn)
        return conn

    def hmget(self, name: str, *fields: str) -> list[bytes | None]:
        """``HMGET name fields...`` on this thread's pinned connection. Raises redis-py's
        errors; the connection disconnects itself on error and reconnects on next use."""
        conn = self._pinned_connection()
        # A hit is a key read before: its packed command is kept (redis-py's own packer,
        # bounded), which saves a tenth of the read's Python time.
        packed = self._packed.get((name, fields))
        if packed is None:
            if len(self._packed) >= _PACKED_MAX:
                self._packed.clear()
            packed = self._packed[(name, fields)] = conn.pack_command("HMGET", name, *fields)
        try:
            conn.send_packed_command(packed, check_health=False)
            values: list[bytes | None] = conn.read_response()
        except redis.exceptions.ConnectionError:
            # The socket may be stale (the server restarted since this thread last read):
            # one try on a fresh connection, as the pool does for its idle connections.
            conn.send_packed_command(packed, check_health=False)
            values = conn.read_response()
        return values

    def script(self, source: str) -> Script:
        """The sync :class:`Script` for ``source`` (loaded on first use, and again after
        a server restart: redis-py re-sends it on ``NOSCRIPT``)."""
        s = self._scripts.get(source)
        if s is None:
            s = self._scripts[source] = self.sync.register_script(source)
        return s

    # --- async ---------------------------------------------------------------------------
    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        st = self._loops.get(loop)
        if st is None:
            client = redis.asyncio.Redis.from_url(
                self.url, retry=AsyncRetry(NoBackoff(), 0), **self._kwargs
            )
            st = self._loops[loop] = _LoopState(client)
        return st

    def aclient(self) -> redis.asyncio.Redis:
        """This event loop's async client (created on first use in the loop)."""
        return self._loop_state().client

    def ascript(self, source: str) -> AsyncScript:
        """This event loop's :class:`AsyncScript` for ``source``."""
        st = self._loop_state()
        s = st.scripts.get(source)
        if s is None:
            s = st.scripts[source] = st.client.register_script(source)
        return s

    # --- outages -------------------------------------------------------------------------
    def outage(self, exc: BaseException, fallback: str) -> None:
        """Open the breaker; log ``redis_unavailable`` once per outage (``fallback`` says
        what callers get meanwhile)."""
        if self.breaker.failure():
            _log.warning(
                "redis_unavailable",
                component=self.component,
                url=self.redacted_url,
                error=f"{type(exc).__name__}: {exc}",
                fallback=fallback,
                probe_interval_s=self.breaker.probe_interval_s,
            )

    def recovered(self) -> None:
        """Close the breaker after a successful probe; log ``redis_recovered``."""
        if self.breaker.close():
            _log.warning(
                "redis_recovered",
                component=self.component,
                url=self.redacted_url,
                outages=self.breaker.outages,
            )

    def warn(self, event: str, exc: BaseException, **kw: Any) -> None:
        """Log a failed command on a working server (not an outage)."""
        _log.warning(
            event,
            component=self.component,
            url=self.redacted_url,
            error=f"{type(exc).__name__}: {exc}",
            **kw,
        )

    # --- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Disconnect the sync pool and the pinned connections. Async clients of loops
        other than a running one are dropped (their sockets close with the loop)."""
        for conn in list(self._pinned):
            conn.disconnect()
        self.sync.close()

    async def aclose(self) -> None:
        """:meth:`close`, plus closing this event loop's async client."""
        self.close()
        loop = asyncio.get_running_loop()
        st = self._loops.pop(loop, None)
        if st is not None:
            await st.client.aclose()
