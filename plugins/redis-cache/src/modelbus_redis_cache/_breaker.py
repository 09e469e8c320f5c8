"""A circuit breaker: after a Redis outage, stop paying a timeout on every call.

States (after Nygard, *Release It!*, and the common closed / open / half-open scheme):

- ``closed``: Redis is used; a connection error or timeout opens the breaker.
- ``open``: Redis is not touched; callers use the in-memory fallback. Once
  ``probe_interval_s`` seconds have passed, the next caller becomes the *probe*.
- ``probing`` (half-open): exactly one caller talks to Redis while the others keep using
  the fallback; its success closes the breaker (after the owner's recovery work, see
  :meth:`CircuitBreaker.close`), its failure opens it for another interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CLOSED", "FALLBACK", "PROBE", "CircuitBreaker"]

# What enter() tells a caller to do.
CLOSED: Literal[1] = 1  # use Redis
PROBE: Literal[2] = 2  # use Redis, as the one probe of a half-open breaker
FALLBACK: Literal[0] = 0  # do not touch Redis


class CircuitBreaker:
    """Thread-safe; safe from asyncio tasks too (no method blocks or awaits).

    ``probe_interval_s`` is seconds between probes while open; ``clock`` returns seconds
    (monotonic), injectable so tests move time by hand."""

    def __init__(
        self, probe_interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if probe_interval_s <= 0:
            raise ValueError(f"probe_interval_s must be > 0, got {probe_interval_s!r}")
        self.probe_interval_s = probe_interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._state: Literal["closed", "open", "probing"] = "closed"
        self._next_probe = 0.0
        self.outages = 0  # how many times the breaker opened from closed

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"probing"``."""
        return self._state

    def enter(self) -> Literal[0, 1, 2]:
        """What the caller should do now: :data:`CLOSED` (use Redis), :data:`PROBE` (use
        Redis as the probe; report with :meth:`failure` or :meth:`close`) or
        :data:`FALLBACK` (do not touch Redis)."""
        if self._state == "closed":  # the hot path takes no lock
            return CLOSED
        with self._lock:
            state: str = self._state  # may have changed while we waited for the lock
            if state == "closed":
                return CLOSED
            if state == "open" and self.clock() >= self._next_probe:
                self._state = "probing"
                return PROBE
            return FALLBACK

    def failure(self) -> bool:
        """Record an outage error; returns True when this opened a closed breaker (a new
        outage: the caller logs it once)."""
        with self._lock:
            new = self._state == "closed"
            if new:
                self.outages += 1
            self._state = "open"
            self._next_probe = self.clock() + self.probe_interval_s
            return new

    def close(self) -> bool:
        """The probe succeeded (and the owner finished its recovery work): use Redis
        again. Returns True when this ended an outage."""
        with self._lock:
            was_open = self._state != "closed"
            self._state = "closed"
            return was_open
