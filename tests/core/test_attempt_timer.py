"""The async attempt timer and stream idle timer (``modelbus._engine.timeouts``) on a
starved event loop: an answer (or a chunk) that arrived in time but is read in the same
loop pass as the timer fires is kept, not cut as a timeout (then retried: the request
sent again; mid-stream: a stream that was not stalled failed). Fake time
(:class:`~modelbus.testing.LoopClock`) over a real socket pair: the loop's order of
events is what is under test, and it is the same on every run."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from modelbus import ChatRequest, ChatResponse
from modelbus._engine.timeouts import CallLimits, idle_bounded, within
from modelbus.errors import APITimeoutError
from modelbus.testing import FakeProvider, FakeReply, LoopClock, make_client

TIMEOUT_S = 5.0


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def answer_at(
    clock: LoopClock, sock: socket.socket, at_s: float, busy_s: float
) -> asyncio.TimerHandle:
    """At fake time ``at_s`` the server's answer reaches the socket, and the loop is
    then busy for ``busy_s`` (other tasks' work: the clock moves, no I/O is read)."""

    def arrive() -> None:
        sock.send(b"first chunk")
        clock.advance(busy_s)

    return asyncio.get_running_loop().call_at(at_s, arrive)


async def attempt(sock: socket.socket) -> bytes:
    async with CallLimits(timeout_s=TIMEOUT_S).aattempt(0.0):
        return await asyncio.get_running_loop().sock_recv(sock, 100)


@pytest.mark.parametrize("busy_s", [0.0, 1.0, 30.0])
def test_an_answer_that_arrived_in_time_is_kept_when_read_late(
    pair: tuple[socket.socket, socket.socket], busy_s: float
) -> None:
    # busy_s > 0: the loop next looks at its sockets after the timer is due, and finds
    # the answer and the timer ready in the same pass.
    clock = LoopClock()
    a, b = pair

    async def main() -> bytes:
        answer_at(clock, b, 4.5, busy_s)
        return await attempt(a)

    assert clock.run(main()) == b"first chunk"


def test_an_answer_that_arrives_after_the_timeout_is_a_timeout(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    clock = LoopClock()
    a, b = pair

    async def main() -> bytes:
        answer_at(clock, b, 5.5, 0.0)
        return await attempt(a)

    with pytest.raises(APITimeoutError, match=r"no answer within 5s \(timeout=5s\)"):
        clock.run(main())
    assert clock.now == pytest.approx(TIMEOUT_S)


def test_the_sync_side_of_an_async_provider_keeps_a_late_read_answer_too(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    clock = LoopClock()
    a, b = pair
    limits = CallLimits(timeout_s=TIMEOUT_S)

    async def main() -> bytes:
        answer_at(clock, b, 4.5, 1.0)
        recv = asyncio.get_running_loop().sock_recv(a, 100)
        return await within(recv, limits._limits(TIMEOUT_S), "fake")

    assert clock.run(main()) == b"first chunk"


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    clock = LoopClock()

    async def main() -> None:
        async def waits() -> None:
            async with CallLimits(timeout_s=TIMEOUT_S).aattempt(0.0):
                await asyncio.sleep(60)

        task = asyncio.create_task(waits())
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    clock.run(main())
    assert clock.now == pytest.approx(1.0)


def test_the_timer_cancels_one_loop_pass_late_not_one_second() -> None:
    clock = LoopClock()

    async def main() -> None:
        async with CallLimits(timeout_s=TIMEOUT_S).aattempt(0.0):
            await asyncio.Event().wait()  # never answers

    with pytest.raises(APITimeoutError):
        clock.run(main())
    assert clock.now == TIMEOUT_S


async def chunks(sock: socket.socket) -> AsyncIterator[bytes]:
    """A stream's chunks as they come off the socket (one per read)."""
    loop = asyncio.get_running_loop()
    while data := await loop.sock_recv(sock, 100):
        yield data


def idle_stream(
    clock: LoopClock, pair: tuple[socket.socket, socket.socket], at_s: float, busy_s: float
) -> list[bytes]:
    """A stream (idle timeout 10 s) whose first chunk is there at once and whose second
    arrives ``at_s`` seconds after the first was read, the loop then busy ``busy_s``."""
    a, b = pair

    async def main() -> list[bytes]:
        b.send(b"first")
        got = []
        async for chunk in idle_bounded(chunks(a), CallLimits(stream_idle_timeout_s=10.0)):
            got.append(chunk)
            if len(got) == 2:
                break
            answer_at(clock, b, clock.now + at_s, busy_s)
        return got

    return clock.run(main())


@pytest.mark.parametrize("busy_s", [0.0, 1.0, 30.0])
def test_a_chunk_that_arrived_within_the_idle_timeout_is_kept_when_read_late(
    pair: tuple[socket.socket, socket.socket], busy_s: float
) -> None:
    assert idle_stream(LoopClock(), pair, 9.5, busy_s) == [b"first", b"first chunk"]


def test_a_stream_silent_for_its_idle_timeout_still_stalls(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    clock = LoopClock()
    with pytest.raises(APITimeoutError, match="sent nothing for 10s"):
        idle_stream(clock, pair, 10.5, 0.0)
    assert clock.now == pytest.approx(10.0)


class SocketStreams(FakeProvider):
    """Streams whose first chunk waits for a byte on the request's own socket (one per
    prompt), as a real stream waits for the server's first event."""

    def __init__(self, socks: dict[str, socket.socket]) -> None:
        super().__init__()
        self.socks = socks

    async def _atimed(self, request: ChatRequest) -> FakeReply | ChatResponse:
        got = self._take(request)
        prompt = request.messages[-1].text or ""
        await asyncio.get_running_loop().sock_recv(self.socks[prompt], 1)
        return got


def test_concurrent_streams_answered_in_time_by_a_busy_loop_are_not_sent_again() -> None:
    """50 streams whose servers all answer at 4.5 s (timeout 5 s) while the loop is busy
    until 5.5 s: the loop reads every answer in the pass the attempts' time runs out,
    and keeps them all: each request is sent once."""
    n = 50
    pairs = [socket.socketpair() for _ in range(n)]
    for a, _ in pairs:
        a.setblocking(False)
    prompts = [f"q{i}" for i in range(n)]
    provider = SocketStreams({p: a for p, (a, _) in zip(prompts, pairs, strict=True)})
    clock = LoopClock()
    client = make_client(provider, {"modelbus": {"cache": "none"}}, clock=clock)

    def arrive() -> None:
        for _, b in pairs:
            b.send(b"x")
        clock.advance(1.0)

    async def one(prompt: str) -> str:
        parts = [c.content or "" async for c in client.astream(prompt, timeout=TIMEOUT_S)]
        return "".join(parts)

    async def main() -> list[str]:
        asyncio.get_running_loop().call_at(4.5, arrive)
        return list(await asyncio.gather(*(one(p) for p in prompts)))

    try:
        assert clock.run(main()) == [f"echo: {p}" for p in prompts]
        assert provider.calls == n
    finally:
        client.close()
        for a, b in pairs:
            a.close()
            b.close()
