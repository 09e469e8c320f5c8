"""The ``redis`` pool state store: deployment pools shared by every process of a namespace.

Per pool: one key per deployment cooling down (``SET ... PX``: Redis expires it, so a
cooldown needs no clock of the processes), a hash of calls in flight, and one hash per
minute of Redis's ``TIME`` holding each deployment's requests and tokens (expiring after
two minutes). Each operation is one Lua script (``_SCRIPTS``), atomic on the server:
``cool`` never shortens a longer cooldown another process started.

Nothing local ever stands in: a pool that cannot read the shared state fails its call
visibly (``PoolState``), since routing on a private view would send traffic to
deployments the other processes are keeping away from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from modelbus.plugin import DeploymentState

from ._component import FAILED, RedisComponent
from ._link import OUTAGE_ERRORS
from ._settings import RedisPoolStateSettings

__all__ = ["RedisPoolState"]

# In-flight counts of a process that died are dropped once the pool is idle this long.
_BUSY_TTL_S = 600

_MINUTE = "local t = redis.call('TIME') local use = ARGV[1] .. math.floor(tonumber(t[1]) / 60) "

READ = (
    _MINUTE
    + """
local out = {}
for i = 2, #ARGV do
  local dep = ARGV[i]
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then ttl = 0 end
  local busy = tonumber(redis.call('HGET', KEYS[1], dep) or '0')
  local r = tonumber(redis.call('HGET', use, dep .. '\\31r') or '0')
  local tk = tonumber(redis.call('HGET', use, dep .. '\\31t') or '0')
  out[#out + 1] = {ttl, busy, r, tk}
end
return out
"""
)

COOL = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1
"""

BEGIN = (
    _MINUTE
    + f"""
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('EXPIRE', KEYS[1], {_BUSY_TTL_S})
redis.call('HINCRBY', use, ARGV[2] .. '\\31r', 1)
redis.call('EXPIRE', use, 120)
return 1
"""
)

END = (
    _MINUTE
    + """
if redis.call('HINCRBY', KEYS[1], ARGV[2], -1) < 0 then redis.call('HSET', KEYS[1], ARGV[2], 0) end
local tokens = tonumber(ARGV[3])
if tokens > 0 then
  redis.call('HINCRBY', use, ARGV[2] .. '\\31t', tokens)
  redis.call('EXPIRE', use, 120)
end
return 1
"""
)


class RedisPoolState(RedisComponent):
    """A :class:`modelbus.protocols.PoolState` in Redis (see the module doc); ``now`` is
    not used (Redis's own clock is). Raises redis-py's errors when Redis cannot answer;
    an outage is logged once (``redis_unavailable``, ``fallback="refuse"``)."""

    settings: RedisPoolStateSettings

    def __init__(
        self,
        settings: RedisPoolStateSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect(
            settings or RedisPoolStateSettings(), component="pool_state", keys="p:", clock=clock
        )

    def _busy(self, pool: str) -> str:
        return f"{self.prefix}{pool}\x1fbusy"

    def _use(self, pool: str) -> str:
        return f"{self.prefix}{pool}\x1fuse\x1f"

    def _cool(self, pool: str, deployment: str) -> str:
        return f"{self.prefix}{pool}\x1fcool\x1f{deployment}"

    def _read_args(self, pool: str, deployments: Sequence[str]) -> tuple[list[str], list[str]]:
        keys = [self._busy(pool), *(self._cool(pool, d) for d in deployments)]
        return keys, [self._use(pool), *deployments]

    @staticmethod
    def _states(reply: Any) -> list[DeploymentState]:
        return [
            DeploymentState(int(ttl) / 1000.0, max(0, int(busy)), int(r), int(t))
            for ttl, busy, r, t in reply
        ]

    def _run(self, source: str, keys: list[str], args: list[Any]) -> Any:
        try:
            reply = self._link.script(source)(keys=keys, args=args)
        except FAILED as exc:
            self._failed(exc)
            raise
        self._link.recovered()
        return reply

    async def _arun(self, source: str, keys: list[str], args: list[Any]) -> Any:
        try:
            reply = await self._link.ascript(source)(keys=keys, args=args)
        except FAILED as exc:
            self._failed(exc)
            raise
        self._link.recovered()
        return reply

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, OUTAGE_ERRORS):
            self._link.outage(exc, "refuse")
        else:
            self._link.warn("redis_pool_state_error", exc)

    def read(self, pool: str, deployments: Sequence[str], now: float) -> list[DeploymentState]:
        keys, args = self._read_args(pool, deployments)
        return self._states(self._run(READ, keys, args))

    def cool(self, pool: str, deployment: str, seconds: float, now: float) -> None:
        ms = max(1, int(seconds * 1000 + 0.5))
        self._run(COOL, [self._cool(pool, deployment)], [ms])

    def begin(self, pool: str, deployment: str, now: float) -> None:
        self._run(BEGIN, [self._busy(pool)], [self._use(pool), deployment])

    def end(self, pool: str, deployment: str, tokens: int, now: float) -> None:
        self._run(END, [self._busy(pool)], [self._use(pool), deployment, max(0, tokens)])

    async def aread(
        self, pool: str, deployments: Sequence[str], now: float
    ) -> list[DeploymentState]:
        keys, args = self._read_args(pool, deployments)
        return self._states(await self._arun(READ, keys, args))

    async def acool(self, pool: str, deployment: str, seconds: float, now: float) -> None:
        ms = max(1, int(seconds * 1000 + 0.5))
        await self._arun(COOL, [self._cool(pool, deployment)], [ms])

    async def abegin(self, pool: str, deployment: str, now: float) -> None:
        await self._arun(BEGIN, [self._busy(pool)], [self._use(pool), deployment])

    async def aend(self, pool: str, deployment: str, tokens: int, now: float) -> None:
        await self._arun(END, [self._busy(pool)], [self._use(pool), deployment, max(0, tokens)])

    def close(self) -> None:
        self._link.close()

    async def aclose(self) -> None:
        await self._link.aclose()
