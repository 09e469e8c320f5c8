"""JSON nested deeper than Python's decoder goes (``[[[[...``: a model stuck repeating
itself, a hostile server) is bad JSON like any other. ``json.loads`` raises
``RecursionError`` for it, not ``ValueError``, so every place reading JSON it did not
write catches both: tool-call arguments, error bodies, stream events, token counting."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from modelbus import tool
from modelbus._prompts.conversation import Conversation
from modelbus._tokens.counters import count_input
from modelbus.plugin import ServerSentEvent, decode_body
from modelbus.testing import FakeProvider, make_client

DEEP = "[" * 5000


@tool
def get_weather(city: str) -> str:
    """Weather for a city.

    Args:
        city: the city's name.
    """
    return f"sunny in {city}"


def test_the_premise_json_loads_raises_recursion_error() -> None:
    with pytest.raises(RecursionError):
        json.loads(DEEP)


@pytest.mark.parametrize("mode", ["chat", "achat"])
def test_deeply_nested_tool_arguments_go_back_to_the_model(mode: str) -> None:
    # tools.md: arguments that are not valid JSON come back to the model as the tool's
    # message, and the loop goes on (it raised RecursionError out of the call).
    fake = FakeProvider()
    fake.enqueue_tool_call("get_weather", DEEP)
    fake.enqueue_text("Sorry.")
    c = make_client(fake)
    if mode == "chat":
        resp = c.chat("go", tools=[get_weather])
    else:
        resp = asyncio.run(c.achat("go", tools=[get_weather]))
    (result,) = [m.content for m in resp.transcript if m.role == "tool"]
    assert result.startswith("Error: arguments of 'get_weather' are not valid JSON")
    assert resp.content == "Sorry." and fake.calls == 2


def test_a_deeply_nested_error_body_is_kept_as_text() -> None:
    assert decode_body(DEEP.encode()) == DEEP


def test_a_deeply_nested_stream_event_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        ServerSentEvent(data=DEEP).json()


def test_modelbus_tokens_counts_deep_brackets_as_text() -> None:
    # ``modelbus tokens`` reads its input as messages when it is JSON, else as text
    c = make_client(FakeProvider())
    as_text = c.token_counter("gpt-4o-mini").count_text(DEEP, "gpt-4o-mini")
    assert count_input(c, DEEP, "gpt-4o-mini") == as_text


def test_a_saved_conversation_with_a_deep_line_names_the_file_and_line(tmp_path: Path) -> None:
    log = tmp_path / "chat.jsonl"
    log.write_text('{"role": "user", "content": "hi"}\n' + DEEP + "\n")
    with pytest.raises(ValueError, match=r"chat.jsonl:2: bad conversation record"):
        Conversation.load(make_client(FakeProvider()), log)
