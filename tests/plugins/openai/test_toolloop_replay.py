"""The core tool loop through modelbus-openai against the WireServer replaying the real
recorded tool-call payloads (simonw/llm's chain and Mirascope's parallel calls)."""

from __future__ import annotations

import asyncio
import json

import modelbus
from modelbus.testing.server import Reply, WireServer

from .conftest import MakeClient

RECORDED_CALL_ID = "call_TTY8UFNo7rNCaOBUNtlRSvMG"


def lookup_population(country: str) -> int:
    """Returns the current population of the specified fictional country"""
    return {"Crumpet": 123124}[country]


def test_recorded_tool_call_runs_the_function_and_sends_its_result(
    srv: WireServer, make_client: MakeClient
) -> None:
    srv.enqueue(
        Reply.fixture("openai/chat_completion_tool_calls"),
        Reply.fixture("openai/chat_completion_after_tool_result"),
    )
    client = make_client()
    question = "Can the country of Crumpet have dragons? Answer with only YES or NO"
    resp = client.chat(question, model="gpt-4o-mini", tools=[lookup_population])
    assert resp.content == "YES"
    first, second = (r.json for r in srv.requests)
    # the tool went out in OpenAI's shape, from the function's hints and docstring
    (spec,) = first["tools"]
    assert spec["function"]["name"] == "lookup_population"
    assert spec["function"]["parameters"]["properties"]["country"]["type"] == "string"
    # the second request carries the recorded call and our function's result for it
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == RECORDED_CALL_ID
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"country": "Crumpet"}
    assert tool == {"role": "tool", "tool_call_id": RECORDED_CALL_ID, "content": "123124"}
    # usage adds up over both rounds (each recorded reply's usage)
    bodies = [
        json.loads(Reply.fixture(n).body)
        for n in ("openai/chat_completion_tool_calls", "openai/chat_completion_after_tool_result")
    ]
    assert resp.usage.prompt_tokens == sum(b["usage"]["prompt_tokens"] for b in bodies)
    assert [m.role for m in resp.transcript] == ["user", "assistant", "tool", "assistant"]


def test_recorded_parallel_calls_run_concurrently_under_async(
    srv: WireServer, make_client: MakeClient
) -> None:
    srv.enqueue(
        Reply.fixture("openai/chat_completion_parallel_tool_calls"),
        Reply.fixture("openai/chat_completion_after_tool_result"),
    )
    both_started = asyncio.Event()
    started: list[str] = []

    async def secret_retrieval_tool(password: str) -> str:
        """Returns the secret behind a password."""
        started.append(password)
        if len(started) == 2:
            both_started.set()
        # each call waits for the other: only concurrent execution can finish
        await asyncio.wait_for(both_started.wait(), timeout=10)
        return f"secret for {password}"

    client = make_client()

    async def run() -> modelbus.ChatResponse:
        return await client.achat("Get both secrets", model="gpt-4o", tools=[secret_retrieval_tool])

    resp = asyncio.run(run())
    assert resp.content == "YES"
    assert sorted(started) == ["mellon", "radiance"]
    tools = [m for m in srv.requests[1].json["messages"] if m["role"] == "tool"]
    recorded = json.loads(Reply.fixture("openai/chat_completion_parallel_tool_calls").body)
    ids = [tc["id"] for tc in recorded["choices"][0]["message"]["tool_calls"]]
    # results answer the recorded ids, in the order the model asked
    assert [t["tool_call_id"] for t in tools] == ids
    assert [t["content"] for t in tools] == ["secret for mellon", "secret for radiance"]
