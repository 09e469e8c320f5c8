"""What the deployments of a pool look like right now, kept where every sharer sees it.

A pool state store (``[modelbus] pool_state``, a :class:`modelbus.protocols.PoolState`)
keeps, per pool and deployment, the seconds left of its cooldown, its calls in flight,
the requests and tokens it served this minute (for the ``usage`` strategy) and a moving
average of its latency (for the ``latency`` strategy). The built-in ``memory`` store is
each client's own; modelbus-redis-cache's ``redis`` one shares them between processes.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from .._engine import Engine
    from ..protocols import PoolState

__all__ = [
    "LATENCY_ALPHA",
    "DeploymentState",
    "MemoryPoolState",
    "close_state",
    "ewma",
    "pool_state",
    "with_latency",
]

# Weight of the newest latency sample in the moving average: about the last 3 answers
# (1 / 0.3) count, so a deployment that slows down is seen within a few calls.
LATENCY_ALPHA = 0.3


def ewma(old: float | None, sample: float) -> float:
    """The latency average after ``sample`` (seconds): ``sample`` itself for the first
    one, else ``old + LATENCY_ALPHA * (sample - old)``."""
    return sample if old is None else old + LATENCY_ALPHA * (sample - old)


@attrs.frozen
class DeploymentState:
    """One deployment as a pool state store reports it: ``cooldown_s`` (seconds left, 0:
    healthy), ``in_flight`` (calls sent and not answered), ``requests`` and ``tokens``
    (served in the current minute), ``latency_s`` (the moving average of its seconds to
    answer, :func:`ewma`; ``None``: not measured)."""

    cooldown_s: float = 0.0
    in_flight: int = 0
    requests: int = 0
    tokens: int = 0
    latency_s: float | None = None


@attrs.define
class _Slot:
    cool_until: float = 0.0
    in_flight: int = 0
    minute: int = -1
    requests: int = 0
    tokens: int = 0
    latency_s: float | None = None

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
                cooldown = max(0.0, s.cool_until - now)
                out.append(
                    DeploymentState(cooldown, s.in_flight, s.requests, s.tokens, s.latency_s)
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

    def end(
        self,
        pool: str,
        deployment: str,
        tokens: int,
        now: float,
        latency_s: float | None = None,
    ) -> None:
        with self._lock:
            s = self._slot(pool, deployment)
            s.roll(now)
            s.in_flight = max(0, s.in_flight - 1)
            s.tokens += max(0, tokens)
            if latency_s is not None:
                s.latency_s = ewma(s.latency_s, latency_s)

    async def aread(
        self, pool: str, deployments: Sequence[str], now: float
    ) -> list[DeploymentState]:
        return self.read(pool, deployments, now)

    async def acool(self, pool: str, deployment: str, seconds: float, now: float) -> None:
        self.cool(pool, deployment, seconds, now)

    async def abegin(self, pool: str, deployment: str, now: float) -> None:
        self.begin(pool, deployment, now)

    async def aend(
        self,
        pool: str,
        deployment: str,
        tokens: int,
        now: float,
        latency_s: float | None = None,
    ) -> None:
        self.end(pool, deployment, tokens, now, latency_s)


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


class _LocalLatency:
    """A store written before ``end`` took ``latency_s``, with the latency averages kept
    here, per process (as pools kept them then); everything else is the store's."""

    def __init__(self, store: PoolState) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._latency: dict[tuple[str, str], float] = {}

    def __getattr__(self, name: str) -> object:  # cool, begin, close...: the store's
        return getattr(self.store, name)

    def _with(
        self, pool: str, names: Sequence[str], states: list[DeploymentState]
    ) -> list[DeploymentState]:
        with self._lock:
            return [
                attrs.evolve(s, latency_s=self._latency.get((pool, d)))
                for d, s in zip(names, states, strict=True)
            ]

    def _note(self, pool: str, deployment: str, latency_s: float | None) -> None:
        if latency_s is not None:
            with self._lock:
                key = (pool, deployment)
                self._latency[key] = ewma(self._latency.get(key), latency_s)

    def read(self, pool: str, deployments: Sequence[str], now: float) -> list[DeploymentState]:
        return self._with(pool, deployments, self.store.read(pool, deployments, now))

    async def aread(
        self, pool: str, deployments: Sequence[str], now: float
    ) -> list[DeploymentState]:
        return self._with(pool, deployments, await self.store.aread(pool, deployments, now))

    def end(
        self, pool: str, deployment: str, tokens: int, now: float, latency_s: float | None = None
    ) -> None:
        self._note(pool, deployment, latency_s)
        self.store.end(pool, deployment, tokens, now)  # type: ignore[call-arg]

    async def aend(
        self, pool: str, deployment: str, tokens: int, now: float, latency_s: float | None = None
    ) -> None:
        self._note(pool, deployment, latency_s)
        await self.store.aend(pool, deployment, tokens, now)  # type: ignore[call-arg]


def with_latency(store: PoolState) -> PoolState:
    """``store`` itself when its ``end`` takes ``latency_s`` (it keeps the latency
    averages, shared as it shares the rest), else a wrapper keeping them in this process,
    so a store plugin written before latencies moved into the store keeps working."""
    try:
        params = inspect.signature(store.end).parameters
    except (TypeError, ValueError):  # no signature to read: assume the current protocol
        return store
    takes = "latency_s" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    return store if takes else _LocalLatency(store)  # type: ignore[return-value]
