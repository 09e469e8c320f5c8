"""Prompt-based function calling: the request rewrite, the reply schema and the parser
(on well-formed, wrapped and malformed replies; properties with hypothesis)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelbus._wire.types import (
    ChatRequest,
    FunctionCall,
    FunctionSpec,
    Message,
    ToolCall,
    ToolSpec,
)
from modelbus_local._prompt_tools import (
    ParsedReply,
    parse_tool_reply,
    prompt_request,
    reply_schema,
    tool_choice_names,
)

WEATHER = ToolSpec(
    FunctionSpec(
        "get_weather",
        "Current weather of a city.",
        {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    )
)
TIME = ToolSpec(FunctionSpec("get_time", None, {}))
TOOLS = (WEATHER, TIME)


def ids() -> Any:
    counter = itertools.count()
    return lambda: f"call_{next(counter)}"


def request(**kw: Any) -> ChatRequest:
    base: dict[str, Any] = {"model": "m", "messages": (Message("user", "weather in Paris?"),)}
    base.update(kw)
    return ChatRequest(**base)


# -- the request rewrite -------------------------------------------------------------------


def test_tools_move_into_a_new_system_prompt():
    out = prompt_request(request(tools=TOOLS, tool_choice="auto", parallel_tool_calls=True), None)
    assert out.tools is None and out.tool_choice is None and out.parallel_tool_calls is None
    system, user = out.messages
    assert system.role == "system" and user == Message("user", "weather in Paris?")
    specs = json.loads(system.text.splitlines()[1])
    assert [s["name"] for s in specs] == ["get_weather", "get_time"]
    assert specs[0]["parameters"] == dict(WEATHER.function.parameters)
    assert specs[1]["parameters"] == {"type": "object"}  # no parameters: any object
    assert '{"content": "<your answer>"}' in system.text  # auto: may answer in text


def test_existing_system_prompt_is_extended_not_replaced():
    msgs = (Message("system", "Be brief."), Message("user", "hi"))
    out = prompt_request(request(messages=msgs, tools=TOOLS), None)
    assert len(out.messages) == 2
    assert out.messages[0].text.startswith("Be brief.\n\nYou can call these tools")


def test_required_and_named_choices_narrow_the_prompt():
    req = prompt_request(request(tools=TOOLS, tool_choice="required"), None)
    assert "You must call at least one tool." in req.messages[0].text
    assert '{"content"' not in req.messages[0].text
    named = {"type": "function", "function": {"name": "get_time"}}
    out = prompt_request(request(tools=TOOLS, tool_choice=named), None)
    assert "You must call the tool 'get_time'." in out.messages[0].text
    assert "get_weather" not in out.messages[0].text


def test_tool_choice_none_drops_tools_but_keeps_history_as_text():
    history = (
        Message("user", "weather?"),
        Message(
            "assistant",
            None,
            tool_calls=(ToolCall("c1", FunctionCall("get_weather", '{"city":"Paris"}')),),
        ),
        Message("tool", "sunny", tool_call_id="c1"),
    )
    out = prompt_request(request(messages=history, tools=TOOLS, tool_choice="none"), None)
    assert out.tools is None and [m.role for m in out.messages] == ["user", "assistant", "user"]
    assert json.loads(out.messages[1].text) == {
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    }
    assert out.messages[2].text == "Tool result of get_weather (call c1):\nsunny"


def test_parallel_tool_results_become_one_user_turn():
    calls = (
        ToolCall("a", FunctionCall("get_weather", '{"city":"Rome"}')),
        ToolCall("b", FunctionCall("get_time", "not json")),
    )
    history = (
        Message("user", "q"),
        Message("assistant", None, tool_calls=calls),
        Message("tool", "rain", tool_call_id="a"),
        Message("tool", "noon", tool_call_id="b"),
    )
    out = prompt_request(request(messages=history, tools=TOOLS), None)
    assert [m.role for m in out.messages] == ["system", "user", "assistant", "user"]
    sent_calls = json.loads(out.messages[2].text)["tool_calls"]
    assert sent_calls[1] == {"name": "get_time", "arguments": "not json"}  # kept as written
    assert out.messages[3].text == (
        "Tool result of get_weather (call a):\nrain\n\nTool result of get_time (call b):\nnoon"
    )


def test_constraint_fields_are_applied_and_extra_body_merged():
    def constraint(schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "response_format": {"type": "json_object", "schema": schema},
            "extra_body": {"grammar_hint": 1},
        }

    out = prompt_request(
        request(
            tools=TOOLS, tool_choice="required", extra_body={"top_k": 5}, parallel_tool_calls=False
        ),
        constraint,
    )
    assert out.extra_body == {"top_k": 5, "grammar_hint": 1}
    assert out.response_format is not None
    schema = out.response_format["schema"]
    assert schema == reply_schema(TOOLS, ["get_weather", "get_time"], True, parallel=False)
    assert schema["properties"]["tool_calls"]["maxItems"] == 1


def test_unknown_named_tool_is_a_value_error():
    with pytest.raises(ValueError, match="'nope', which is not in tools"):
        tool_choice_names(TOOLS, {"type": "function", "function": {"name": "nope"}})
    with pytest.raises(ValueError, match="tool_choice must be"):
        tool_choice_names(TOOLS, "sometimes")


# -- the reply schema ----------------------------------------------------------------------


def test_reply_schema_accepts_calls_and_text_and_rejects_the_rest():
    auto = reply_schema(TOOLS, ["get_weather", "get_time"], False)
    ok = [
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {
            "tool_calls": [
                {"name": "get_time", "arguments": {}},
                {"name": "get_weather", "arguments": {"city": "Rome", "days": 2}},
            ]
        },
        {"content": "hello"},
    ]
    for doc in ok:
        jsonschema.validate(doc, auto)
    bad = [
        {"tool_calls": []},
        {"tool_calls": [{"name": "get_weather", "arguments": {}}]},  # city required
        {"tool_calls": [{"name": "other", "arguments": {}}]},
        {"content": "x", "tool_calls": []},
        {"content": 3},
    ]
    for doc in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, auto)
    required = reply_schema(TOOLS, ["get_time"], True)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"content": "hello"}, required)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(ok[0], required)  # only get_time may be called


# -- the parser ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}',
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        '[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
        '{"function": "get_weather", "parameters": {"city": "Paris"}}',
        '{"tool": "get_weather", "tool_input": {"city": "Paris"}}',
        '{"type": "function", "function": {"name": "get_weather", '
        '"arguments": "{\\"city\\": \\"Paris\\"}"}}',
        'Sure! ```json\n{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}'
        "\n``` Done.",
        'I will call {"name": "get_weather", "arguments": {"city": "Paris"}} now.',
    ],
)
def test_call_shapes_are_read(text: str):
    r = parse_tool_reply(text, TOOLS, new_id=ids())
    assert r.content is None
    assert r.tool_calls == (ToolCall("call_0", FunctionCall("get_weather", '{"city": "Paris"}')),)


def test_parallel_calls_keep_order_and_given_ids():
    text = json.dumps(
        {
            "tool_calls": [
                {"name": "get_time", "arguments": {}},
                {"id": "mine", "name": "get_weather", "arguments": {"city": "Oslo"}},
            ]
        }
    )
    r = parse_tool_reply(text, TOOLS, new_id=ids())
    assert [(c.id, c.function.name) for c in r.tool_calls] == [
        ("call_0", "get_time"),
        ("mine", "get_weather"),
    ]


def test_content_reply_gives_its_text():
    assert parse_tool_reply('{"content": "It is sunny."}', TOOLS).content == "It is sunny."
    assert parse_tool_reply('  {"content": ""}', TOOLS).content == ""


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain words, no JSON",
        '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Par',  # truncated
        '{"tool_calls": [{"name": "launch_missiles", "arguments": {}}]}',  # unknown tool
        '{"tool_calls": [{"name": "get_weather", "arguments": ["Paris"]}]}',  # not an object
        '{"tool_calls": [{"name": "get_weather", "arguments": "{bad json"}]}',
        '{"tool_calls": [{"name": "get_time", "arguments": {}}, {"name": "nope"}]}',  # one bad
        '{"tool_calls": []}',
        '{"tool_calls": "get_time"}',
        '{"content": 42}',
        "[1, 2, 3]",
        "{} {}",
    ],
)
def test_malformed_replies_come_back_as_text(text: str):
    r = parse_tool_reply(text, TOOLS)
    assert r.tool_calls == () and r.content == text


_json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_json = st.recursive(
    _json_leaf,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3)
    ),
    max_leaves=8,
)
_calls = st.lists(
    # argument keys that cannot spell "name"/"content": a nested object must not look like
    # a call or a text reply of its own
    st.tuples(
        st.sampled_from(["get_weather", "get_time"]),
        st.dictionaries(st.text(alphabet="xyz", max_size=4), _json, max_size=3),
    ),
    min_size=1,
    max_size=3,
)
_prose = st.text(alphabet=st.characters(blacklist_characters="{}[]`"), max_size=30)


@given(text=st.text(max_size=200))
def test_any_text_is_parsed_without_raising(text: str):
    r = parse_tool_reply(text, TOOLS)
    if r.tool_calls:
        for c in r.tool_calls:
            assert c.function.name in ("get_weather", "get_time")
            assert isinstance(json.loads(c.function.arguments), dict)
            assert c.id.startswith("call_") and len(c.id) == 29
    else:  # the text itself, or the text of a {"content": ...} reply inside it
        assert r.content == text or (isinstance(r.content, str) and "content" in text)


@given(calls=_calls, before=_prose, after=_prose, fenced=st.booleans())
def test_calls_round_trip_through_prose_and_fences(
    calls: list[tuple[str, dict[str, Any]]], before: str, after: str, fenced: bool
):
    body = json.dumps({"tool_calls": [{"name": n, "arguments": a} for n, a in calls]})
    text = f"{before}```json\n{body}\n```{after}" if fenced else f"{before}{body}{after}"
    r = parse_tool_reply(text, TOOLS, new_id=ids())
    assert r.content is None
    assert [(c.function.name, json.loads(c.function.arguments)) for c in r.tool_calls] == calls
    assert len({c.id for c in r.tool_calls}) == len(calls)


@given(calls=_calls, cut=st.integers(min_value=0, max_value=10_000))
def test_a_truncated_reply_never_invents_calls(calls: list[tuple[str, dict[str, Any]]], cut: int):
    body = json.dumps({"tool_calls": [{"name": n, "arguments": a} for n, a in calls]})
    text = body[: cut % len(body)]  # strictly shorter: the reply ran out of tokens
    r = parse_tool_reply(text, TOOLS)
    got = [(c.function.name, json.loads(c.function.arguments)) for c in r.tool_calls]
    # only whole calls that were fully written can be recovered, and in order
    assert got == calls[: len(got)]
    if not got:
        assert r.content == text


def test_a_reply_stuck_repeating_brackets_is_text_and_parsed_quickly() -> None:
    # A small model caught in a loop ("[[[[..."): deeper than json's decoder goes, which
    # raises RecursionError, not ValueError. parse_tool_reply never raises; the run of
    # brackets is skipped as a whole, so a tool call after it is still found.
    stuck = "[" * 5000
    assert parse_tool_reply(stuck, TOOLS, ids()) == ParsedReply(stuck)
    call = '{"name": "get_time", "arguments": {}}'
    parsed = parse_tool_reply(stuck + " " + call, TOOLS, ids())
    assert [c.function.name for c in parsed.tool_calls] == ["get_time"]
