"""Sampled mutation testing of the core modules whose tests must pin behaviour.

    nice -n 19 python scripts/mutation/run.py                    # every module, 30 each
    nice -n 19 python scripts/mutation/run.py --only caches,_sse --sample 0   # all mutants
    nice -n 19 python scripts/mutation/run.py --list caches      # the sample, no run
    nice -n 19 python scripts/mutation/run.py --baseline         # the tests pass unmutated

For each module (``MODULES``: the file and the test files that pin it) the mutants of
``operators.mutants`` are sampled with ``random.Random(f"{seed}:{module}")`` (``--sample
N`` per module, ``0`` for all), then each runs in its own ``pytest -x`` over the module's
tests with the mutant injected at import (``_mutant_inject``): exit 0 is *survived*, a
failure *killed*, a run over ``--timeout`` seconds *timeout* (counted as killed: the
mutant hangs). Mutants listed in ``equivalent.txt`` (``module line:description # why``)
are run too, but reported apart and left out of the rate: killed / (sampled - equivalent).
The table goes to stdout, every mutant's outcome to ``--json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from operators import Mutant, mutants  # noqa: E402

C = "tests/core/"
# name: (importable module, file, the test files that pin it: the fastest, most specific
# first, since ``pytest -x`` stops at the first failure)
MODULES: dict[str, tuple[str, str, list[str]]] = {
    "caches": (
        "modelbus.builtins.caches",
        "core/modelbus/builtins/caches.py",
        [C + "test_memory_cache.py", C + "test_cache_contract.py::TestMemoryCache"],
    ),
    "tokens": (
        "modelbus.builtins.tokens",
        "core/modelbus/builtins/tokens.py",
        [C + "test_tokens_pinned.py", C + "test_tokens.py", C + "test_tokens_images.py"],
    ),
    "sqlite_cache": (
        "modelbus.builtins.sqlite_cache",
        "core/modelbus/builtins/sqlite_cache.py",
        [
            C + "test_sqlite_cache_locks.py",
            C + "test_sqlite_cache.py",
            C + "test_cache_contract.py::TestSqliteCache",
        ],
    ),
    "retry": (
        "modelbus.builtins.retry",
        "core/modelbus/builtins/retry.py",
        [C + "test_retry_policy_pinned.py", C + "test_retry.py", C + "test_retry_contract.py"],
    ),
    "ratelimit": (
        "modelbus.builtins.ratelimit",
        "core/modelbus/builtins/ratelimit.py",
        [C + "test_ratelimit_buckets.py", C + "test_ratelimit.py"],
    ),
    "_sse": (
        "modelbus._wire.sse",
        "core/modelbus/_wire/sse.py",
        [C + "test_sse_pinned.py", C + "test_plugin_helpers.py"],
    ),
    "_retry": (
        "modelbus._retry.runner",
        "core/modelbus/_retry/runner.py",
        [
            C + "test_retry_runner.py",
            C + "test_retry.py",
            C + "test_retry_quota.py",
            C + "test_timeouts.py",
        ],
    ),
    "_retry_after": (
        "modelbus._retry.retry_after",
        "core/modelbus/_retry/retry_after.py",
        [C + "test_retry_policy_pinned.py", C + "test_plugin_helpers.py", C + "test_retry.py"],
    ),
    "_context": (
        "modelbus._tokens.context_window",
        "core/modelbus/_tokens/context_window.py",
        [C + "test_context_fit.py", C + "test_context.py"],
    ),
    "_ratelimit": (
        "modelbus._limits.rate_limits",
        "core/modelbus/_limits/rate_limits.py",
        [C + "test_ratelimit_buckets.py", C + "test_ratelimit.py"],
    ),
    "_cache_key": (
        "modelbus._caching.key",
        "core/modelbus/_caching/key.py",
        [C + "test_cache_key_pinned.py", C + "test_cache_key.py"],
    ),
    "openai._errors": (
        "modelbus_openai._errors",
        "plugins/openai/src/modelbus_openai/_errors.py",
        ["tests/plugins/openai/test_error_mapping.py", "tests/plugins/openai/test_errors.py"],
    ),
    "openai._sse": (
        "modelbus_openai._sse",
        "plugins/openai/src/modelbus_openai/_sse.py",
        ["tests/plugins/openai/test_stream_events.py", "tests/plugins/openai/test_faults.py"],
    ),
    "azure._direct": (
        "modelbus_azure._direct",
        "plugins/azure/src/modelbus_azure/_direct.py",
        ["tests/plugins/azure/test_direct.py"],
    ),
    "azure._provider": (
        "modelbus_azure._provider",
        "plugins/azure/src/modelbus_azure/_provider.py",
        ["tests/plugins/azure/test_direct.py", "tests/plugins/azure/test_azure.py"],
    ),
}


def load_equivalents() -> dict[str, dict[str, str]]:
    """``equivalent.txt``: ``module line:description  # reason`` per line."""
    out: dict[str, dict[str, str]] = {}
    for raw in (HERE / "equivalent.txt").read_text().splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        head, _, reason = raw.partition("#")
        module, key = head.strip().split(" ", 1)
        out.setdefault(module, {})[key.strip()] = reason.strip()
    return out


def source_hash(name: str) -> str:
    return hashlib.sha256((ROOT / MODULES[name][1]).read_bytes()).hexdigest()[:16]


def sample(name: str, size: int, seed: int) -> list[Mutant]:
    path = ROOT / MODULES[name][1]
    every = mutants(path.read_text(encoding="utf-8"), str(path))
    if size and size < len(every):
        every = random.Random(f"{seed}:{name}").sample(every, size)
    return sorted(every, key=lambda m: m.index)


def carry_over(
    path: Path,
    args: argparse.Namespace,
    names: list[str],
    jobs: list[tuple[str, Mutant]],
    results: dict[str, list[dict[str, object]]],
) -> list[tuple[str, Mutant]]:
    """Fill ``results`` with the killed mutants of an earlier run (same seed and sample)
    of the modules whose source is unchanged; return the jobs left to run."""
    earlier = json.loads(path.read_text())
    if (earlier["seed"], earlier["sample"]) != (args.seed, args.sample):
        raise SystemExit("--carry-over needs a run with the same --seed and --sample")
    for n in names:
        if earlier["sources"].get(n) != source_hash(n):
            continue  # the module changed: every mutant runs again
        done = {
            str(r["key"]): r
            for r in earlier["results"].get(n, ())
            # A timeout without pytest output was the whole run cut off: maybe a slow
            # machine rather than a hang, so it runs again.
            if r["outcome"] == "killed" or (r["outcome"] == "timeout" and r["tail"])
        }
        mine = [m for jn, m in jobs if jn == n]
        results[n] = [{**done[m.key], "carried": True} for m in mine if m.key in done]
        jobs = [(jn, m) for jn, m in jobs if jn != n or m.key not in done]
    return jobs


def run_one(
    name: str, m: Mutant, timeout: float, seed: int, tests_root: Path = ROOT
) -> tuple[str, float, str]:
    module, file, tests = MODULES[name]
    tests = [t for t in tests if (tests_root / t.split("::")[0]).exists()]
    env = dict(os.environ)
    env["MODELBUS_MUTANT"] = f"{module}:{ROOT / file}:{m.index}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    cmd += ["-p", "_mutant_inject", "--timeout", str(int(timeout)), f"--hypothesis-seed={seed}"]
    cmd += tests
    start = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, cwd=tests_root, env=env, capture_output=True, text=True, timeout=timeout + 30
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start, ""
    took = time.monotonic() - start
    tail = (proc.stdout or proc.stderr).strip().splitlines()[-1:] or [""]
    if proc.returncode == 0:
        return "survived", took, tail[0]
    if "Failed: Timeout >" in proc.stdout:  # pytest-timeout's verdict
        return "timeout", took, tail[0]
    if proc.returncode in (1, 2):
        return "killed", took, tail[0]
    return f"error(rc={proc.returncode})", took, (proc.stderr or proc.stdout)[-400:]


def print_table(
    results: dict[str, list[dict[str, object]]],
    names: list[str],
    equivalents: dict[str, dict[str, str]],
) -> None:
    """The Markdown table of a run; equivalence is read from ``equivalents`` (so a saved
    run is re-tabled with the current ``equivalent.txt`` by ``--report``)."""
    print("\n| module | mutants | killed | survived | timeout | equivalent | killed % |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    totals = [0, 0, 0, 0, 0]
    for n in names:
        rs = results[n]
        eqs = equivalents.get(n, {})
        live = [r for r in rs if str(r["key"]) not in eqs]
        eq = len(rs) - len(live)
        killed = sum(1 for r in live if r["outcome"] == "killed")
        timeout = sum(1 for r in live if r["outcome"] == "timeout")
        survived = len(live) - killed - timeout
        rate = 100 * (killed + timeout) / len(live) if live else 100.0
        print(f"| {n} | {len(rs)} | {killed} | {survived} | {timeout} | {eq} | {rate:.1f} |")
        for i, v in enumerate((len(rs), killed, survived, timeout, eq)):
            totals[i] += v
    live_total = totals[0] - totals[4]
    rate = 100 * (totals[1] + totals[3]) / live_total if live_total else 100.0
    print(f"| **all** | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} | {totals[4]} "
          f"| {rate:.1f} |")  # fmt: skip


def print_survivors(
    results: dict[str, list[dict[str, object]]],
    names: list[str],
    equivalents: dict[str, dict[str, str]],
) -> None:
    for n in names:
        src = (ROOT / MODULES[n][1]).read_text().splitlines()
        for r in sorted(results[n], key=lambda r: int(str(r["key"]).split(":")[0])):
            key = str(r["key"])
            if r["outcome"] not in ("killed", "timeout") and key not in equivalents.get(n, {}):
                line = int(key.split(":")[0])
                print(f"SURVIVED {n} {key} | {src[line - 1].strip()[:80]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated module names (default: all)")
    ap.add_argument("--sample", type=int, default=30, help="mutants per module (0: all)")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120, help="seconds per mutant run")
    ap.add_argument("--json", default="", help="write every outcome to this file")
    ap.add_argument("--list", metavar="MODULE", help="print the sample of one module")
    ap.add_argument(
        "--tests-from",
        type=Path,
        default=ROOT,
        help="run the tests of another checkout (e.g. `git archive <rev> tests pyproject.toml`"
        " unpacked) against this tree's modules: the kill rate of older tests",
    )
    ap.add_argument(
        "--carry-over",
        type=Path,
        help="a --json of an earlier run: its killed mutants of a module whose source has"
        " not changed count as killed without running (tests were only added since)",
    )
    ap.add_argument("--survivors", action="store_true", help="print each survivor's line")
    ap.add_argument(
        "--report", type=Path, help="re-print the table (and survivors) of a saved --json run"
    )
    ap.add_argument(
        "--baseline", action="store_true", help="run each module's tests unmutated (must pass)"
    )
    args = ap.parse_args()

    if args.baseline:
        failed = 0
        for n in args.only.split(",") if args.only else MODULES:
            outcome, took, tail = run_one(
                n, Mutant(-1, 0, "baseline"), args.timeout, args.seed, args.tests_from
            )
            failed += outcome != "survived"
            print(f"{n:16} {'ok' if outcome == 'survived' else outcome:10} {took:5.1f} s  {tail}")
        return 1 if failed else 0

    if args.report:
        saved = json.loads(args.report.read_text())
        names = [n for n in MODULES if n in saved["results"]]
        print(f"seed {saved['seed']}, {saved['sample']} per module, load average "
              f"{saved['load'][0][0]:.2f} at start, {saved['load'][1][0]:.2f} at end, "
              f"{saved['minutes']} min")  # fmt: skip
        print_table(saved["results"], names, load_equivalents())
        if args.survivors:
            print_survivors(saved["results"], names, load_equivalents())
        return 0

    if args.list:
        src = (ROOT / MODULES[args.list][1]).read_text().splitlines()
        for m in sample(args.list, args.sample, args.seed):
            print(f"{m.index:4} {m.key:45} | {src[m.line - 1].strip()[:70]}")
        return 0

    names = args.only.split(",") if args.only else list(MODULES)
    equivalents = load_equivalents()
    jobs = [(n, m) for n in names for m in sample(n, args.sample, args.seed)]
    results: dict[str, list[dict[str, object]]] = {n: [] for n in names}
    if args.carry_over:
        jobs = carry_over(args.carry_over, args, names, jobs, results)
    load = os.getloadavg()
    carried = sum(len(v) for v in results.values())
    print(f"{len(jobs)} mutants to run ({carried} killed ones carried over), seed {args.seed}, "
          f"load average {load[0]:.2f}", flush=True)  # fmt: skip
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            pool.submit(run_one, n, m, args.timeout, args.seed, args.tests_from): (n, m)
            for n, m in jobs
        }
        for fut in concurrent.futures.as_completed(futures):
            n, m = futures[fut]
            outcome, took, tail = fut.result()
            eq = equivalents.get(n, {}).get(m.key)
            results[n].append(
                {"index": m.index, "key": m.key, "outcome": outcome, "seconds": round(took, 1),
                 "equivalent": eq, "tail": tail}
            )  # fmt: skip
            print(f"{n} {m.key}: {outcome} ({took:.0f} s)", file=sys.stderr, flush=True)
            if outcome.startswith("error"):
                print(f"  {tail}", file=sys.stderr, flush=True)
    minutes = (time.monotonic() - started) / 60
    load_end = os.getloadavg()

    print_table(results, names, equivalents)
    print(f"\n{minutes:.1f} min, load average {load[0]:.2f} at start, {load_end[0]:.2f} at end")
    if args.survivors:
        print_survivors(results, names, equivalents)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"seed": args.seed, "sample": args.sample, "load": [load, load_end],
             "sources": {n: source_hash(n) for n in names},
             "minutes": round(minutes, 1), "results": results}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
