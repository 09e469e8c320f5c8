"""Fault scripts and interleavings from ``modelbus.testing.strategies``: a FakeProvider
replays a script reply by reply (streams cut where told), and Turns plays a schedule."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelbus import ChatRequest, Message
from modelbus.errors import APIConnectionError, ProviderError
from modelbus.testing import FakeProvider, FakeReply, make_client
from modelbus.testing.strategies import Turns, fault_scripts, interleavings

REQ = ChatRequest(messages=(Message("user", "hi"),), model="fake-model")


def _expected(reply: FakeReply) -> tuple[str, object]:
    if reply.cut_after is not None:
        return "cut", reply.cut_after
    if reply.error is not None:
        return "error", type(reply.error)
    assert reply.response is not None
    return "text", reply.response.content


@settings(deadline=None)
@given(fault_scripts(min_size=1, max_size=6))
def test_a_fake_provider_replays_a_fault_script_in_order(script: list[FakeReply]) -> None:
    fake = FakeProvider().enqueue(*script)
    for reply in script:
        kind, value = _expected(reply)
        if kind == "text":
            assert fake.chat(REQ).content == value
        elif kind == "error":
            with pytest.raises(value):  # type: ignore[call-overload]
                fake.chat(REQ)
        else:
            with pytest.raises(APIConnectionError, match=f"after {value} chunks"):
                fake.chat(REQ)
    assert fake.chat(REQ).content == "echo: hi"  # past the script: the default answer


@settings(deadline=None)
@given(fault_scripts(min_size=1, max_size=4, transport=False))
def test_streams_are_cut_after_the_scripted_chunks(script: list[FakeReply]) -> None:
    fake = FakeProvider().enqueue(*script)
    for reply in script:
        got: list[object] = []
        try:
            got.extend(fake.stream(REQ))
        except (APIConnectionError, ProviderError) as exc:
            got.append(type(exc))
        if reply.cut_after is not None:
            assert got[-1] is APIConnectionError and len(got) - 1 <= reply.cut_after
        elif reply.error is not None:
            assert got == [type(reply.error)]
        else:
            assert got[-1] is not APIConnectionError


@settings(deadline=None)
@given(fault_scripts(max_size=8))
def test_scripts_cover_what_providers_do(script: list[FakeReply]) -> None:
    for r in script:
        hint = getattr(r.error, "retry_after_s", None)
        assert hint is None or 0 <= hint <= 3


def test_fault_scripts_draw_every_kind() -> None:
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None)
    @given(fault_scripts(min_size=1, max_size=1))
    def draw(script: list[FakeReply]) -> None:
        r = script[0]
        if r.cut_after is not None:
            seen.add("cut")
        elif r.error is None:
            seen.add("text")
        elif isinstance(r.error, ProviderError) and r.error.retry_after_s is not None:
            seen.add("retry-after")
        else:
            seen.add(type(r.error).__name__)

    draw()
    assert {"cut", "text", "retry-after", "APIConnectionError", "APITimeoutError"} <= seen
    assert {"RateLimitError", "ServerError", "BadRequestError"} & seen


@settings(deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.data())
def test_interleavings_are_schedules_of_every_step(tasks: int, steps: int, data) -> None:
    schedule = data.draw(interleavings(tasks, steps))
    assert Counter(schedule) == {t: steps for t in range(tasks)}


@settings(max_examples=25, deadline=None)
@given(interleavings(3, 2))
def test_turns_let_threads_through_in_schedule_order(schedule: list[int]) -> None:
    turns, passed, lock = Turns(schedule), [], threading.Lock()

    def task(i: int) -> None:
        for _ in range(2):
            with turns.turn(i), lock:
                passed.append(i)

    threads = [threading.Thread(target=task, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert passed == schedule


@settings(deadline=None)
@given(interleavings(4, 2))
def test_turns_let_tasks_through_in_schedule_order(schedule: list[int]) -> None:
    turns, passed = Turns(schedule), []

    async def task(i: int) -> None:
        for _ in range(2):
            async with turns.aturn(i):
                await asyncio.sleep(0)  # other tasks run, but cannot take a turn
                passed.append(i)

    async def main() -> None:
        await asyncio.gather(*(task(i) for i in range(4)))

    asyncio.run(main())
    assert passed == schedule


def test_a_thread_whose_turn_never_comes_times_out() -> None:
    with pytest.raises(TimeoutError, match="task 1 waited"):
        Turns([0, 1], timeout_s=0.05).take(1)


@settings(deadline=None)
@given(fault_scripts(max_size=2, statuses=(429, 500, 503), transport=False, cuts=False))
def test_two_transient_faults_are_retried_away(script: list[FakeReply]) -> None:
    """The testing guide's example."""
    provider = FakeProvider().enqueue(*script)
    with make_client(provider, {"modelbus": {"cache": "none"}}) as client:
        assert client.chat("hi").content
    assert provider.calls == next(
        (i + 1 for i, r in enumerate(script) if r.error is None), len(script) + 1
    )
