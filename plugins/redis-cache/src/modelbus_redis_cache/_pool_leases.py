"""This process's calls in flight, and the lease that shows them to the other processes.

Each :class:`~modelbus_redis_cache.RedisPoolState` is one *holder*: it counts its own
calls in flight per pool and deployment here (the truth), and mirrors them in Redis in a
hash of its own (its lease) that expires ``lease_s`` seconds after its last write. While
the holder has a call in flight a daemon thread rewrites its lease every ``lease_s / 3``
seconds; a process that dies (SIGKILL, OOM, power) stops doing so, and Redis drops its
counts within ``lease_s``. Readers sum the leases that still exist.

Every write carries the count *and* a version (increasing in this process), and Redis
keeps a count only when its version is not older than the one it holds. So writes that
arrive out of order (two threads, or the refresh racing a call's end) never leave a
stale count, and the refresh repairs a lease that expired while this process stalled or
a count an ``end`` failed to write while Redis was away.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable

__all__ = ["Entry", "Leases"]

# (deployment, calls in flight, version)
Entry = tuple[str, int, int]


class Leases:
    """The local counts of one holder (module doc). ``refresh(pool, entries)`` writes a
    pool's entries to Redis (raises when it cannot); ``failed(exc)`` hears of a refresh
    that failed (the next one tries again). Thread-safe; the lock is never held across
    I/O."""

    def __init__(
        self,
        lease_s: float,
        refresh: Callable[[str, list[Entry]], None],
        failed: Callable[[BaseException], None],
    ) -> None:
        self.lease_s = lease_s
        self._refresh = refresh
        self._failed = failed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reset()

    def _reset(self) -> None:
        # A forked child is another holder: it owns none of its parent's calls.
        self._pid = os.getpid()
        self.holder = f"{uuid.uuid4().hex}.{self._pid}"
        self._counts: dict[str, dict[str, list[int]]] = {}
        self._version = 0
        self._beating = False

    def change(self, pool: str, deployment: str, delta: int) -> Entry:
        """Add ``delta`` (+1: a call sent, -1: answered or failed) to the count of
        ``deployment`` in ``pool``; returns the entry to write. Starts the refresh thread
        when a call is sent and none is running."""
        with self._lock:
            if os.getpid() != self._pid:
                self._reset()
            slot = self._counts.setdefault(pool, {}).setdefault(deployment, [0, 0])
            self._version += 1
            slot[0] = max(0, slot[0] + delta)
            slot[1] = self._version
            if delta > 0 and not self._beating and not self._stop.is_set():
                self._beating = True
                threading.Thread(target=self._beat, name="modelbus-pool-lease", daemon=True).start()
            return (deployment, slot[0], slot[1])

    def _snapshot(self) -> dict[str, list[Entry]] | None:
        """Every pool with a call in flight, all its entries (zeros too: they repair a
        count an ``end`` could not write); ``None`` (and the thread stops) when none."""
        with self._lock:
            out = {
                pool: [(d, c, v) for d, (c, v) in deps.items()]
                for pool, deps in self._counts.items()
                if any(c > 0 for c, _ in deps.values())
            }
            if not out or self._stop.is_set():
                self._beating = False
                return None
            return out

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            snap = self._snapshot()
            if snap is None:
                return
            for pool, entries in snap.items():
                try:
                    self._refresh(pool, entries)
                except Exception as exc:  # the next beat tries again
                    self._failed(exc)

    def in_flight(self) -> int:
        """This holder's calls in flight, over every pool."""
        with self._lock:
            return sum(c for deps in self._counts.values() for c, _ in deps.values())

    def close(self) -> None:
        """Stop refreshing: the lease expires ``lease_s`` after its last write."""
        self._stop.set()
