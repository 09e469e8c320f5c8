"""A worker process for the shared-budget test: ``python budget_worker.py CONFIG MODE N``.

Builds a real client (``modelbus.testing.make_client``) whose provider answers after a
few event-loop turns (``async``) or a real 20 ms pause (``threads``) with a reply using
all of its ``max_tokens``, so each call costs exactly its reservation. Prints ``ready``,
waits for a line on stdin, makes ``N`` calls at once with ``max_tokens=1000`` and prints
``RESULT {"ok": n, "refused": n, "other": [...], "cost_usd": x}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any

import attrs

from modelbus import ChatRequest, ChatResponse, Usage
from modelbus.errors import BudgetExceededError
from modelbus.testing import FakeProvider, make_client

RESULT = "RESULT "


class Metered(FakeProvider):
    def _reply(self, request: ChatRequest) -> ChatResponse:
        n = request.max_tokens or 0
        return attrs.evolve(self._next(request), model="bm", usage=Usage(0, n, n))

    def chat(self, request: ChatRequest) -> ChatResponse:
        time.sleep(0.02)
        return self._reply(request)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        for _ in range(5):
            await asyncio.sleep(0)
        return self._reply(request)


def main(argv: list[str]) -> None:
    config, mode, n = json.loads(argv[0]), argv[1], int(argv[2])
    client = make_client(Metered(model="bm"), config)
    print("ready", flush=True)
    sys.stdin.readline()
    outcomes: list[Any] = []
    if mode == "async":

        async def run() -> None:
            calls = (client.achat(f"q{i}", max_tokens=1000) for i in range(n))
            outcomes.extend(await asyncio.gather(*calls, return_exceptions=True))
            await client.aclose()

        asyncio.run(run())
    else:
        barrier = threading.Barrier(n)
        lock = threading.Lock()

        def call(i: int) -> None:
            barrier.wait()
            try:
                out: Any = client.chat(f"q{i}", max_tokens=1000)
            except Exception as exc:
                out = exc
            with lock:
                outcomes.append(out)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        client.close()
    result = {
        "ok": sum(isinstance(o, ChatResponse) for o in outcomes),
        "refused": sum(isinstance(o, BudgetExceededError) for o in outcomes),
        "other": [
            repr(o)
            for o in outcomes
            if isinstance(o, Exception) and not isinstance(o, BudgetExceededError)
        ],
        "cost_usd": client.usage_totals.cost_usd,
    }
    print(RESULT + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
