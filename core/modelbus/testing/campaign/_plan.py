"""The seeded fault schedule: which attempt of which request draws which fault.

A draw depends only on the seed, the request id and the attempt number (0-based), never
on arrival order, so the campaign computes from the plan alone which requests must fail
and how many times each is sent, and compares that with what the server saw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Literal

from attrs import field, frozen

__all__ = ["FAULT_KINDS", "FaultKind", "FaultPlan"]

FaultKind = Literal["500", "429", "reset", "stall"]
FAULT_KINDS: tuple[FaultKind, ...] = ("500", "429", "reset", "stall")


def _unit(seed: int, rid: str, attempt: int, salt: str) -> float:
    # blake2b, not hash(): the server and the campaign are different processes and
    # str hashing is salted per process (PYTHONHASHSEED).
    digest = hashlib.blake2b(f"{seed}\0{rid}\0{attempt}\0{salt}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64


def _weights(value: Mapping[str, float]) -> dict[str, float]:
    out = {str(k): float(v) for k, v in value.items()}
    unknown = set(out) - set(FAULT_KINDS)
    if unknown or not out or any(v < 0 for v in out.values()) or sum(out.values()) <= 0:
        raise ValueError(
            f"FaultPlan weights must map some of {FAULT_KINDS} to weights >= 0 "
            f"(not all 0), got {dict(value)!r}"
        )
    return out


@frozen
class FaultPlan:
    """``rate``: the probability (0..1) that an attempt draws a fault; ``weights``: the
    relative frequency of each fault kind among faults (``"500"``: a server error;
    ``"429"``: a rate limit with ``retry-after-ms``/``Retry-After``; ``"reset"``: a TCP RST
    before any byte; ``"stall"``: no byte until the client's attempt timeout)."""

    seed: int = 0
    rate: float = 0.0
    weights: dict[str, float] = field(
        factory=lambda: {"500": 0.3, "429": 0.3, "reset": 0.3, "stall": 0.1},
        converter=_weights,
    )

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"FaultPlan.rate is a probability in 0..1, got {self.rate}")

    def draw(self, rid: str, attempt: int) -> FaultKind | None:
        """The fault of attempt ``attempt`` (0-based) of request ``rid``, or None."""
        if _unit(self.seed, rid, attempt, "hit") >= self.rate:
            return None
        pick = _unit(self.seed, rid, attempt, "kind") * sum(self.weights.values())
        for kind in FAULT_KINDS:
            pick -= self.weights.get(kind, 0.0)
            if pick < 0:
                return kind
        return next(k for k in reversed(FAULT_KINDS) if self.weights.get(k, 0.0) > 0)

    def sends(self, rid: str, max_attempts: int) -> tuple[int, bool]:
        """(attempts the server sees, whether every one of them faults) for a client
        that retries every fault up to ``max_attempts`` attempts in all."""
        for attempt in range(max_attempts):
            if self.draw(rid, attempt) is None:
                return attempt + 1, False
        return max_attempts, True

    def to_json(self) -> dict[str, object]:
        return {"seed": self.seed, "rate": self.rate, "weights": dict(self.weights)}
