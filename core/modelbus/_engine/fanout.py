"""Single-flight for streams: one provider stream, replayed to every identical caller.

The first stream for a cache key (the leader) opens a :class:`Fanout` over the
producing generator; identical streams that start while it is open join it and read the
same chunks from the start, at their own pace, so a slow or abandoned leader never
stalls the others; the producer is closed when its last consumer leaves early. Between
threads, whichever consumer needs a chunk nobody has read yet pulls it from the
producer, under a lock. Between tasks (:class:`AsyncFanout`), a task of the fanout's
own reads the producer and the consumers wait for its chunks: a task can be cancelled
at any await, and a cancellation thrown into the shared producer would end it for all.

A failure is raised as is to one consumer (the one whose pull met it; between tasks,
the first to reach it) and to every other consumer as its own copy
(:func:`modelbus._engine.singleflight.follower_error`), at the same point of the stream.
Only open fanouts are joined: a finished or abandoned one leaves the registry, so later
calls find the answer in the cache or call again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Generic, TypeVar

from .singleflight import follower_error

T = TypeVar("T")

__all__ = ["AsyncFanout", "AsyncFlights", "Fanout", "Flights"]


def _copy(error: BaseException) -> BaseException:
    if isinstance(error, Exception):
        return follower_error(error)
    # The puller was interrupted (KeyboardInterrupt, a cancelled task): the shared
    # stream cannot go on, and the others must not see that interruption as theirs.
    return RuntimeError("the stream shared with an identical call was interrupted")


class Fanout(Generic[T]):
    """One producer's items, replayed to any number of consumers (threads)."""

    def __init__(self, source: Iterator[T], on_end: Callable[[], None]) -> None:
        self._source = source
        self._on_end = on_end
        self._items: list[T] = []
        self._pull = threading.Lock()
        self._state = threading.Lock()
        self._ended = False
        self._error: BaseException | None = None
        self._consumers = 0

    def join(self) -> bool:
        """Count one more consumer; ``False`` when the fanout has already ended."""
        with self._state:
            if self._ended:
                return False
            self._consumers += 1
            return True

    def _end(self, error: BaseException | None = None) -> None:
        self._error, self._ended = error, True
        self._on_end()

    def consume(self) -> Iterator[T]:
        """The items from the first, pulling the next ones from the producer when this
        consumer is ahead; call :meth:`join` first."""
        i = 0
        items = self._items
        try:
            while True:
                if i < len(items):
                    i += 1
                    yield items[i - 1]
                    continue
                if self._ended:
                    if self._error is not None:
                        raise _copy(self._error) from self._error
                    return
                with self._pull:
                    if i < len(items) or self._ended:
                        continue  # another consumer pulled meanwhile
                    try:
                        item = next(self._source)
                    except StopIteration:
                        self._end()
                        continue
                    except BaseException as exc:
                        self._end(exc)
                        raise
                    items.append(item)
        finally:
            self._leave()

    def _leave(self) -> None:
        with self._state:
            self._consumers -= 1
            abandoned = self._consumers == 0 and not self._ended
            if abandoned:
                self._ended = True
        if abandoned:  # the last consumer left early: stop the provider's stream
            with self._pull:
                close = getattr(self._source, "close", None)
                if close is not None:
                    close()
            self._on_end()


class Flights:
    """The open fanouts of one client, by cache key (threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, Fanout[object]] = {}

    def join(self, key: str, produce: Callable[[], Iterator[T]]) -> tuple[Iterator[T], bool]:
        """The items of the open stream for ``key`` and ``True`` (shared), or of a new one
        started with ``produce()`` and ``False`` (this caller leads)."""
        with self._lock:
            fan = self._open.get(key)
            if fan is not None and fan.join():
                return fan.consume(), True  # type: ignore[return-value]

            def end() -> None:
                with self._lock:
                    if self._open.get(key) is new:
                        del self._open[key]

            new: Fanout[object] = Fanout(produce(), end)
            new.join()
            self._open[key] = new
        return new.consume(), False  # type: ignore[return-value]

    def in_flight(self) -> dict[str, int]:
        """Every key with an open stream, and how many consumers read it."""
        with self._lock:
            return {k: f._consumers for k, f in self._open.items()}


class AsyncFanout(Generic[T]):
    """The asyncio twin of :class:`Fanout` (one event loop).

    The producer is read by a task of its own (the pump), from the first consumer's
    first wait to the producer's end, and the consumers wait for its items: a consumer
    cancelled while it waits (a client that disconnected, its own ``asyncio.timeout``)
    only stops waiting, where reading the producer in the consumer's own task would have
    thrown the cancellation into the shared stream and ended it for everyone. The last
    consumer to leave early cancels the pump and closes the producer."""

    def __init__(self, source: AsyncIterator[T], on_end: Callable[[], None]) -> None:
        self._source = source
        self._on_end = on_end
        self._items: list[T] = []
        self._pump: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._ended = False
        self._error: BaseException | None = None
        self._error_raised = False  # the original went to one consumer; copies to the rest
        self._consumers = 0

    def join(self) -> bool:
        """Count one more consumer; ``False`` when the fanout has already ended."""
        if self._ended:
            return False
        self._consumers += 1
        return True

    def _wake(self) -> bool:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)
        return bool(waiters)

    async def _read(self) -> None:
        items = self._items
        try:
            async for item in self._source:
                items.append(item)
                if self._wake() and len(items) == 1:
                    # Those waiting take the first chunk before the next is read: their
                    # time to first chunk (and their observers' FirstChunk, before the
                    # answer is stored) does not wait for a producer that has the rest
                    # at once. Later chunks come as the producer yields to the loop.
                    await asyncio.sleep(0)
        except Exception as exc:  # raised to the consumers (see consume)
            self._error = exc
        except BaseException as exc:  # cancelled by the last consumer leaving, or interrupted
            if not self._ended:
                self._error = exc
                self._ended = True
                self._on_end()
            self._wake()
            raise
        if not self._ended:
            self._ended = True
            self._on_end()
        self._wake()

    async def consume(self) -> AsyncIterator[T]:
        """As :meth:`Fanout.consume`; a failure is raised as is to the first consumer to
        reach it, and as a copy to every other."""
        i = 0
        items = self._items
        try:
            while True:
                if i < len(items):
                    i += 1
                    yield items[i - 1]
                    continue
                if self._ended:
                    error = self._error
                    if error is None:
                        return
                    if self._error_raised:
                        raise _copy(error) from error
                    self._error_raised = True
                    raise error
                if self._pump is None:
                    self._pump = asyncio.ensure_future(self._read())
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter  # cancelling this consumer cancels its own waiter only
        finally:
            self._consumers -= 1
            if self._consumers == 0 and not self._ended:
                self._ended = True
                self._on_end()
                pump = self._pump
                if pump is not None:  # the producer's own clean-up runs in the pump
                    pump.cancel()
                    await asyncio.wait((pump,))
                aclose = getattr(self._source, "aclose", None)
                if aclose is not None:
                    await aclose()


class AsyncFlights:
    """The open fanouts of one client on one event loop, by cache key."""

    def __init__(self) -> None:
        self._open: dict[str, AsyncFanout[object]] = {}

    def join(
        self, key: str, produce: Callable[[], AsyncIterator[T]]
    ) -> tuple[AsyncIterator[T], bool]:
        """As :meth:`Flights.join`, for the tasks of one event loop."""
        fan = self._open.get(key)
        if fan is not None and fan.join():
            return fan.consume(), True  # type: ignore[return-value]

        def end() -> None:
            if self._open.get(key) is new:
                del self._open[key]

        new: AsyncFanout[object] = AsyncFanout(produce(), end)
        new.join()
        self._open[key] = new
        return new.consume(), False  # type: ignore[return-value]

    def in_flight(self) -> dict[str, int]:
        """Every key with an open stream, and how many consumers read it."""
        return {k: f._consumers for k, f in self._open.items()}
