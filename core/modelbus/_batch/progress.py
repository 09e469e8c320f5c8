"""The batch progress bar (``progress=True``, ``modelbus batch --progress``).

A batch finishes hundreds of requests a second, and drawing the bar (rich renders every
column, about 2 ms of CPU on the event loop's or the workers' interpreter) then costs a
measurable share of the run. So the bar is drawn :data:`REFRESH_PER_SECOND` times a
second (rich's default is 10), and the counts are handed to rich at most
:data:`PUSH_PER_SECOND` times a second (``Progress.update`` takes a lock and records a
speed sample, a few microseconds a call) plus once at the end, so that the last drawing
shows every result. What a user sees: the same bar, at most ~0.5 s behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runner import BatchResult

__all__ = ["PUSH_PER_SECOND", "REFRESH_PER_SECOND", "Ticker", "progress_bar"]

REFRESH_PER_SECOND = 4.0
# Twice the drawing rate: a drawing shows counts at most one push interval old.
PUSH_PER_SECOND = 2 * REFRESH_PER_SECOND


class Ticker:
    """Counts results (``done``, ``failed``) and hands them to ``push(done, failed)`` at
    most once per ``interval`` seconds of ``clock`` (seconds, monotonic), the first at
    once; :meth:`flush` hands over the last counts. The callers call it one at a time
    (the batch runners call their ``on_result`` under a lock or on one event loop)."""

    def __init__(
        self,
        push: Callable[[int, int], None],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.push, self.interval, self.clock = push, interval, clock
        self.done = self.failed = 0
        self.pushed = (0, 0)
        self._due = float("-inf")

    def __call__(self, result: BatchResult) -> None:
        self.done += 1
        if result.error is not None:
            self.failed += 1
        now = self.clock()
        if now >= self._due:
            self._due = now + self.interval
            self.flush()

    def flush(self) -> None:
        counts = (self.done, self.failed)
        if counts != self.pushed:
            self.pushed = counts
            self.push(*counts)


@contextmanager
def progress_bar(
    total: int, enabled: bool, label: str = "batch"
) -> Iterator[Callable[[BatchResult], None]]:
    """A rich progress bar on stderr over ``total`` requests (counting failures); yields
    the callback to call per result (one call at a time). Disabled: a no-op callback,
    rich not imported. On leaving, however the batch ended, the bar is drawn once more
    with every result counted."""
    if not enabled:
        yield lambda _r: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        refresh_per_second=REFRESH_PER_SECOND,
    ) as bar:
        task = bar.add_task(label, total=total, failed=0)

        def push(done: int, failed: int) -> None:
            bar.update(task, completed=done, failed=failed)

        ticker = Ticker(push, 1 / PUSH_PER_SECOND)
        try:
            yield ticker
        finally:
            ticker.flush()  # before Progress.__exit__ draws the bar the last time
