"""The settings of the ``redis`` cache, rate limiter, budget store and pool state store
(one base, :class:`RedisSettings`, for the connection keys they share), URL checks and
redaction."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from attrs import field, frozen, validators

from modelbus import Secret

__all__ = [
    "DEFAULT_URL",
    "RedisBudgetStoreSettings",
    "RedisCacheSettings",
    "RedisPoolStateSettings",
    "RedisRateLimiterSettings",
    "RedisSettings",
    "key_prefix",
    "redact_url",
]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
_SCHEMES = ("redis", "rediss", "unix")
# Letters, digits, "." "_" "-": no ":" (a namespace "a" must not see keys of "a:v"), no
# glob characters (SCAN MATCH patterns are built from it), no "{}" (the hash tag).
_NAMESPACE = re.compile(r"[A-Za-z0-9._-]{1,100}")
_MASK = "****"


def _env_url() -> str:
    return os.environ.get("MODELBUS_REDIS_URL") or DEFAULT_URL


def redact_url(url: str) -> str:
    """``url`` with its password (userinfo or ``?password=``) replaced by ``****``, for logs
    and error messages. A string that is not a URL is returned masked whole when it could
    hold a password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, sep, _password = userinfo.partition(":")
        # Without ":" the userinfo is a user name to redis-py, but some clients read it as
        # the password: mask it whole rather than guess.
        netloc = f"{user}:{_MASK}@{host}" if sep else f"{_MASK}@{host}"
    query = parts.query
    if query:
        pairs = [
            (k, _MASK if k.lower() == "password" else v)
            for k, v in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="*")
    # Not urlunsplit: it drops the "//" of "unix:///path" (an empty host).
    text = f"{parts.scheme}://{netloc}{parts.path}"
    return text + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def _check_url(_inst: Any, _attr: Any, url: str) -> None:
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme not in _SCHEMES:
        raise ValueError(
            f"url {redact_url(url)!r} is not a Redis URL: expected redis://, rediss:// (TLS) "
            "or unix://, e.g. redis://:PASSWORD@127.0.0.1:6379/0"
        )


def _check_namespace(_inst: Any, _attr: Any, ns: str) -> None:
    if not _NAMESPACE.fullmatch(ns):
        raise ValueError(
            f"namespace {ns!r} must be 1-100 letters, digits, '.', '_' or '-' "
            "(it is part of every Redis key and of the SCAN pattern of clear())"
        )


def key_prefix(namespace: str) -> str:
    """The prefix of every key of ``namespace``: ``modelbus:{NS}:``. The braces are a
    Redis Cluster hash tag, so one namespace's keys share a slot (the Lua scripts touch
    several of them)."""
    return f"modelbus:{{{namespace}}}:"


_POSITIVE = validators.gt(0.0)
_POSITIVE_INT = validators.gt(0)


@frozen(kw_only=True)
class RedisSettings:
    """The keys every settings class of this plugin has: where Redis is and how a
    component talks to it (``url``, ``password``, ``namespace``, ``socket_timeout_s``,
    ``max_connections``, ``pool_timeout_s``, ``probe_interval_s``; described in
    :class:`RedisCacheSettings`). Each component's class adds its own keys and says what
    an outage means for it."""

    url: str = field(factory=_env_url, validator=_check_url, repr=redact_url)
    password: Secret | None = None
    namespace: str = field(default="modelbus", validator=_check_namespace)
    socket_timeout_s: float = field(default=1.0, validator=_POSITIVE)
    max_connections: int = field(default=64, validator=_POSITIVE_INT)
    pool_timeout_s: float = field(default=5.0, validator=_POSITIVE)
    probe_interval_s: float = field(default=5.0, validator=_POSITIVE)

    @property
    def redacted_url(self) -> str:
        """``url`` with its password masked."""
        return redact_url(self.url)


@frozen(kw_only=True)
class RedisCacheSettings(RedisSettings):
    """``[caches.redis]`` in ``modelbus.toml``.

    - ``url``: ``redis://[[user]:password@]host:port/db``, ``rediss://`` for TLS (redis-py
      query options such as ``ssl_cert_reqs=required`` work), or ``unix:///path?db=0``;
      default ``$MODELBUS_REDIS_URL``, else ``redis://127.0.0.1:6379/0``. Logged only
      with the password masked. ``password`` (a secret: ``{ env = "NAME" }``) replaces
      the URL's password when set.
    - ``namespace``: scopes every key (``modelbus:{namespace}:...``); ``clear()`` and
      ``stats()`` see only their namespace. Default ``"modelbus"``.
    - ``ttl_s``: default time to live of a value in seconds (``None``: no expiry).
    - ``socket_timeout_s``: seconds to wait for Redis to connect or answer before the
      call is treated as an outage (default 1.0).
    - ``max_connections``: size of each connection pool (the sync one, and one per event
      loop for the async methods; default 64). ``pool_timeout_s``: when all of them are
      in use, how many seconds a call waits for one to come free (default 5.0) — a busy
      pool is this process's own concurrency, not an outage: it never switches to the
      fallback. A call still without a connection after the wait is a miss (``get``) or
      does nothing (``set``...), logged as ``redis_cache_error`` and counted in
      ``errors``. Single-flight waiters use connections of their own, outside the pool.
    - ``probe_interval_s``: while Redis is unreachable, seconds between re-probes (the
      circuit breaker); calls in between use the in-memory fallback without touching
      the network. ``fallback_max_entries``: size of that in-memory LRU.
    - ``lock_ttl_s``: lifetime of a cross-process single-flight lock in seconds (the
      longest a crashed holder can block others); ``lock_wait_s``: how long other
      processes wait for the holder's response before calling the provider themselves.
    - ``stats_flush_s``: hit/miss counters are kept in the process and added to the
      shared Redis hash at most this many seconds apart (and at ``stats()``/``close()``),
      so a cache hit costs one Redis round trip, not two.
    """

    ttl_s: float | None = field(default=None, validator=validators.optional(_POSITIVE))
    fallback_max_entries: int = field(default=10_000, validator=_POSITIVE_INT)
    lock_ttl_s: float = field(default=120.0, validator=_POSITIVE)
    lock_wait_s: float = field(default=60.0, validator=validators.ge(0.0))
    stats_flush_s: float = field(default=1.0, validator=validators.ge(0.0))


@frozen(kw_only=True)
class RedisRateLimiterSettings(RedisSettings):
    """``[rate_limiters.redis]`` in ``modelbus.toml``.

    - ``url`` / ``password`` / ``namespace`` / ``socket_timeout_s`` / ``probe_interval_s``:
      as in :class:`RedisCacheSettings` (budgets of one namespace are shared by every
      process using it). The limits themselves are the core's
      ``[rate_limits."provider"]``.
    - ``max_connections``: size of each connection pool (sync, and one per event loop;
      default 64). ``pool_timeout_s``: seconds a call waits for a free connection when
      all are in use (default 5.0); a call that still has none waits again — the
      limiter never lets a request through because its pool is busy.
    - While Redis is unreachable (connection refused or reset, a timeout, a failed
      AUTH), each process enforces the same ``rpm``/``tpm`` on its own with an
      in-process token bucket (the core ``local`` limiter's) that starts *empty*, so an
      outage never opens a burst: N processes send at most N times the limit together
      until Redis answers again.
    """


@frozen(kw_only=True)
class RedisBudgetStoreSettings(RedisSettings):
    """``[budget_stores.redis]`` in ``modelbus.toml`` (used with ``[modelbus] budget_store
    = "redis"``): cost budgets of ``namespace`` and ``model`` scope shared by every
    process and machine using this Redis and ``namespace``. Reserving and settling are
    one Lua script each, atomic on the server.

    - ``url`` / ``password`` / ``namespace`` / ``socket_timeout_s`` / ``probe_interval_s``:
      as in :class:`RedisCacheSettings`. The budgets themselves are the core's
      ``[budgets.NAME]``; a client's own ``namespace`` separates them further.
    - ``max_connections``: size of each connection pool (default 64);
      ``pool_timeout_s``: seconds a call waits for a free connection when all are in
      use (default 5.0), then waits again: a busy pool never refuses a call.
    - While Redis is unreachable (connection refused or reset, a timeout, a failed
      AUTH) or a script fails, calls under a shared budget are **refused** with
      BudgetExceededError (the budget cannot be checked, so it is treated as spent);
      the circuit breaker re-probes every ``probe_interval_s``. A settlement that could
      not reach Redis is kept in the process and sent once Redis answers (logged as
      ``redis_budget_settle_deferred``); until then, or for good if the process ends
      first, the reservation stays counted at its worst case. Spending never goes
      unchecked. Budgets live in Redis's memory: use its persistence (AOF or RDB) for
      ``total`` and ``month`` budgets that must survive a Redis restart.
    """


@frozen(kw_only=True)
class RedisPoolStateSettings(RedisSettings):
    """``[pool_states.redis]`` in ``modelbus.toml`` (used with ``[modelbus] pool_state =
    "redis"``): deployment pools' cooldowns, calls in flight and usage this minute,
    shared by every process and machine using this Redis and ``namespace``. Starting a
    cooldown never shortens a longer one and is one Lua script, atomic on the server;
    cooldowns and minute windows run on Redis's clock.

    - ``url`` / ``password`` / ``namespace`` / ``socket_timeout_s`` / ``probe_interval_s``
      / ``max_connections`` / ``pool_timeout_s``: as in :class:`RedisBudgetStoreSettings`.
    - While Redis is unreachable a pool cannot read its state, and its calls fail with
      a PluginError naming the store (nothing is sent); a failure to record an answer
      is logged (``pool_state_failed``).
    - ``lease_s``: seconds the calls in flight of a process that died (killed, out of
      memory, its machine down) stay counted (default 30). Each process holds its
      calls in flight under a lease it rewrites every ``lease_s / 3`` seconds while it
      has any; a lease not rewritten expires on Redis's clock, and readers sum the
      leases alive. Shorter: a dead process's calls are forgotten sooner, for more
      writes (one per pool and third of ``lease_s``, per process with calls in
      flight); a process stalled longer than ``lease_s`` (a long GC pause, a frozen VM)
      is undercounted until its next write.
    """

    lease_s: float = field(default=30.0, validator=_POSITIVE)
