"""The campaign's figures and checks: one table row per scenario step, and every
assertion recorded (not raised) so that one run reports every violation."""

from __future__ import annotations

import os
from collections.abc import Iterable

from attrs import define, field, frozen

__all__ = ["Report", "Row"]


@frozen
class Row:
    """One measured step: ``requests`` made by the caller, failures ``expected`` (from
    the fault plan) and ``observed`` (by the caller), re-sends (requests the server got
    beyond one per request) expected and observed, and the wall-clock ``elapsed_s``.
    ``None`` where a figure does not apply."""

    scenario: str
    step: str
    requests: int
    expected: int | None
    observed: int | None
    resends_expected: int | None
    resends_observed: int | None
    elapsed_s: float
    note: str = ""


@define
class Report:
    """Rows and check results of a campaign run."""

    rows: list[Row] = field(factory=list)
    failures: list[str] = field(factory=list)
    known_defects: list[str] = field(factory=list)
    checks: int = 0

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def check(self, ok: bool, what: str) -> bool:
        """Record the assertion ``what``; a false one is a failure of the run."""
        self.checks += 1
        if not ok:
            self.failures.append(what)
        return ok

    def known(self, ok: bool, what: str) -> bool:
        """A check that fails today because of a known, reported defect: printed, not
        counted as a failure of the run (turn it into :meth:`check` once fixed)."""
        if not ok:
            self.known_defects.append(what)
        return ok

    @property
    def ok(self) -> bool:
        return not self.failures

    def table(self, rows: Iterable[Row] | None = None) -> str:
        """The rows as a fixed-width text table."""
        head = (
            "scenario",
            "step",
            "requests",
            "fail exp",
            "fail obs",
            "resend exp",
            "resend obs",
            "elapsed s",
            "note",
        )

        def cell(v: object) -> str:
            return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

        lines = [
            tuple(
                cell(v)
                for v in (
                    r.scenario,
                    r.step,
                    r.requests,
                    r.expected,
                    r.observed,
                    r.resends_expected,
                    r.resends_observed,
                    r.elapsed_s,
                    r.note,
                )
            )
            for r in (self.rows if rows is None else rows)
        ]
        widths = [max(len(x) for x in col) for col in zip(head, *lines, strict=True)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
        return "\n".join(fmt.format(*line) for line in (head, *lines))

    def summary(self) -> str:
        load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
        verdict = "all held" if self.ok else f"{len(self.failures)} FAILED"
        text = f"{self.checks} checks, {verdict}; load average {load[0]:.2f} {load[1]:.2f}"
        known = [f"  KNOWN DEFECT: {k}" for k in self.known_defects]
        return "\n".join([text, *(f"  FAILED: {f}" for f in self.failures), *known])
