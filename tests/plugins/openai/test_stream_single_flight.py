"""Single-flight for streams through the real openai plugin over HTTP: identical streams
started together make one request, and every caller reads the whole reply."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from modelbus.testing.server import Reply, WireServer
from tests.plugins.openai.conftest import MakeClient


def test_threads_streaming_one_prompt_share_one_request(
    srv: WireServer, make_client: MakeClient
) -> None:
    # The reply waits 0.5 s: the other threads join the stream in flight meanwhile.
    srv.enqueue(Reply.default(latency=0.5))
    client = make_client(core={"cache": "memory"})
    texts: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(8)

    def one() -> None:
        ready.wait()
        stream = client.stream("tell me", model="gpt-4o-mini")
        text = "".join(c.content or "" for c in stream)
        with lock:
            texts.append(text)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(srv.requests) == 1
    assert len(texts) == 8 and texts[0] and set(texts) == {texts[0]}
    assert client.usage_totals.requests == 1
    assert client.usage_totals.shared + client.usage_totals.cache_hits == 7


async def _read(client: Any) -> str:
    """The text of one async stream of the test prompt."""
    stream = client.astream("tell me", model="gpt-4o-mini")
    return "".join([c.content or "" async for c in stream])


async def test_tasks_streaming_one_prompt_share_one_request(
    srv: WireServer, make_client: MakeClient
) -> None:
    srv.enqueue(Reply.default(latency=0.3))
    client = make_client(core={"cache": "memory"})

    try:
        texts = await asyncio.gather(*(_read(client) for _ in range(50)))
    finally:
        await client.aclose()
    assert len(srv.requests) == 1
    assert texts[0] and set(texts) == {texts[0]}
    assert client.usage_totals.requests == 1 and client.usage_totals.shared == 49


async def test_the_first_task_cancelled_while_waiting_leaves_the_request_to_the_others(
    srv: WireServer, make_client: MakeClient
) -> None:
    # A client that disconnects (its task cancelled) while the shared request waits for
    # its first chunk: the request goes on for the 49 others, over real HTTP.
    srv.enqueue(Reply.default(latency=0.3))
    client = make_client(core={"cache": "memory"})

    try:
        tasks = [asyncio.create_task(_read(client)) for _ in range(50)]
        await asyncio.sleep(0.1)  # the request is in flight, no chunk yet
        tasks[0].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await client.aclose()
    assert isinstance(results[0], asyncio.CancelledError)
    texts = results[1:]
    assert [repr(t) for t in texts if not isinstance(t, str)] == []  # none failed
    assert texts[0] and len(set(texts)) == 1
    assert len(srv.requests) == 1
