"""The benchmark harness: every row, one table, one JSON file.

    python -m benchmarks [--quick] [--only ROW[,ROW...]] [--output PATH] [--no-save]
    python benchmarks/run.py ...                     (the same)
    python -m benchmarks --list                      (the rows and their keys)
    python -m benchmarks --markdown results/X.json   (a results file as Markdown tables)

Starts its own servers (the OpenAI-compatible WireServer in a separate process, without
and with 20 ms latency; a private redis-server for the redis row) and stops them. Each row
runs its contenders interleaved after a warm-up, prints median, p95, min and max and the
ratio to the row's baseline, and checks its target. The figures go to
``benchmarks/results/<date>.json`` (``<date>-quick.json`` with ``--quick``,
``<date>-partial.json`` with ``--only``) together with the machine (cores, CPU, Python,
package versions, commit, load average).

A full run takes about 4-5 minutes on 2 cores, ``--quick`` well under one. LiteLLM rows
are measured when ``litellm`` is importable and marked absent otherwise. Exit status: 0,
or 2 when a row failed to run; with ``--strict`` also 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks import (  # noqa: E402
    rows_async,
    rows_azure,
    rows_cache,
    rows_calls,
    rows_observers,
    rows_startup,
    rows_tokens,
)
from benchmarks._context import Context, clean_environ, freeze_heap  # noqa: E402
from benchmarks._harness import REGISTRY, Row, RowSpec  # noqa: E402
from benchmarks._machine import load_average, machine  # noqa: E402
from benchmarks._report import markdown, text_table  # noqa: E402

__all__ = ["main", "run"]

# The modules register their rows on import. Run order: this order, heavy rows last
# (rows registered elsewhere after these).
_ROW_MODULES = (
    rows_startup,
    rows_tokens,
    rows_cache,
    rows_observers,
    rows_calls,
    rows_azure,
    rows_async,
)
ORDER = (
    "import",
    "first-call",
    "rss",
    "tokens",
    "memory-cache",
    "observers",
    "sqlite-cache",
    "redis-cache",
    "sync-chat",
    "azure-chat",
    "azure-first-call",
    "stream",
    "batch",
    "async",
)


def _specs(only: list[str]) -> list[RowSpec]:
    def rank(s: RowSpec) -> tuple[bool, int]:
        return s.heavy, ORDER.index(s.key) if s.key in ORDER else len(ORDER)

    specs = sorted(REGISTRY, key=rank)
    if not only:
        return specs
    known = {s.key for s in specs}
    unknown = [k for k in only if k not in known]
    if unknown:
        raise SystemExit(
            f"unknown row(s) {', '.join(unknown)}; rows: {', '.join(s.key for s in specs)}"
        )
    return [s for s in specs if s.key in only]


def _default_output(quick: bool, partial: bool) -> Path:
    suffix = ("-quick" if quick else "") + ("-partial" if partial else "")
    return ROOT / "benchmarks" / "results" / f"{dt.date.today().isoformat()}{suffix}.json"


def run(
    quick: bool = False,
    only: list[str] | None = None,
    litellm: bool = True,
    log: Any = None,
) -> dict[str, Any]:
    """Run the rows (all, or the keys in ``only``) and return the results (the JSON shape).
    ``litellm``: measure the LiteLLM contenders when it is installed."""
    log = log or sys.stderr
    env = clean_environ()  # no machine-specific modelbus/OpenAI settings in the clients
    for k in [k for k in os.environ if k not in env]:
        del os.environ[k]
    os.environ.update(env)
    specs = _specs(only or [])
    ctx = Context(quick=quick, use_litellm=litellm)
    started = dt.datetime.now(dt.UTC)
    load_start = load_average()
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    try:
        for spec in specs:
            print(
                f"[{time.perf_counter() - t0:6.1f}s] {spec.key}: {spec.title}", file=log, flush=True
            )
            freeze_heap()
            load = load_average()
            try:
                produced: list[Row] = spec.fn(ctx)
            except Exception as exc:
                traceback.print_exc(file=log)
                rows.append(
                    {
                        "key": spec.key,
                        "title": spec.title,
                        "unit": "s",
                        "per": "",
                        "baseline": "",
                        "measures": [],
                        "checks": [],
                        "notes": [],
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                )
                continue
            # The load while the row ran, beside its figures: other work on the cores
            # shows up as slow medians (a CPU ratio holds better than a time).
            for r in produced:
                rows.append({**r.to_json(), "load_average": {"start": load, "end": load_average()}})
        servers = ctx.servers()
    finally:
        ctx.close()
    return {
        "schema": 1,
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "quick": quick,
        "litellm": litellm,
        "only": only or [],
        "duration_s": round(time.perf_counter() - t0, 1),
        "machine": machine(ROOT),
        "load_average": {"start": load_start, "end": load_average()},
        "servers": servers,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds and requests (< 1 min)")
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ROW",
        help="run only these rows (comma-separated or repeated; see --list)",
    )
    ap.add_argument(
        "--no-litellm",
        action="store_true",
        help="leave LiteLLM out even when installed (--quick always does: its import "
        "alone takes seconds)",
    )
    ap.add_argument("--list", action="store_true", help="list the rows and exit")
    ap.add_argument("--output", type=Path, help="where to write the JSON figures")
    ap.add_argument("--no-save", action="store_true", help="do not write the JSON figures")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument(
        "--markdown",
        type=Path,
        metavar="RESULTS",
        help="print a results file as Markdown tables and exit",
    )
    args = ap.parse_args(argv)
    if args.list:
        for s in _specs([]):
            print(f"{s.key:14} {s.title}")
        return 0
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text(encoding="utf-8"))))
        return 0
    only = [k.strip() for arg in args.only for k in arg.split(",") if k.strip()]
    results = run(quick=args.quick, only=only, litellm=not (args.quick or args.no_litellm))
    m = results["machine"]
    print(
        f"\nmodelbus benchmarks, {results['date']}: {m['cores']} cores ({m['cpu']}), "
        f"Python {m['python']}, openai {m['packages']['openai']}, "
        f"litellm {m['packages']['litellm'] or 'absent'}; load {results['load_average']}; "
        f"{results['duration_s']} s{' (quick)' if args.quick else ''}\n"
    )
    print(text_table(results))
    if not args.no_save:
        out = args.output or _default_output(args.quick, bool(only))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nfigures written to {out}")
    checks = [c for r in results["rows"] for c in r["checks"]]
    if any(r.get("error") for r in results["rows"]):
        return 2
    if args.strict and any(c["ok"] is False for c in checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
