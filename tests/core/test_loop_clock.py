"""LoopClock: async sleeps that yield, so concurrent tasks overlap in fake time."""

from __future__ import annotations

import asyncio
import time

import pytest

from modelbus.testing import FakeClock, FakeProvider, FakeReply, LoopClock, make_client


def test_tasks_sleeping_together_wake_in_fake_time_order() -> None:
    clock = LoopClock(start=100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.asleep(seconds)
        woke.append((name, clock.monotonic()))

    async def main() -> None:
        await asyncio.gather(sleeper("long", 3600.0), sleeper("short", 1.5))

    t0 = time.perf_counter()
    clock.run(main())
    assert woke == [("short", 101.5), ("long", 3700.0)]
    assert clock.sleeps == [3600.0, 1.5] and clock.now == 3700.0
    assert time.perf_counter() - t0 < 5  # an hour of fake time, no real waiting


def test_the_existing_fake_clock_still_runs_async_sleepers_one_after_the_other() -> None:
    clock = FakeClock()
    woke: list[float] = []

    async def sleeper(seconds: float) -> None:
        await clock.asleep(seconds)
        woke.append(clock.monotonic())

    async def main() -> None:
        await asyncio.gather(sleeper(3.0), sleeper(1.0))

    asyncio.run(main())
    assert woke == [3.0, 4.0]  # no overlap: why LoopClock exists


def test_asyncio_timeouts_and_call_later_run_on_fake_time() -> None:
    clock = LoopClock()
    fired: list[float] = []

    async def main() -> None:
        asyncio.get_running_loop().call_later(2.0, lambda: fired.append(clock.now))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5.0):
                await clock.asleep(60.0)
        assert clock.now == 5.0

    clock.run(main())
    assert fired == [2.0]


def test_work_in_threads_is_awaited_for_real() -> None:
    clock = LoopClock()

    async def main() -> int:
        return await asyncio.to_thread(lambda: 41 + 1)

    assert clock.run(main()) == 42
    assert clock.now == 0.0


def test_asleep_on_another_loop_names_the_way_to_run_it() -> None:
    clock = LoopClock()
    with pytest.raises(RuntimeError, match=r"clock\.run\(main\(\)\)"):
        asyncio.run(clock.asleep(1.0))


def test_concurrent_calls_overlap_through_a_real_client() -> None:
    """Ten different prompts, each answered after 2 fake seconds: together they take 2
    fake seconds, not 20, and ten identical ones make one provider call."""
    clock = LoopClock()
    provider = FakeProvider(clock=clock)
    client = make_client(provider, {"modelbus": {"cache": "memory"}}, clock=clock)
    provider.enqueue(*[FakeReply(latency_s=2.0)] * 10)

    async def main() -> list[str | None]:
        rs = await asyncio.gather(*(client.achat(f"q{i}") for i in range(10)))
        return [r.content for r in rs]

    clock.run(main())
    assert clock.now == 2.0 and provider.calls == 10

    provider.enqueue(FakeReply(latency_s=2.0))

    async def same() -> list[str | None]:
        rs = await asyncio.gather(*(client.achat("same") for _ in range(10)))
        return [r.content for r in rs]

    assert clock.run(same()) == ["echo: same"] * 10
    assert provider.calls == 11 and clock.now == 4.0
    assert client.usage_totals.shared == 9
    client.close()
