"""Hypothesis strategies for fault scripts (what a :class:`FakeProvider` answers, attempt
by attempt) and for task interleavings (the order in which concurrent tasks or threads
take their steps), with :class:`Turns`, the barrier that plays an interleaving."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager

from hypothesis import strategies as st

from .._wire.types import ChatResponse, Message, Usage
from ..errors import APIConnectionError, APITimeoutError
from ._fake import FakeReply, _error

__all__ = ["Turns", "fake_replies", "fault_scripts", "interleavings"]

# Statuses a provider really answers with under load or by mistake: retryable
# (429 rate limit, 500/502/503/529 server errors) and not (400, 401, 404).
FAULT_STATUSES = (429, 500, 502, 503, 529, 400, 401, 404)


def _text_reply(text: str, latency_s: float) -> FakeReply:
    resp = ChatResponse(
        id="fake-scripted",
        model="fake-model",
        message=Message("assistant", text),
        finish_reason="stop",
        usage=Usage(10, 5, 15),
    )
    return FakeReply(resp, latency_s=latency_s)


def _status_reply(status: int, retry_after_s: int | None, latency_s: float) -> FakeReply:
    headers = {} if retry_after_s is None else {"retry-after": str(retry_after_s)}
    err = _error(status, f"scripted {status}", headers, "fake", None)
    return FakeReply(error=err, latency_s=latency_s)


def _transport_reply(kind: str, latency_s: float) -> FakeReply:
    if kind == "timeout":
        return FakeReply(error=APITimeoutError("no answer in time (scripted)", provider="fake"))
    return FakeReply(
        error=APIConnectionError("connection reset by peer (scripted)", provider="fake"),
        latency_s=latency_s,
    )


def fake_replies(
    *,
    statuses: Sequence[int] = FAULT_STATUSES,
    retry_after_s: st.SearchStrategy[int | None] | None = None,
    latency_s: st.SearchStrategy[float] | None = None,
    transport: bool = True,
    cuts: bool = True,
    texts: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[FakeReply]:
    """One :class:`FakeReply`: a text answer, an HTTP error of one of ``statuses`` (the
    :class:`~modelbus.errors.ProviderError` subclass a provider raises for it, with a
    ``Retry-After`` header in whole seconds drawn from ``retry_after_s``, default none or
    0-3 s), a connection reset or a timeout (``transport``), or an answer whose stream
    (and body) is cut after 0-3 chunks (``cuts``). ``latency_s`` draws each reply's
    latency in seconds (default 0)."""
    hints = retry_after_s if retry_after_s is not None else st.none() | st.integers(0, 3)
    lat = latency_s if latency_s is not None else st.just(0.0)
    words = texts if texts is not None else st.text("abc xyz", min_size=1, max_size=12)
    kinds = [
        st.builds(_text_reply, words, lat),
        st.builds(_status_reply, st.sampled_from(tuple(statuses)), hints, lat),
    ]
    if transport:
        kinds.append(st.builds(_transport_reply, st.sampled_from(("reset", "timeout")), lat))
    if cuts:
        kinds.append(
            st.builds(
                lambda r, k: FakeReply(r.response, latency_s=r.latency_s, cut_after=k),
                st.builds(_text_reply, words, lat),
                st.integers(0, 3),
            )
        )
    return st.one_of(kinds)


def fault_scripts(
    *, min_size: int = 0, max_size: int = 5, **kinds: object
) -> st.SearchStrategy[list[FakeReply]]:
    """A script for ``FakeProvider.enqueue(*script)``: ``min_size`` to ``max_size``
    replies from :func:`fake_replies` (``kinds`` are its keyword arguments). Replies past
    the script are the provider's default answer, so a script of faults followed by
    nothing means "these attempts fail, then it works"."""
    return st.lists(fake_replies(**kinds), min_size=min_size, max_size=max_size)  # type: ignore[arg-type]


def interleavings(tasks: int, steps: int = 1) -> st.SearchStrategy[list[int]]:
    """A schedule for :class:`Turns`: the order in which ``tasks`` tasks (numbered from 0)
    take ``steps`` turns each, as a list of task numbers (every number ``steps`` times).
    Shrinks towards running the tasks one after the other, in order."""
    base = [t for t in range(tasks) for _ in range(steps)]
    return st.permutations(base)


class Turns:
    """Plays a schedule from :func:`interleavings`. A step of task ``i`` runs in
    ``with turns.turn(i):`` (threads) or ``async with turns.aturn(i):`` (tasks): it
    starts only when the schedule says it is ``i``'s turn, and the next turn starts when
    it ends. ``take(i)`` / ``await atake(i)`` wait for the turn and pass it on at once
    (the step then runs alongside the next ones: use it before a call that should be in
    flight with others). A thread waiting longer than ``timeout_s`` real seconds raises
    ``TimeoutError`` (a task that stopped taking its turns, a schedule that does not
    match the tasks)."""

    def __init__(self, schedule: Sequence[int], *, timeout_s: float = 10.0) -> None:
        self.schedule = list(schedule)
        self.position = 0
        self.timeout_s = timeout_s
        self._cond = threading.Condition()
        self._acond: asyncio.Condition | None = None

    @contextmanager
    def turn(self, task: int) -> Iterator[None]:
        with self._cond:
            if not self._cond.wait_for(lambda: self._is_turn(task), self.timeout_s):
                raise TimeoutError(f"task {task} waited for its turn at {self.position}")
        try:
            yield
        finally:
            with self._cond:
                self.position += 1
                self._cond.notify_all()

    def take(self, task: int) -> None:
        with self.turn(task):
            pass

    @asynccontextmanager
    async def aturn(self, task: int) -> AsyncIterator[None]:
        if self._acond is None:
            self._acond = asyncio.Condition()
        cond = self._acond
        async with cond:
            await cond.wait_for(lambda: self._is_turn(task))
        try:
            yield
        finally:
            async with cond:
                self.position += 1
                cond.notify_all()

    async def atake(self, task: int) -> None:
        async with self.aturn(task):
            pass

    def _is_turn(self, task: int) -> bool:
        return self.position < len(self.schedule) and self.schedule[self.position] == task
