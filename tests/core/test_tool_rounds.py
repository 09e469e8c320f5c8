"""The tool loop's round state alone (``modelbus._tools.loop.Rounds``), driven by hand:
the decisions every driver (chat, stream, sync, async) shares, with no client call."""

from __future__ import annotations

from typing import Any

import pytest

from modelbus import ChatResponse, Message, Usage, tool
from modelbus._tools.loop import Rounds
from modelbus._wire.types import FunctionCall, ToolCall
from modelbus.errors import ToolError


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _asks(call_id: str, cost: float | None = 1.0) -> ChatResponse:
    call = ToolCall(call_id, FunctionCall("add", '{"a": 1, "b": 2}'))
    msg = Message("assistant", None, tool_calls=(call,))
    return ChatResponse("r", "m", msg, usage=Usage(10, 2, 12), cost_usd=cost, attempts=2)


def _answer(text: str, *, cached: bool = False) -> ChatResponse:
    return ChatResponse(
        "r", "m", Message("assistant", text), usage=Usage(5, 1, 6), cost_usd=0.5, cached=cached
    )


def _rounds(limit: int | None = None, **params: Any) -> Rounds:
    return Rounds(
        None,  # type: ignore[arg-type]  # only plugin tool names need the client
        "sum 1 and 2",
        tools=[add],
        model="m",
        system="Be brief.",
        max_tool_rounds=limit,
        kwargs={"cache": False},
        params=params,
    )


def _run_tools(loop: Rounds, resp: ChatResponse) -> None:
    loop.tools_ran(loop.tools(None).execute_all(resp.tool_calls))


def test_each_round_sends_the_transcript_so_far_with_the_specs_and_options() -> None:
    loop = _rounds(tool_choice="required", temperature=0)
    history, args = loop.next_round()
    assert [m.role for m in history] == ["system", "user"]
    assert args["model"] == "m" and args["cache"] is False and args["temperature"] == 0
    assert [t.function.name for t in args["tools"]] == ["add"]
    assert args["tool_choice"] == "required"
    first = _asks("c1")
    assert loop.answered(first) is None
    _run_tools(loop, first)
    history, args = loop.next_round()
    assert [m.role for m in history] == ["system", "user", "assistant", "tool"]
    assert history[-1] == Message("tool", "3", tool_call_id="c1")
    # a forcing choice is reset after the first round, else the model could never answer
    assert args["tool_choice"] == "auto"
    history.clear()  # the round's messages are a copy: the loop's transcript is its own
    assert len(loop.next_round()[0]) == 4


def test_a_non_forcing_tool_choice_is_kept() -> None:
    loop = _rounds(tool_choice="auto")
    _run_tools(loop, _asks("c1"))
    assert loop.next_round()[1]["tool_choice"] == "auto"
    loop = _rounds()
    _run_tools(loop, _asks("c1"))
    assert loop.next_round()[1]["tool_choice"] is None


def test_the_final_answer_carries_the_totals_and_the_transcript() -> None:
    loop = _rounds()
    loop.next_round()
    first = _asks("c1")
    assert loop.answered(first) is None
    _run_tools(loop, first)
    loop.next_round()
    final = loop.answered(_answer("3", cached=True))
    assert final is not None and final.content == "3"
    assert final.usage == Usage(15, 3, 18)
    assert final.cost_usd == pytest.approx(1.5)
    assert final.attempts == 3 and final.cached is False  # not every round was a hit
    assert [m.role for m in final.transcript] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert final.latency_s >= 0


def test_an_unpriced_round_makes_the_cost_unknown() -> None:
    loop = _rounds()
    loop.next_round()
    first = _asks("c1", cost=None)
    assert loop.answered(first) is None
    _run_tools(loop, first)
    final = loop.answered(_answer("3"))
    assert final is not None and final.cost_usd is None


@pytest.mark.parametrize("limit", [0, 1, 2])
def test_asking_for_tools_after_max_tool_rounds_raises_with_the_transcript(limit: int) -> None:
    loop = _rounds(limit)
    for i in range(limit):
        resp = _asks(f"c{i}")
        assert loop.answered(resp) is None
        _run_tools(loop, resp)
    with pytest.raises(ToolError, match=rf"after {limit} rounds") as info:
        loop.answered(_asks("last"))
    assert info.value.transcript[-1].tool_calls[0].id == "last"


def test_bad_arguments_fail_when_the_loop_is_made() -> None:
    with pytest.raises(ValueError, match="max_tool_rounds"):
        _rounds(-1)
    with pytest.raises(TypeError, match="plain tool spec"):
        Rounds(
            None,  # type: ignore[arg-type]
            "hi",
            tools=[add, {"type": "function", "function": {"name": "x"}}],
            model=None,
            system=None,
            max_tool_rounds=None,
            kwargs=None,
            params={},
        )
