"""Start-up cost: ``import modelbus`` and friends over a bare ``python -c pass``.

Each case is a fresh interpreter (``sys.executable -c CODE``), timed from spawn to exit;
rounds are interleaved (every case once per round, in a rotating order) so machine noise
hits every case alike. Cases:

- ``bare``: ``pass`` (interpreter start-up with site-packages: the floor);
- ``import modelbus``: the package (names are loaded on first use, PEP 562);
- ``from modelbus import Client``: the client and the pipeline modules;
- ``Client()``: ``import modelbus; modelbus.Client()``, including plugin discovery (every
  installed plugin is imported) with no config file;
- ``modelbus --help`` / ``modelbus chat --help``: the command line, which loads no
  plugin for these.

Prints median and 95th percentile in milliseconds and the median over ``bare``. The
target: ``import modelbus`` at most 60 ms over bare Python. Run::

    python -m benchmarks.bench_import [--rounds 30] [--json]
    python -m benchmarks.bench_import --importtime "from modelbus import Client"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._harness import median_p95

CASES: dict[str, list[str]] = {
    "bare": ["-c", "pass"],
    "import modelbus": ["-c", "import modelbus"],
    "from modelbus import Client": ["-c", "from modelbus import Client"],
    "Client()": ["-c", "import modelbus; modelbus.Client()"],
    "modelbus --help": ["-m", "modelbus.cli", "--help"],
    "modelbus chat --help": ["-m", "modelbus.cli", "chat", "--help"],
}
TARGET_OVER_BARE_MS = 60.0


def _env(tmp: Path) -> dict[str, str]:
    # No config file, no machine settings: the same work on every machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELBUS_", "OPENAI_"))}
    env["XDG_CONFIG_HOME"] = str(tmp)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def importtime(code: str, top: int = 25) -> None:
    """Print the ``top`` imports of ``code`` by cumulative time (``python -X importtime``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            env=_env(Path(tmp)),
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        )
    rows = []
    for line in out.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        rows.append((int(parts[1]), int(parts[0]), parts[2].strip()))
    for cumulative_us, self_us, name in sorted(rows, reverse=True)[:top]:
        print(f"{cumulative_us / 1000:8.1f} ms cumulative {self_us / 1000:7.1f} ms self  {name}")


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30, help="runs of every case")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument(
        "--importtime",
        metavar="CODE",
        help="profile CODE with -X importtime instead of timing the cases",
    )
    args = ap.parse_args(argv)
    if args.importtime:
        importtime(args.importtime)
        return {}

    samples: dict[str, list[float]] = {name: [] for name in CASES}
    names = list(CASES)
    with tempfile.TemporaryDirectory() as tmp:
        env, cwd = _env(Path(tmp)), Path(tmp)
        for name in names:  # warm the OS file cache and __pycache__ once
            _run(CASES[name], env, cwd)
        for r in range(args.rounds):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(_run(CASES[name], env, cwd))

    bare = median_p95(samples["bare"])[0]
    figures: dict[str, dict[str, float]] = {}
    for name, values in samples.items():
        median, p95 = median_p95(values)
        figures[name] = {
            "median_ms": median * 1000,
            "p95_ms": p95 * 1000,
            "over_bare_ms": (median - bare) * 1000,
        }
    over = figures["import modelbus"]["over_bare_ms"]
    if args.json:
        print(
            json.dumps(
                {
                    "figures": figures,
                    "target_over_bare_ms": TARGET_OVER_BARE_MS,
                    "target_met": over <= TARGET_OVER_BARE_MS,
                },
                indent=2,
            )
        )
    else:
        print(
            f"python {platform.python_version()} on {platform.machine()}, "
            f"{args.rounds} interleaved rounds"
        )
        print(f"{'case':32} {'median':>9} {'p95':>9} {'over bare':>10}")
        for name, f in figures.items():
            print(
                f"{name:32} {f['median_ms']:7.1f}ms {f['p95_ms']:7.1f}ms {f['over_bare_ms']:8.1f}ms"
            )
        verdict = "met" if over <= TARGET_OVER_BARE_MS else "MISSED"
        print(
            f"target: import modelbus <= {TARGET_OVER_BARE_MS:.0f} ms over bare: {verdict} "
            f"({over:.1f} ms)"
        )
    return figures


if __name__ == "__main__":
    main()
