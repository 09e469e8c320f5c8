"""Scenario 4: concurrent calls under a cost budget never spend more than its limit:
200 tasks and 8 threads under ``[modelbus] max_cost_usd`` in one process, and two
processes sharing a Redis budget (docs/how-to/budgets.md), with transient faults (their
reservations are refunded: an error status or a reset is not billed)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import modelbus
from modelbus.errors import BudgetExceededError

from ._config import Scale, client_config
from ._plan import FaultPlan
from ._procs import run_workers
from ._redis import RedisProcess
from ._report import Report, Row
from .server import FaultServer

__all__ = ["run_budgets"]

MAX_TOKENS = 1000
LIMIT_USD = 0.03  # about 50 calls of 1,000 output tokens of gpt-4o-mini
# No timeouts from a loaded machine here, so that these steps measure the concurrency
# of reservations; the "timeout retried" step checks a billed timeout's retry.
_NO_TIMEOUTS = {"providers": {"openai": {"timeout_s": 30.0}}}


def _billed(srv: FaultServer, per_call: float) -> tuple[int, float]:
    """Answers the server delivered and what they cost (each is billed as
    ``MAX_TOKENS`` output tokens and 1 prompt token)."""
    n = sum(1 for s in srv.log() if s.kind == "ok")
    return n, n * per_call


def _in_process(srv: FaultServer, scale: Scale, report: Report, plan: FaultPlan) -> float:
    config = client_config(
        srv.base_url, scale, {"modelbus": {"max_cost_usd": LIMIT_USD}, **_NO_TIMEOUTS}
    )
    items = [
        {
            "custom_id": f"budget-t-{i}",
            "max_tokens": MAX_TOKENS,
            "messages": [{"role": "user", "content": f"rid=budget-t-{i} Say ok."}],
        }
        for i in range(scale.budget_calls)
    ]
    per_call = 0.0
    for step in (f"{scale.tasks} tasks", "8 threads"):
        srv.setup(plan)
        t0 = time.perf_counter()
        client = modelbus.Client(config)
        if step == "8 threads":
            with client:
                results = client.batch(items, concurrency=8)
        else:

            async def main(c: modelbus.Client = client) -> list[Any]:
                try:
                    return await c.abatch(items, concurrency=scale.tasks)
                finally:
                    await c.aclose()

            results = asyncio.run(main())
        elapsed = time.perf_counter() - t0
        ok = [r for r in results if r.ok]
        refused = [r for r in results if isinstance(r.error, BudgetExceededError)]
        spent = sum(r.response.cost_usd or 0.0 for r in ok if r.response is not None)
        per_call = max((r.response.cost_usd or 0.0 for r in ok if r.response), default=0.0)
        delivered, billed = _billed(srv, per_call)
        report.add(
            Row(
                "budget",
                step,
                len(items),
                None,
                len(refused),
                None,
                None,
                elapsed,
                f"ok={len(ok)} spent=${spent:.6f} billed=${billed:.6f} limit=${LIMIT_USD}",
            )
        )
        report.check(
            spent <= LIMIT_USD + 1e-12 and billed <= LIMIT_USD + 1e-12,
            f"budget/{step}: spent ${spent:.6f} (billed ${billed:.6f}) over the limit ${LIMIT_USD}",
        )
        report.check(
            bool(ok) and bool(refused),
            f"budget/{step}: {len(ok)} answered, {len(refused)} refused: the limit must bind",
        )
        report.check(
            delivered == len(ok),
            f"budget/{step}: the server delivered {delivered} answers, the caller got {len(ok)}",
        )
    return per_call


def _two_processes(
    srv: FaultServer, scale: Scale, report: Report, plan: FaultPlan, per_call: float
) -> None:
    srv.setup(plan)
    with RedisProcess() as redis:
        extra = {
            "modelbus": {"budget_store": "redis"},
            "budget_stores": {
                "redis": {"url": redis.url, "namespace": f"campaign-{uuid.uuid4().hex[:10]}"}
            },
            "budgets": {"shared": {"max_cost_usd": LIMIT_USD, "scope": "namespace"}},
        }
        config = client_config(srv.base_url, scale, {**extra, **_NO_TIMEOUTS})
        jobs = [
            {
                "config": config,
                "tasks": scale.tasks,
                "max_tokens": MAX_TOKENS,
                "rids": [f"budget-p{w}-{i}" for i in range(scale.budget_calls)],
            }
            for w in range(2)
        ]
        t0 = time.perf_counter()
        results, _ = run_workers(jobs)
        elapsed = time.perf_counter() - t0
    spent = sum(r["cost_usd"] for r in results)
    ok = sum(len(r["ok"]) for r in results)
    kinds = [k for r in results for k in r["errors"].values()]
    refused = kinds.count("BudgetExceededError")
    _, billed = _billed(srv, per_call)
    report.add(
        Row(
            "budget",
            f"2 procs x {scale.budget_calls}, redis",
            2 * scale.budget_calls,
            None,
            refused,
            None,
            None,
            elapsed,
            f"ok={ok} spent=${spent:.6f} billed=${billed:.6f} limit=${LIMIT_USD}",
        )
    )
    report.check(
        spent <= LIMIT_USD + 1e-12 and billed <= LIMIT_USD + 1e-12,
        f"budget/2 procs: spent ${spent:.6f} (billed ${billed:.6f}) together, over "
        f"the limit ${LIMIT_USD}",
    )
    report.check(ok > 0 and refused > 0, f"budget/2 procs: {ok} answered, {refused} refused")
    report.check(
        set(kinds)
        <= {
            "BudgetExceededError",
            "RetryError",
            "ServerError",
            "RateLimitError",
            "APIConnectionError",
        },
        f"budget/2 procs: unexpected errors {sorted(set(kinds))}",
    )


def _timeout_retried(srv: FaultServer, scale: Scale, report: Report) -> None:
    """One call whose first attempt times out (the server answers it later, so the
    provider bills it) and whose retry answers, under a limit of 1.5 calls; then a
    second call. Everything the server delivered is billed."""
    plan = FaultPlan(seed=0, rate=0.5, weights={"stall": 1.0})
    rid = next(
        f"budget-to-{i}"
        for i in range(1000)
        if plan.draw(f"budget-to-{i}", 0) == "stall" and plan.draw(f"budget-to-{i}", 1) is None
    )
    srv.setup(plan, stall_s=1.3)
    limit = 0.0006 * 1.5
    extra = {"modelbus": {"max_cost_usd": limit}, "providers": {"openai": {"timeout_s": 1.0}}}
    config = client_config(srv.base_url, scale, extra)
    t0 = time.perf_counter()
    spent = 0.0
    with modelbus.Client(config) as client:
        for prompt in (f"rid={rid} Say ok.", "rid=budget-after-timeout Say ok."):
            with contextlib.suppress(BudgetExceededError):
                spent += client.chat(prompt, max_tokens=MAX_TOKENS).cost_usd or 0.0
    time.sleep(0.5)  # the timed-out attempt's answer reaches the server's log
    delivered = sum(1 for s in srv.log() if s.kind in ("ok", "stall"))
    billed = delivered * 0.0006001
    report.add(
        Row(
            "budget",
            "timeout retried",
            2,
            None,
            None,
            None,
            None,
            time.perf_counter() - t0,
            f"spent=${spent:.6f} billed=${billed:.6f} limit=${limit:.6f}",
        )
    )
    report.check(
        billed <= limit + 1e-12,
        f"budget/timeout retried: the provider billed ${billed:.6f} (a timed-out "
        f"attempt, its retry and a second call) under a limit of ${limit:.6f}",
    )


def run_budgets(srv: FaultServer, scale: Scale, report: Report, seed: int) -> None:
    """The in-process budget (tasks, threads), then the Redis budget of two processes."""
    plan = FaultPlan(
        seed=seed, rate=scale.fault_rate, weights={"500": 1.0, "429": 1.0, "reset": 1.0}
    )
    per_call = _in_process(srv, scale, report, plan)
    _two_processes(srv, scale, report, plan, per_call)
    _timeout_retried(srv, scale, report)
