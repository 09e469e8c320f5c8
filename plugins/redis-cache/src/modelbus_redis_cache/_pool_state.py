"""The ``redis`` pool state store: deployment pools shared by every process of a namespace.

Per pool: one key per deployment cooling down (``SET ... PX``: Redis expires it, so a
cooldown needs no clock of the processes); one lease per process holding its calls in
flight (``_pool_leases``: a hash that expires ``lease_s`` after the process's last write,
kept alive while it has calls in flight, listed in a set of holders), summed over the
leases alive when read; one hash per minute of Redis's ``TIME`` holding each
deployment's requests and tokens (expiring after two minutes); and a hash of each
deployment's latency average (expiring after an hour without an answer, so a deployment
idle that long is measured afresh). Each operation is one Lua script (``READ``...),
atomic on the server: ``cool`` never shortens a longer cooldown another process started,
and a latency sample updates the shared average in place, so every process's
``latency`` strategy reads the same numbers.

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
from ._pool_leases import Entry, Leases
from ._settings import RedisPoolStateSettings

__all__ = ["RedisPoolState"]

# The weight of a new latency sample, as the core's memory store (modelbus._pools.state).
_LATENCY_ALPHA = 0.3
# A deployment's latency average is forgotten after this long without an answer.
_LATENCY_TTL_S = 3600

_MINUTE = "local t = redis.call('TIME') local use = ARGV[1] .. math.floor(tonumber(t[1]) / 60) "

# KEYS[1]: the pool's set of holders, KEYS[2]: this holder's lease; ARGV[2]: the holder,
# ARGV[3]: the lease in ms; (deployment, count, version) triples from ARGV[first] to
# ARGV[last + 2].
_LEASE = """
local function lease(first, last)
  for i = first, last, 3 do
    local vf = ARGV[i] .. '\\31v'
    if tonumber(ARGV[i + 2]) >= tonumber(redis.call('HGET', KEYS[2], vf) or '0') then
      if tonumber(ARGV[i + 1]) > 0 then
        redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
      else
        redis.call('HDEL', KEYS[2], ARGV[i])
      end
      redis.call('HSET', KEYS[2], vf, ARGV[i + 2])
    end
  end
  local ms = tonumber(ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ms)
  redis.call('SADD', KEYS[1], ARGV[2])
  if redis.call('PTTL', KEYS[1]) < ms then redis.call('PEXPIRE', KEYS[1], ms) end
end
"""

# KEYS: holders, latencies, then a cooldown key per deployment; ARGV: the minute's hash
# prefix, the leases' key prefix, then the deployments.
READ = (
    _MINUTE
    + """
local n = #ARGV - 2
local deps, busy = {}, {}
for i = 1, n do deps[i] = ARGV[i + 2] busy[i] = 0 end
for _, holder in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[2] .. holder
  if redis.call('EXISTS', key) == 1 then
    local counts = redis.call('HMGET', key, unpack(deps))
    for i = 1, n do busy[i] = busy[i] + tonumber(counts[i] or '0') end
  else
    redis.call('SREM', KEYS[1], holder)  -- its lease expired: the holder is gone
  end
end
local lat = redis.call('HMGET', KEYS[2], unpack(deps))
local out = {}
for i = 1, n do
  local ttl = redis.call('PTTL', KEYS[i + 2])
  if ttl < 0 then ttl = 0 end
  local r = tonumber(redis.call('HGET', use, deps[i] .. '\\31r') or '0')
  local tk = tonumber(redis.call('HGET', use, deps[i] .. '\\31t') or '0')
  out[i] = {ttl, busy[i], r, tk, lat[i] or ''}
end
return out
"""
)

COOL = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1
"""

# KEYS: holders, lease; ARGV: minute prefix, holder, lease ms, deployment, count, version.
BEGIN = (
    _MINUTE
    + _LEASE
    + """
lease(4, 4)
redis.call('HINCRBY', use, ARGV[4] .. '\\31r', 1)
redis.call('EXPIRE', use, 120)
return 1
"""
)

# KEYS: holders, lease, latencies; ARGV: as BEGIN, then tokens and the latency in seconds
# ('' when the call failed before answering).
END = (
    _MINUTE
    + _LEASE
    + f"""
lease(4, 4)
local tokens = tonumber(ARGV[7])
if tokens > 0 then
  redis.call('HINCRBY', use, ARGV[4] .. '\\31t', tokens)
  redis.call('EXPIRE', use, 120)
end
if ARGV[8] ~= '' then
  local x = tonumber(ARGV[8])
  local old = redis.call('HGET', KEYS[3], ARGV[4])
  if old then x = tonumber(old) + {_LATENCY_ALPHA} * (x - tonumber(old)) end
  redis.call('HSET', KEYS[3], ARGV[4], string.format('%.17g', x))
  redis.call('EXPIRE', KEYS[3], {_LATENCY_TTL_S})
end
return 1
"""
)

# KEYS: holders, lease; ARGV: '', holder, lease ms, then (deployment, count, version)...
REFRESH = _LEASE + "\nlease(4, #ARGV - 2)\nreturn 1\n"


class RedisPoolState(RedisComponent):
    """A :class:`modelbus.protocols.PoolState` in Redis (see the module doc); ``now`` is
    not used (Redis's own clock is). Raises redis-py's errors when Redis cannot answer;
    an outage is logged once (``redis_unavailable``, ``fallback="refuse"``). Calls in
    flight are held under this object's lease (``settings.lease_s``), refreshed by a
    daemon thread while it has any."""

    settings: RedisPoolStateSettings

    def __init__(
        self,
        settings: RedisPoolStateSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        s = settings or RedisPoolStateSettings()
        self._connect(s, component="pool_state", keys="p:", clock=clock)
        self._ms = max(1, int(s.lease_s * 1000))
        self.leases = Leases(s.lease_s, self._refresh, self._refresh_failed)

    def _holders(self, pool: str) -> str:
        return f"{self.prefix}{pool}\x1fholders"

    def _leases(self, pool: str) -> str:
        return f"{self.prefix}{pool}\x1fbusy\x1f"

    def _lease_keys(self, pool: str) -> list[str]:
        return [self._holders(pool), self._leases(pool) + self.leases.holder]

    def _latency(self, pool: str) -> str:
        return f"{self.prefix}{pool}\x1flat"

    def _use(self, pool: str) -> str:
        return f"{self.prefix}{pool}\x1fuse\x1f"

    def _cool(self, pool: str, deployment: str) -> str:
        return f"{self.prefix}{pool}\x1fcool\x1f{deployment}"

    def _read_args(self, pool: str, deployments: Sequence[str]) -> tuple[list[str], list[str]]:
        keys = [
            self._holders(pool),
            self._latency(pool),
            *(self._cool(pool, d) for d in deployments),
        ]
        return keys, [self._use(pool), self._leases(pool), *deployments]

    def _lease_args(self, pool: str, entry: Entry) -> list[Any]:
        return [self._use(pool), self.leases.holder, self._ms, *entry]

    def _end_args(
        self, pool: str, deployment: str, tokens: int, latency_s: float | None
    ) -> tuple[list[str], list[Any]]:
        entry = self.leases.change(pool, deployment, -1)
        lat = "" if latency_s is None else repr(max(0.0, float(latency_s)))
        keys = [*self._lease_keys(pool), self._latency(pool)]
        return keys, [*self._lease_args(pool, entry), max(0, tokens), lat]

    @staticmethod
    def _states(reply: Any) -> list[DeploymentState]:
        out = []
        for ttl, busy, r, t, lat in reply:
            latency = float(lat) if lat not in (b"", "", None) else None
            out.append(
                DeploymentState(int(ttl) / 1000.0, max(0, int(busy)), int(r), int(t), latency)
            )
        return out

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

    def _refresh(self, pool: str, entries: list[Entry]) -> None:
        args: list[Any] = ["", self.leases.holder, self._ms]
        for entry in entries:
            args.extend(entry)
        self._run(REFRESH, self._lease_keys(pool), args)

    def _refresh_failed(self, exc: BaseException) -> None:
        if not isinstance(exc, FAILED):  # _run logged Redis's own errors
            self._link.warn("redis_pool_state_error", exc)

    def read(self, pool: str, deployments: Sequence[str], now: float) -> list[DeploymentState]:
        keys, args = self._read_args(pool, deployments)
        return self._states(self._run(READ, keys, args))

    def cool(self, pool: str, deployment: str, seconds: float, now: float) -> None:
        ms = max(1, int(seconds * 1000 + 0.5))
        self._run(COOL, [self._cool(pool, deployment)], [ms])

    def begin(self, pool: str, deployment: str, now: float) -> None:
        entry = self.leases.change(pool, deployment, 1)
        try:
            self._run(BEGIN, self._lease_keys(pool), self._lease_args(pool, entry))
        except BaseException:
            self.leases.change(pool, deployment, -1)  # not sent: not in flight
            raise

    def end(
        self,
        pool: str,
        deployment: str,
        tokens: int,
        now: float,
        latency_s: float | None = None,
    ) -> None:
        self._run(END, *self._end_args(pool, deployment, tokens, latency_s))

    async def aread(
        self, pool: str, deployments: Sequence[str], now: float
    ) -> list[DeploymentState]:
        keys, args = self._read_args(pool, deployments)
        return self._states(await self._arun(READ, keys, args))

    async def acool(self, pool: str, deployment: str, seconds: float, now: float) -> None:
        ms = max(1, int(seconds * 1000 + 0.5))
        await self._arun(COOL, [self._cool(pool, deployment)], [ms])

    async def abegin(self, pool: str, deployment: str, now: float) -> None:
        entry = self.leases.change(pool, deployment, 1)
        try:
            await self._arun(BEGIN, self._lease_keys(pool), self._lease_args(pool, entry))
        except BaseException:
            self.leases.change(pool, deployment, -1)
            raise

    async def aend(
        self,
        pool: str,
        deployment: str,
        tokens: int,
        now: float,
        latency_s: float | None = None,
    ) -> None:
        await self._arun(END, *self._end_args(pool, deployment, tokens, latency_s))

    def close(self) -> None:
        self.leases.close()
        self._link.close()

    async def aclose(self) -> None:
        self.leases.close()
        await self._link.aclose()
