"""Per-event-loop resources closed while their loop can still run a coroutine:
:func:`close_with_loop`.

An asyncio connection belongs to the loop that opened it, and closing it is a coroutine
(aiohttp's ``ClientSession.close``, redis-py's ``Redis.aclose``). A plugin keeping one
per loop cannot close it from sync code once that loop has stopped, and closing a loop
does not close its transports: ``asyncio.run(client.achat(...))`` followed by
``client.close()`` left the sockets open until garbage collection, with aiohttp's
"Unclosed client session" on stderr. ``asyncio.run`` and ``asyncio.Runner`` call
``loop.shutdown_asyncgens()`` before closing the loop, which closes every async
generator the loop saw start (``sys.set_asyncgen_hooks``, PEP 525): one started here
runs the resource's close then.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["close_with_loop"]


async def _closer(aclose: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await aclose()


def close_with_loop(aclose: Callable[[], Awaitable[object]]) -> object:
    """Run ``await aclose()`` when the running event loop shuts down through
    ``loop.shutdown_asyncgens()`` (``asyncio.run``, ``asyncio.Runner``, pytest-asyncio),
    before the loop closes: for a resource of this loop that a sync ``close()`` cannot
    reach once the loop is gone.

    Call it from inside the loop (sync code is fine: nothing is awaited here) and keep
    the returned handle as long as the resource lives: the loop holds it weakly, and a
    handle collected early runs ``aclose`` on the loop then (asyncio's finalizer hook).
    ``aclose`` may run after the resource was closed already, so closing twice must be
    harmless. A loop closed without ``shutdown_asyncgens`` (a bare ``loop.close()``)
    runs nothing. Raises ``RuntimeError`` outside a running loop."""
    import asyncio

    asyncio.get_running_loop()  # the hooks that register the generator are the loop's
    agen = _closer(aclose)
    # One step by hand: the generator starts (the loop's firstiter hook records it) and
    # stops at its yield.
    with contextlib.suppress(StopIteration):
        agen.__anext__().send(None)  # type: ignore[attr-defined]
    return agen
