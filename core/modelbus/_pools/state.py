"""What the deployments of a pool look like right now, kept where every sharer sees it.

A pool state store (``[modelbus] pool_state``, a :class:`modelbus.protocols.PoolState`)
keeps, per pool and deployment, the seconds left of its cooldown, its calls in flight,
and the requests and tokens it served this minute (for the ``usage`` strategy). The
built-in ``memory`` store is each client's own; modelbus-redis-cache's ``redis`` one
shares them between processes.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from .._engine import Engine
    from ..protocols import PoolState

__all__ = ["DeploymentState", "MemoryPoolState", "close_state", "pool_state"]


@attrs.frozen
class DeploymentState:
    """One deployment as a pool state store reports it: ``cooldown_s`` (seconds left, 0:
    healthy), ``in_flight`` (calls sent and not answered), ``requests`` and ``tokens``
    (served in the current minute)."""

    cooldown_s: float = 0.0
    in_flight: int = 0
    requests: int = 0
    tokens: int = 0


@attrs.define
class _Slot:
    cool_until: float = 0.0
    in_flight: int = 0
    minute: int = -1
    requests: int = 0
    tokens: int = 0

    def roll(self, now: float) -> None:
        minute = int(now // 60)
        if minute != self.minute:
            self.minute, self.requests, self.tokens = minute, 0, 0


class MemoryPoolState:
    """A :class:`modelbus.protocols.PoolState` in this object (each client builds its
    own): ``now`` is the client's ``clock.monotonic()`` in seconds, so a fake clock
    drives cooldowns and minute windows. Thread-safe; the async methods run inline
    (a lock held for microseconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, str], _Slot] = {}

    def _slot(self, pool: str, deployment: str) -> _Slot:
        key = (pool, deployment)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        return slot

    def read(self, pool: str, deployments: Sequence[str], now: float) -> list[DeploymentState]:
        out = []
        with self._lock:
            for d in deployments:
                s = self._slot(pool, d)
                s.roll(now)
                out.append(
                    DeploymentState(max(0.0, s.cool_until - now), s.in_flight, s.requests, s.tokens)
                )
        return out

    def cool(self, pool: str, deployment: str, seconds: float, now: float) -> None:
        with self._lock:
            s = self._slot(pool, deployment)
            s.cool_until = max(s.cool_until, now + seconds)  # never shortens a longer one

    def begin(self, pool: str, deployment: str, now: float) -> None:
        with self._lock:
            s = self._slot(pool, deployment)
            s.roll(now)
            s.in_flight += 1
            s.requests += 1

    def end(self, pool: str, deployment: str, tokens: int, now: float) -> None:
        with self._lock:
            s = self._slot(pool, deployment)
            s.roll(now)
            s.in_flight = max(0, s.in_flight - 1)
            s.tokens += max(0, tokens)

    async def aread(
        self, pool: str, deployments: Sequence[str], now: float
    ) -> list[DeploymentState]:
        return self.read(pool, deployments, now)

    async def acool(self, pool: str, deployment: str, seconds: float, now: float) -> None:
        self.cool(pool, deployment, seconds, now)

    async def abegin(self, pool: str, deployment: str, now: float) -> None:
        self.begin(pool, deployment, now)

    async def aend(self, pool: str, deployment: str, tokens: int, now: float) -> None:
        self.end(pool, deployment, tokens, now)


_stores: weakref.WeakKeyDictionary[Engine, PoolState] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def pool_state(c: Engine) -> PoolState:
    """The client's pool state store (``[modelbus] pool_state``), built once per client."""
    store = _stores.get(c)
    if store is None:
        with _stores_lock:
            store = _stores.get(c)
            if store is None:
                store = _stores[c] = c.build("pool_states", c.config.modelbus.pool_state)
    return store


def close_state(c: Engine) -> None:
    """Close ``c``'s pool state store once, whichever of its pools is closed first."""
    with _stores_lock:
        store = _stores.pop(c, None)
    close = getattr(store, "close", None)
    if close is not None:
        close()
