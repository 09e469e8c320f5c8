"""Scenario 6: a stalled server costs at most ``deadline_s`` (± 0.2 s), in every mode;
a stream that goes silent mid-answer fails after ``stream_idle_timeout_s`` (± 0.2 s)
with ``APITimeoutError`` (docs/how-to/timeouts.md)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import modelbus
from modelbus.errors import APITimeoutError

from ._config import Scale, client_config
from ._report import Report, Row
from .server import FaultServer

__all__ = ["run_stalls"]

DEADLINE_S = 1.0
IDLE_S = 1.0
TOLERANCE_S = 0.2


def _deadline(client: modelbus.Client, mode: str, rid: str) -> tuple[float, BaseException | None]:
    prompt = f"rid={rid} Say ok."

    async def amain() -> None:
        # An async client of its own, closed on its loop (aiohttp sessions are per loop).
        aclient = modelbus.Client(client.config)
        try:
            with contextlib.suppress(Exception):
                await aclient.achat("rid=warm-async Say ok.")
            t0 = time.perf_counter()
            try:
                if mode == "achat":
                    await aclient.achat(prompt)
                else:
                    async for _ in aclient.astream(prompt):
                        pass
            finally:
                took[0] = time.perf_counter() - t0
        finally:
            await aclient.aclose()

    took = [0.0]
    t0 = time.perf_counter()
    try:
        if mode == "chat":
            client.chat(prompt)
        elif mode == "stream":
            for _ in client.stream(prompt):
                pass
        else:
            asyncio.run(amain())
            return took[0], None
    except Exception as exc:
        return (took[0] if mode.startswith("a") else time.perf_counter() - t0), exc
    return time.perf_counter() - t0, None


def _idle(client: modelbus.Client, mode: str, rid: str) -> tuple[float, BaseException | None]:
    """Seconds from the last chunk received to the error."""
    prompt = f"rid={rid} Say ok."
    last = [time.perf_counter()]

    async def amain() -> None:
        aclient = modelbus.Client(client.config)
        try:
            async for _ in aclient.astream(prompt):
                last[0] = time.perf_counter()
        finally:
            await aclient.aclose()

    try:
        if mode == "stream":
            for _ in client.stream(prompt):
                last[0] = time.perf_counter()
        else:
            asyncio.run(amain())
    except Exception as exc:
        return time.perf_counter() - last[0], exc
    return time.perf_counter() - last[0], None


def run_stalls(srv: FaultServer, scale: Scale, report: Report) -> None:
    srv.setup()
    config = client_config(
        srv.base_url,
        scale,
        {
            "modelbus": {"stream_idle_timeout_s": IDLE_S},
            "providers": {"openai": {"timeout_s": 30.0}},
            "retry_policies": {"exponential": {"deadline_s": DEADLINE_S}},
        },
    )
    steps: list[tuple[str, str, float, Callable[..., tuple[float, BaseException | None]]]] = [
        *(
            (f"stalled {m}", m, DEADLINE_S, _deadline)
            for m in ("chat", "achat", "stream", "astream")
        ),
        *((f"silent {m}", m, IDLE_S, _idle) for m in ("stream", "astream")),
    ]
    with modelbus.Client(config) as client:
        # Imports and connections, not measured (on a loaded machine this first call
        # may itself pass the 1 s deadline: what it builds stays built).
        with contextlib.suppress(Exception):
            client.chat("rid=warm-stalls Say ok.")
        for i, (step, mode, bound, run) in enumerate(steps):
            rid = f"{'stall' if run is _deadline else 'idle'}-{i}"
            took, exc = run(client, mode, rid)
            report.add(
                Row(
                    "stall",
                    step,
                    1,
                    1,
                    int(exc is not None),
                    None,
                    None,
                    took,
                    f"bound={bound:g}s error={type(exc).__name__ if exc else None}",
                )
            )
            report.check(
                exc is not None and abs(took - bound) <= TOLERANCE_S,
                f"stall/{step}: failed after {took:.3f}s with {exc!r:.120}, "
                f"expected {bound:g} ± {TOLERANCE_S} s",
            )
            if run is _idle:
                report.check(
                    isinstance(exc, APITimeoutError),
                    f"stall/{step}: a silent stream raised {exc!r:.120}, not APITimeoutError",
                )
