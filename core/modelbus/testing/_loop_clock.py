"""A fake clock for asyncio whose sleeps yield to the event loop (``LoopClock``).

:class:`~modelbus.testing.FakeClock`'s ``asleep`` returns at once without yielding, so
two tasks sleeping "at the same time" run one after the other and a test cannot express
overlapping calls. ``LoopClock`` moves the fake time into the event loop itself: its
loop's ``time()`` is the clock's ``now``, and when every task is waiting (nothing ready,
no I/O ready) the loop jumps ``now`` to its earliest timer instead of blocking. Tasks
then interleave in fake time exactly as they would in real time, deterministically, and
a run of hours of backoff takes milliseconds. This is the technique of ``looptime``
(PyPI), kept to the standard library so the testing kit needs no extra dependency.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from ._fake import FakeClock

__all__ = ["LoopClock"]

T = TypeVar("T")


class _JumpingSelector(selectors.BaseSelector):
    """The default selector, except that a wait with nothing ready and a timer pending
    (``timeout > 0``) moves the clock to that timer at once instead of waiting. A wait
    without a timer (``timeout=None``: only I/O or another thread can wake the loop)
    blocks for real, so ``asyncio.to_thread`` and sockets still work."""

    def __init__(self, clock: LoopClock) -> None:
        self._inner = selectors.DefaultSelector()
        self._clock = clock

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._inner.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            return self._inner.select(None)
        self._clock.advance(timeout)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()


class _FakeTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: LoopClock) -> None:
        self.fake_clock = clock
        super().__init__(_JumpingSelector(clock))

    def time(self) -> float:
        return self.fake_clock.now


class LoopClock(FakeClock):
    """A :class:`FakeClock` whose async sleeps yield to the event loop, so concurrent tasks
    overlap in fake time (see the module doc).

    Run the async code on the clock's loop: ``clock.run(main())``, or
    ``asyncio.Runner(loop_factory=clock.new_event_loop)``. There, ``clock.asleep(s)``,
    ``asyncio.sleep``, ``asyncio.timeout`` and ``loop.call_later`` all wait in fake
    seconds: a task sleeping 2 s and one sleeping 1 s started together finish at fake
    times 1 and 2, the second one first. Fake time moves only when every task waits on a
    timer; it never moves while a task is runnable, so the order of events is the same on
    every run.

    ``monotonic()`` is the fake time in seconds; ``sleeps`` records every ``sleep`` and
    ``asleep`` (seconds); the sync ``sleep`` advances the time at once, as FakeClock's.
    Work handed to other threads (``asyncio.to_thread``, a cache without
    ``blocking = False``) is not waited for before time jumps: keep fake-time tests in
    memory (``cache = "memory"``).

    ``asleep`` raises ``RuntimeError`` when called on another event loop (its time would
    not be this clock's).
    """

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        """A new event loop on this clock's fake time."""
        return _FakeTimeLoop(self)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on a new loop on this clock (as ``asyncio.run``)."""
        with asyncio.Runner(loop_factory=self.new_event_loop) as runner:
            return runner.run(coro)

    async def asleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        if getattr(loop, "fake_clock", None) is not self:
            raise RuntimeError(
                "LoopClock.asleep needs the clock's own event loop: run the test with "
                "clock.run(main()) or asyncio.Runner(loop_factory=clock.new_event_loop)"
            )
        with self._lock:
            self.sleeps.append(seconds)
        await asyncio.sleep(seconds)
