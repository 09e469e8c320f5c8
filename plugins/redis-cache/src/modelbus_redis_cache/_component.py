"""What the plugin's Redis-backed components (the cache, the rate limiter, the budget
store, the pool state store) share: their settings, one :class:`RedisLink` (connections,
circuit breaker, outage logging) made from them, the prefix of their keys, and a
``repr`` that shows the URL with its password masked."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from ._link import OUTAGE_ERRORS, RedisLink
from ._settings import RedisSettings, key_prefix

__all__ = ["FAILED", "RedisComponent"]

# Outages and failed commands (WRONGTYPE, OOM, a script error) alike: what the budget
# store, the rate limiter and the pool state treat as "Redis did not answer".
FAILED: tuple[type[BaseException], ...] = (*OUTAGE_ERRORS, redis.RedisError)


class RedisComponent:
    """Base of the components: :meth:`_connect` sets ``settings``, ``_link``,
    ``breaker`` (the link's) and ``prefix`` (``modelbus:{NAMESPACE}:`` then ``keys``)."""

    settings: RedisSettings
    _link: RedisLink

    def _connect(
        self,
        settings: RedisSettings,
        *,
        component: str,
        keys: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``component`` names it in log events (``"cache"``, ``"rate_limiter"``...);
        ``clock`` drives the circuit breaker (monotonic seconds)."""
        self.settings = settings
        self._link = RedisLink.of(settings, component=component, clock=clock)
        self.breaker = self._link.breaker
        self.prefix = key_prefix(settings.namespace) + keys

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self._link.redacted_url!r}, "
            f"namespace={self.settings.namespace!r})"
        )
