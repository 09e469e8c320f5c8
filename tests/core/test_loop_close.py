"""``modelbus.plugin.close_with_loop``: a per-event-loop resource closed as its loop shuts
down, while the loop can still run the close."""

from __future__ import annotations

import asyncio

import pytest

from modelbus.plugin import close_with_loop


class Resource:
    """Records when it was closed, and whether its loop could still run coroutines."""

    def __init__(self) -> None:
        self.closed_on: list[tuple[asyncio.AbstractEventLoop, bool]] = []
        self.handle: object = None

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0)  # a real await: the loop still runs it
        self.closed_on.append((loop, loop.is_closed()))


def test_asyncio_run_closes_the_resource_before_its_loop() -> None:
    r = Resource()
    seen: list[asyncio.AbstractEventLoop] = []

    async def use() -> None:
        seen.append(asyncio.get_running_loop())
        r.handle = close_with_loop(r.aclose)  # from sync code in the loop: nothing awaited
        assert r.closed_on == []

    asyncio.run(use())
    assert r.closed_on == [(seen[0], False)]


def test_each_loop_closes_its_own() -> None:
    rs = [Resource(), Resource()]

    async def use(r: Resource) -> None:
        r.handle = close_with_loop(r.aclose)

    for r in rs:
        asyncio.run(use(r))
    assert [len(r.closed_on) for r in rs] == [1, 1]
    assert rs[0].closed_on[0][0] is not rs[1].closed_on[0][0]


def test_a_runner_closes_it_when_it_closes() -> None:
    r = Resource()

    async def use() -> None:
        r.handle = close_with_loop(r.aclose)

    with asyncio.Runner() as runner:
        runner.run(use())
        runner.run(asyncio.sleep(0))
        assert r.closed_on == []  # the loop lives on between runs
    assert len(r.closed_on) == 1


def test_outside_a_running_loop_it_refuses() -> None:
    r = Resource()
    with pytest.raises(RuntimeError):
        close_with_loop(r.aclose)
