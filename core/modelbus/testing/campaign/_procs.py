"""Running worker processes together: start them, wait until each is ready, release
them at once, collect their results."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from .worker import RESULT

__all__ = ["run_workers"]


def run_workers(jobs: Sequence[dict[str, Any]], timeout_s: float = 600) -> tuple[list[Any], float]:
    """Run one worker per job, released together; returns their results (in job order)
    and the release time (Unix seconds).

    Raises:
        RuntimeError: a worker did not start or did not print a result (its stderr is
            in the message).
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "modelbus.testing.campaign.worker", json.dumps(job)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job in jobs
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a campaign worker did not start: {p.communicate()[1]}")
        released = time.time()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=timeout_s)
            line = next((x for x in out.splitlines() if x.startswith(RESULT)), None)
            if line is None:
                raise RuntimeError(f"a campaign worker printed no result: {err[-2000:]}")
            result = json.loads(line[len(RESULT) :])
            # The workers' warnings (log_level "warning"): a Redis outage or slowness
            # changes what the limiter and the budget store promise.
            result["redis_events"] = [
                x for x in err.splitlines() if "redis_unavailable" in x or "redis_pool" in x
            ]
            results.append(result)
        return results, released
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
