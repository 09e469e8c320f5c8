"""``asyncio.timeout`` for a provider attempt, except that an answer read in the same
loop pass as the timer fires is kept.

On a busy event loop (200 concurrent streams, say) the loop may come back to its
sockets only after an attempt's time is up, and then find the answer — sent in time —
and the timer ready together. Within one pass it runs the socket callbacks first, which
only *schedule* the waiting task's wake-up for the next pass, and then the due timers:
``asyncio.timeout`` cancels the task there, the answer already in its buffers is thrown
away, and the retry sends the request again (for a stream: an answer generated, and
billed, twice). :class:`AttemptTimeout` lets that pass end first: when its time is up it
cancels the task one pass later, after the wake-ups already scheduled, so an attempt
whose answer was read in the pass the time ran out completes. An attempt still waiting
then is cancelled as before; the extra pass costs microseconds, never fake or real
seconds. The same reasoning as ``modelbus_openai._limits.SseGuard``, which keeps a
first event read after ``first_by``.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["AttemptTimeout"]


class AttemptTimeout:
    """``async with AttemptTimeout(delay):`` — ``delay`` seconds (loop time) after
    entering, the task is cancelled one loop pass later (module doc) and the block
    raises ``TimeoutError``, as with ``asyncio.timeout``; :meth:`expired` says whether
    the time ran out. A cancellation from elsewhere is not turned into a timeout."""

    __slots__ = ("_cancelling", "_delay", "_expired", "_handle", "_task")

    def __init__(self, delay: float) -> None:
        self._delay = delay
        self._expired = False
        self._handle: asyncio.Handle | None = None
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0

    def expired(self) -> bool:
        """Whether the time ran out and the block was cancelled for it."""
        return self._expired

    async def __aenter__(self) -> AttemptTimeout:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("AttemptTimeout must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        loop = asyncio.get_running_loop()
        self._handle = loop.call_at(loop.time() + self._delay, self._due)
        return self

    def _due(self) -> None:
        # The socket callbacks of this pass ran before this timer: a wake-up they
        # scheduled runs before the call_soon below, so the task sees its answer first.
        assert self._task is not None
        self._handle = self._task.get_loop().call_soon(self._cancel)

    def _cancel(self) -> None:
        assert self._task is not None
        self._handle = None
        self._expired = True
        self._task.cancel()

    async def __aexit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._expired:
            assert self._task is not None
            # As asyncio.timeout: our cancellation becomes TimeoutError unless the task
            # was also cancelled by someone else, whose cancellation goes on.
            if self._task.uncancel() <= self._cancelling and et is asyncio.CancelledError:
                raise TimeoutError from ev
