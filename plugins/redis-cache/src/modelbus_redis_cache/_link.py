"""One Redis endpoint as the cache and the rate limiter use it.

- a sync :class:`redis.Redis` on a *blocking* connection pool, created without retries
  (redis-py 6+ retries a failed command 3-10 times with backoff by default; here an error
  means "outage", and the circuit breaker decides when to try again). When all
  ``max_connections`` are in use a caller waits up to ``pool_timeout_s`` for one to come
  back (redis-py's ``BlockingConnectionPool``) instead of failing: a busy pool is local
  concurrency, not an outage. Still none after the wait raises :class:`PoolTimeoutError`,
  which callers handle apart from the outage errors;
- per-thread *pinned* connections for the hot read (``HMGET``): a cache hit then costs
  one send and one read on a socket this thread owns, without the pool's lock and
  bookkeeping (see ``benchmarks/bench_redis.py``);
- one :class:`redis.asyncio.Redis` per event loop: an asyncio connection belongs to the
  loop that opened it, so each loop that uses the cache gets its own (blocking) pool;
- pub/sub (single-flight waiters, which hold a connection for the whole wait) on a pool
  of its own, so waiters can never take the connections their lock holder needs to
  store the value they wait for;
- the :class:`CircuitBreaker` and the once-per-outage warning.
"""

from __future__ import annotations

import asyncio
import os
import queue
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
from modelbus.plugin import close_with_loop, get_logger

from ._breaker import CircuitBreaker
from ._settings import redact_url

__all__ = ["OUTAGE_ERRORS", "POOL_FULL", "PoolTimeoutError", "RedisLink"]

# Errors that mean "Redis is not there" (refused, reset, timed out, loading, auth
# failed): they open the breaker. Any other RedisError (WRONGTYPE, OOM...) is a failed
# command on a working server.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    asyncio.TimeoutError,
)


class PoolTimeoutError(redis.exceptions.MaxConnectionsError):
    """No connection of the pool came free within ``pool_timeout_s`` seconds: every one of
    ``max_connections`` is busy with this process's own commands. Redis is fine, so it
    is not an outage; a subclass of redis-py's ``ConnectionError`` (through
    ``MaxConnectionsError``), hence caught before :data:`OUTAGE_ERRORS`."""


# Caught before OUTAGE_ERRORS (it is a ConnectionError subclass).
POOL_FULL = redis.exceptions.MaxConnectionsError
_NO_CONNECTION = "No connection available."  # redis-py's text for a pool wait that timed out


def _busy(pool: Any) -> str:
    return (
        f"all {pool.max_connections} connections of the pool stayed busy for "
        f"{pool.timeout} s (max_connections, pool_timeout_s)"
    )


class _BlockingPool(redis.BlockingConnectionPool):
    """redis-py's blocking pool, raising :class:`PoolTimeoutError` for a wait that timed
    out (redis-py raises a plain ``ConnectionError``, which reads as "Redis is down")."""

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except redis.exceptions.ConnectionError as exc:
            # Raised inside redis-py's ``except queue.Empty``: the wait, not a connect.
            if str(exc) == _NO_CONNECTION and isinstance(exc.__context__, queue.Empty):
                raise PoolTimeoutError(_busy(self)) from None
            raise


class _AsyncBlockingPool(redis.asyncio.BlockingConnectionPool):
    """The asyncio twin of :class:`_BlockingPool`."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except redis.exceptions.ConnectionError as exc:
            if str(exc) == _NO_CONNECTION and isinstance(exc.__cause__, asyncio.TimeoutError):
                raise PoolTimeoutError(_busy(self)) from None
            raise


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
    __slots__ = ("client", "closer", "pubsub", "scripts")

    def __init__(self, client: redis.asyncio.Redis, pubsub: redis.asyncio.Redis) -> None:
        self.client = client
        self.pubsub = pubsub
        self.scripts: dict[str, AsyncScript] = {}
        # Closes both pools as the loop shuts down (asyncio.run), while it still can:
        # closing a loop does not close its sockets.
        self.closer = close_with_loop(self.aclose)

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.pubsub.aclose()


class RedisLink:
    """Connections to one Redis URL, a circuit breaker and outage logging.

    ``component`` names the user in log events (``"cache"``, ``"rate_limiter"``);
    ``max_connections`` bounds each pool (the sync one, each event loop's), whose callers
    wait up to ``pool_timeout_s`` seconds for a free connection; ``clock`` drives the
    breaker (seconds, monotonic)."""

    def __init__(
        self,
        url: str,
        *,
        component: str,
        password: Secret | None = None,
        socket_timeout_s: float = 1.0,
        max_connections: int = 64,
        pool_timeout_s: float = 5.0,
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
        }
        if password is not None:
            self._kwargs["password"] = password.get_secret_value()
        self._pool_kwargs = {"max_connections": max_connections, "timeout": pool_timeout_s}
        # With a pool given, redis-py takes the retry policy from the pool's connections.
        pool = _BlockingPool.from_url(
            url, retry=Retry(NoBackoff(), 0), **self._pool_kwargs, **self._kwargs
        )
        self.sync = redis.Redis.from_pool(pool)
        # Pub/sub waiters hold their connection while they wait: not from the pool that
        # the holder they wait for needs. Created on first use.
        self._sync_pubsub: redis.Redis | None = None
        self._scripts: dict[str, Script] = {}
        self._local = threading.local()
        self._packed: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._pinned: weakref.WeakSet[Any] = weakref.WeakSet()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )

    # --- sync ----------------------------------------------------------------------------

    @classmethod
    def of(
        cls, settings: Any, *, component: str, clock: Callable[[], float] = time.monotonic
    ) -> RedisLink:
        """The link of a component's settings (any of the plugin's settings classes: each
        has ``url``, ``password``, ``socket_timeout_s``, ``max_connections``,
        ``pool_timeout_s`` and ``probe_interval_s``)."""
        return cls(
            settings.url,
            component=component,
            password=settings.password,
            socket_timeout_s=settings.socket_timeout_s,
            max_connections=settings.max_connections,
            pool_timeout_s=settings.pool_timeout_s,
            probe_interval_s=settings.probe_interval_s,
            clock=clock,
        )

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

    def pubsub(self) -> Any:
        """A sync ``PubSub`` on the pub/sub pool (close it after use)."""
        if self._sync_pubsub is None:
            self._sync_pubsub = redis.Redis.from_url(
                self.url, retry=Retry(NoBackoff(), 0), **self._kwargs
            )
        return self._sync_pubsub.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]

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
            pool = _AsyncBlockingPool.from_url(
                self.url, retry=AsyncRetry(NoBackoff(), 0), **self._pool_kwargs, **self._kwargs
            )
            pubsub = redis.asyncio.Redis.from_url(
                self.url, retry=AsyncRetry(NoBackoff(), 0), **self._kwargs
            )
            st = self._loops[loop] = _LoopState(redis.asyncio.Redis.from_pool(pool), pubsub)
        return st

    def aclient(self) -> redis.asyncio.Redis:
        """This event loop's async client (created on first use in the loop)."""
        return self._loop_state().client

    def apubsub(self) -> Any:
        """This event loop's ``PubSub`` on its pub/sub pool (``aclose`` it after use)."""
        return self._loop_state().pubsub.pubsub(ignore_subscribe_messages=True)

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
        """Disconnect the sync pool and the pinned connections. Each event loop's async
        clients are closed by :meth:`aclose` in that loop, else as the loop shuts down
        (``asyncio.run``: ``modelbus.plugin.close_with_loop``)."""
        for conn in list(self._pinned):
            conn.disconnect()
        self.sync.close()
        if self._sync_pubsub is not None:
            self._sync_pubsub.close()

    async def aclose(self) -> None:
        """:meth:`close`, plus closing this event loop's async client."""
        self.close()
        loop = asyncio.get_running_loop()
        st = self._loops.pop(loop, None)
        if st is not None:
            await st.aclose()
