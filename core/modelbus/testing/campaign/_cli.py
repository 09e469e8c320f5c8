"""``python -m modelbus.testing.campaign``: run the scenarios, print their figures, exit
non-zero when an assertion does not hold."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from ._budgets import run_budgets
from ._config import Scale
from ._load import run_load
from ._report import Report
from ._resume import run_resume
from ._secrets import run_secrets
from ._shared import run_outage, run_shared_rate
from ._stalls import run_stalls
from .server import FaultServer

__all__ = ["SCENARIOS", "main", "run"]

Scenario = Callable[[FaultServer, Scale, Report, int], None]

SCENARIOS: dict[str, Scenario] = {
    "faults": run_load,
    "redis-outage": lambda srv, scale, report, seed: run_outage(srv, scale, report),
    "shared-rpm": lambda srv, scale, report, seed: run_shared_rate(srv, scale, report),
    "budgets": run_budgets,
    "batch-resume": run_resume,
    "stalls": lambda srv, scale, report, seed: run_stalls(srv, scale, report),
    "secrets": lambda srv, scale, report, seed: run_secrets(srv, scale, report),
}


def run(
    scale: Scale, names: Sequence[str], seed: int = 0, out: Callable[[str], None] = print
) -> Report:
    """Run the scenarios ``names`` (keys of :data:`SCENARIOS`) against one fault server
    process; ``out`` receives each scenario's table as it finishes."""
    report = Report()
    with FaultServer() as srv:
        for name in names:
            before = len(report.rows)
            t0 = time.perf_counter()
            SCENARIOS[name](srv, scale, report, seed)
            out(f"\n== {name} ({time.perf_counter() - t0:.1f} s)")
            out(report.table(report.rows[before:]))
    out("")
    out(report.summary())
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modelbus.testing.campaign",
        description="modelbus's fault campaign against a fault server in its own process.",
    )
    parser.add_argument(
        "--scale",
        choices=("small", "full"),
        default="small",
        help="small: CI-sized (well under a minute); full: 2,000 requests "
        "per mode at 10%% faults (several minutes)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault plan")
    parser.add_argument(
        "--only", default="", help="comma-separated scenarios: " + ", ".join(SCENARIOS)
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; accepted: {', '.join(SCENARIOS)}")
    report = run(Scale.of(args.scale), names, args.seed, out=lambda s: print(s, flush=True))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
