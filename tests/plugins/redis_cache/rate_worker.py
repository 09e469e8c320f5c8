"""A worker process for the shared-rate test: ``python rate_worker.py CONFIG_JSON MODE N``.

Builds a real client (``modelbus.testing.make_client``: a FakeProvider, a FakeClock, the
config's ``redis`` rate limiter), prints ``ready``, waits for a line on stdin, then makes
``N`` calls at once — ``MODE`` ``async``: ``N`` tasks of ``achat``; ``threads``: ``N``
threads of ``chat`` released by a barrier — and prints ``SENDS [[lo, hi]...]``: for each
call, the wall-clock seconds between which it would have been sent: the limiter's
reservation happened on Redis's clock (``TIME``, the same system clock as
``time.time()``) at some moment while ``acquire`` ran, so the send is that moment plus
the wait Redis asked for, between ``start + wait`` and ``end + wait`` (the FakeClock skips
the wait itself, so the test needs no real minutes). Then ``CALLS n``: the provider calls
made.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any

from modelbus.testing import FakeProvider, make_client


class _Recording:
    """The client's limiter, recording when each call would be sent (an interval)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sends: list[tuple[float, float]] = []

    def acquire(self, key: str, tokens: int, limit: Any, clock: Any) -> float:
        start = time.time()
        wait: float = self.inner.acquire(key, tokens, limit, clock)
        self.sends.append((start + wait, time.time() + wait))
        return wait

    async def aacquire(self, key: str, tokens: int, limit: Any, clock: Any) -> float:
        start = time.time()
        wait: float = await self.inner.aacquire(key, tokens, limit, clock)
        self.sends.append((start + wait, time.time() + wait))
        return wait

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.inner.aclose()


def main(argv: list[str]) -> None:
    config, mode, n = json.loads(argv[0]), argv[1], int(argv[2])
    provider = FakeProvider()
    client = make_client(provider, config)
    limiter = client.rate_limiter = _Recording(client.rate_limiter)  # type: ignore[assignment]
    print("ready", flush=True)
    sys.stdin.readline()
    if mode == "async":

        async def run() -> None:
            await asyncio.gather(*(client.achat(f"q{i}") for i in range(n)))
            await client.aclose()

        asyncio.run(run())
    else:
        barrier = threading.Barrier(n)

        def call(i: int) -> None:
            barrier.wait()
            client.chat(f"q{i}")

        threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        client.close()
    print("SENDS " + json.dumps(limiter.sends), flush=True)
    print(f"CALLS {provider.calls}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
