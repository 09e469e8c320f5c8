"""The harness's building blocks: rows, measures, checks, interleaved sampling, statistics.

A row compares contenders on one operation. Every contender's samples are in one unit for
the row (seconds, or bytes for memory), taken interleaved with the other contenders' so that
a drift of the machine (other work, CPU frequency, a cache warming) hits all of them alike.
The ``ratio`` of a contender is its median over the median of the row's baseline.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

__all__ = [
    "MESSAGES",
    "PARAMS",
    "Check",
    "Measure",
    "Row",
    "RowSpec",
    "Unit",
    "batched",
    "interleave",
    "measures",
    "row",
    "single",
    "stats",
]

# What an application sends; every contender of a row sends the same.
MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "You are a concise assistant. Answer in one sentence."},
    {"role": "user", "content": "What is the capital of France, and why is it famous?"},
]
PARAMS: dict[str, Any] = {"temperature": 0.2, "max_tokens": 100}
MODEL = "gpt-4o-mini"

Unit = Literal["s", "bytes"]
Role = Literal["subject", "baseline", "floor", "reference"]


def stats(samples: list[float]) -> dict[str, float]:
    """``median``, ``p95`` (nearest rank), ``min``, ``max`` and ``n`` of ``samples``."""
    s = sorted(samples)
    p95 = s[max(0, math.ceil(0.95 * len(s)) - 1)]
    return {"median": statistics.median(s), "p95": p95, "min": s[0], "max": s[-1], "n": len(s)}


@attrs.define
class Measure:
    """One contender of a row: ``samples`` in the row's unit, or ``absent`` saying why it
    was not measured (LiteLLM not installed, skipped in ``--quick``...)."""

    name: str
    role: Role
    samples: list[float] = attrs.field(factory=list)
    absent: str | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def measures(
    samples: Mapping[str, list[float]],
    roles: Mapping[str, Role],
    absent: Mapping[str, str] | None = None,
) -> list[Measure]:
    """One :class:`Measure` per name of ``roles``, in that order: its ``samples``, or
    absent for the reason in ``absent`` (a name that has neither raises ``KeyError``)."""
    absent = absent or {}
    return [
        Measure(name, role, samples[name])
        if name in samples
        else Measure(name, role, absent=absent[name])
        for name, role in roles.items()
    ]


@attrs.define
class Check:
    """A target of the row: what it asks, what was measured, whether it is met (``None``
    when it could not be judged)."""

    target: str
    measured: str
    ok: bool | None


@attrs.define
class Row:
    """A measured row. ``per`` names one sample (``"per call"``, ``"per run of 5,000
    requests"``); ``baseline`` names the measure the ratios are taken against."""

    key: str
    title: str
    unit: Unit
    per: str
    baseline: str
    measures: list[Measure]
    checks: list[Check] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)

    def get(self, name: str) -> Measure:
        for m in self.measures:
            if m.name == name:
                return m
        raise KeyError(f"row {self.key!r} has no measure {name!r}")

    def ratio(self, name: str) -> float | None:
        """Median of ``name`` over the baseline's median (``None`` when either is absent)."""
        m, b = self.get(name), self.get(self.baseline)
        if m.absent or b.absent or not m.samples or not b.samples:
            return None
        return m.median / b.median

    def to_json(self) -> dict[str, Any]:
        measures = []
        for m in self.measures:
            d: dict[str, Any] = {"name": m.name, "role": m.role}
            if m.absent:
                d["absent"] = m.absent
            else:
                d.update(stats(m.samples))
                d["ratio"] = self.ratio(m.name)
            if m.note:
                d["note"] = m.note
            measures.append(d)
        return {
            "key": self.key,
            "title": self.title,
            "unit": self.unit,
            "per": self.per,
            "baseline": self.baseline,
            "measures": measures,
            "checks": [attrs.asdict(c) for c in self.checks],
            "notes": self.notes,
        }


@attrs.frozen
class RowSpec:
    """A registered row provider: ``fn(ctx)`` returns one or more rows. ``heavy`` rows run
    last (they load the machine most)."""

    key: str
    title: str
    fn: Callable[[Any], list[Row]]
    heavy: bool = False


REGISTRY: list[RowSpec] = []


def row(
    key: str, title: str, *, heavy: bool = False
) -> Callable[[Callable[[Any], list[Row]]], Callable[[Any], list[Row]]]:
    """Register a row provider under ``key`` (``--only KEY``)."""

    def deco(fn: Callable[[Any], list[Row]]) -> Callable[[Any], list[Row]]:
        if any(s.key == key for s in REGISTRY):
            raise ValueError(f"benchmark row {key!r} registered twice")
        REGISTRY.append(RowSpec(key, title, fn, heavy))
        return fn

    return deco


# --- sampling ---------------------------------------------------------------------------

_now = time.perf_counter


def single(fn: Callable[[], Any], clock: Callable[[], float] | None = None) -> Callable[[], float]:
    """One sample = one call of ``fn``, in seconds of ``clock`` (default
    ``time.perf_counter``; ``time.thread_time`` counts only this thread's CPU)."""
    now = clock or _now

    def sample() -> float:
        t = now()
        fn()
        return now() - t

    return sample


def batched(
    fn: Callable[[], Any], n: int, clock: Callable[[], float] | None = None
) -> Callable[[], float]:
    """One sample = the mean of ``n`` calls, in seconds of ``clock`` (for operations near
    the timer's resolution, such as a dict lookup)."""
    now = clock or _now

    def sample() -> float:
        t = now()
        for _ in range(n):
            fn()
        return (now() - t) / n

    return sample


def median_p95(samples: list[float]) -> tuple[float, float]:
    """``(median, p95)`` of ``samples`` as :func:`stats` computes them."""
    st = stats(samples)
    return st["median"], st["p95"]


def interleave(
    cases: Mapping[str, Callable[[], Any]],
    rounds: int,
    *,
    warmup: int = 0,
    every: Mapping[str, int] | None = None,
    before_round: Callable[[], None] | None = None,
) -> dict[str, list[Any]]:
    """Run every case once per round, for ``rounds`` rounds, the order rotating each round
    (A B C, B C A, C A B...), after ``warmup`` unrecorded calls of each. A case named in
    ``every`` with k takes part only in every k-th round (slow references). Returns each
    case's list of return values (samples)."""
    every = every or {}
    names = list(cases)
    for name in names:
        for _ in range(warmup):
            cases[name]()
    out: dict[str, list[Any]] = {name: [] for name in names}
    for r in range(rounds):
        if before_round is not None:
            before_round()
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if r % every.get(name, 1) == 0:
                out[name].append(cases[name]())
    return out
