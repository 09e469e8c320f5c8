"""The contract's stalled attempt (``modelbus.testing._stall``): only the call the stall
meets runs under the short timeout, so a loaded machine's slow answers elsewhere never
time out; an attempt that ended before reaching the server is counted apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from modelbus import attempt_limits
from modelbus.testing._stall import STALL_TIMEOUT_S, FirstCallStalls, stall_limits


class _Seen:
    """A provider recording the attempt timeout each call sees (seconds, or None)."""

    name = "seen"

    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def chat(self, req: Any) -> str:
        self.timeouts.append(attempt_limits().timeout(None))
        return "ok"

    def stream(self, req: Any) -> Iterator[str]:
        self.timeouts.append(attempt_limits().timeout(None))
        yield "a"
        self.timeouts.append(attempt_limits().timeout(None))  # after the first chunk
        yield "b"

    async def astream(self, req: Any) -> AsyncIterator[str]:
        self.timeouts.append(attempt_limits().timeout(None))
        yield "a"
        yield "b"


def _short(t: float | None) -> bool:
    return t is not None and 0 < t <= STALL_TIMEOUT_S


def test_only_the_first_call_gets_the_short_timeout() -> None:
    inner = _Seen()
    p = FirstCallStalls(inner)
    assert p.chat("q") == "ok" and p.chat("q") == "ok"
    assert _short(inner.timeouts[0]) and inner.timeouts[1] is None
    assert p.early == 0 and p.name == "seen"


def test_a_method_the_provider_lacks_stays_missing() -> None:
    p = FirstCallStalls(_Seen())
    assert getattr(p, "achat", None) is None and getattr(p, "embed", None) is None


def test_the_limits_stay_until_the_stall_met_a_request() -> None:
    inner = _Seen()
    served = iter([False, True])
    p = FirstCallStalls(inner, lambda: next(served))
    for _ in range(3):
        p.chat("q")
    assert [_short(t) for t in inner.timeouts] == [True, True, False]
    assert p.early == 1  # the first attempt ended before the server saw it


def test_a_stream_sets_the_limits_around_its_first_chunk_only() -> None:
    inner = _Seen()
    p = FirstCallStalls(inner)
    assert list(p.stream("q")) == ["a", "b"]
    assert _short(inner.timeouts[0]) and inner.timeouts[1] is None
    assert attempt_limits().timeout(None) is None  # nothing left set in the caller


def test_an_async_stream_too() -> None:
    inner = _Seen()
    p = FirstCallStalls(inner)

    async def run() -> list[str]:
        return [c async for c in p.astream("q")]

    assert asyncio.run(run()) == ["a", "b"]
    assert _short(inner.timeouts[0])


@pytest.mark.parametrize("stalls", [True, False])
def test_stall_limits(stalls: bool) -> None:
    with stall_limits(stalls):
        assert _short(attempt_limits().timeout(None)) is stalls
    assert attempt_limits().timeout(None) is None
