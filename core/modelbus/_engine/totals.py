"""What a client has spent: :class:`UsageTotals`, kept by :class:`Totals`."""

from __future__ import annotations

import operator
import threading

import attrs

from .._wire.types import ChatResponse, Usage
from .plan import Outcome

__all__ = ["Totals", "UsageTotals", "with_latency"]


@attrs.frozen
class UsageTotals:
    """What a client has spent: ``requests`` answered by providers (cache hits excluded),
    summed ``usage`` in tokens, ``cost_usd`` in US dollars (calls of unknown price add
    nothing and are counted in ``unpriced_requests``), ``cache_hits``, and ``shared``:
    calls answered by an identical call already in flight (single-flight), which add
    nothing to ``requests``, ``usage`` or ``cost_usd``: one provider call is counted once,
    however many callers it answered."""

    requests: int = 0
    cache_hits: int = 0
    shared: int = 0
    usage: Usage = attrs.field(factory=Usage)
    cost_usd: float = 0.0
    unpriced_requests: int = 0


class Totals:
    """The running totals of one client (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = UsageTotals()
        self._cache_hits = 0  # kept apart: a hit must not rebuild UsageTotals (hot path)
        self._shared = 0

    def add(self, resp: ChatResponse) -> None:
        """Count one provider call: its usage and cost."""
        with self._lock:
            t = self._totals
            self._totals = attrs.evolve(
                t,
                requests=t.requests + 1,
                usage=t.usage + resp.usage,
                cost_usd=t.cost_usd + (resp.cost_usd or 0.0),
                unpriced_requests=t.unpriced_requests + (resp.cost_usd is None),
            )

    def answered(self, resp: ChatResponse, outcome: Outcome, counted: bool) -> None:
        """Count one answer handed to a caller: a cache hit, a share of another caller's
        call (the leader counted the provider call), or a provider call (unless
        ``counted`` already)."""
        if outcome == "hit" or resp.cached:
            with self._lock:
                self._cache_hits += 1
        elif outcome == "shared":
            with self._lock:
                self._shared += 1
        elif not counted:
            self.add(resp)

    def snapshot(self) -> UsageTotals:
        """The totals now."""
        with self._lock:
            return attrs.evolve(self._totals, cache_hits=self._cache_hits, shared=self._shared)


_RESPONSE_FIELDS = tuple(a.name for a in attrs.fields(ChatResponse))
_response_values = operator.attrgetter(*_RESPONSE_FIELDS)
_LATENCY = _RESPONSE_FIELDS.index("latency_s")
_EXTRA = _RESPONSE_FIELDS.index("extra")


def with_latency(resp: ChatResponse, latency_s: float) -> ChatResponse:
    """``attrs.evolve(resp, latency_s=...)`` at a third of the cost, for ChatResponse
    itself (whose fields take no validators or converters); subclasses use evolve."""
    if type(resp) is not ChatResponse:
        return attrs.evolve(resp, latency_s=latency_s)
    values = list(_response_values(resp))
    values[_LATENCY] = latency_s
    # Each caller its own extra (decoded hits are shared; their extras hold only
    # immutable values, so a shallow copy is enough).
    values[_EXTRA] = dict(values[_EXTRA]) if values[_EXTRA] else {}
    return ChatResponse(*values)
