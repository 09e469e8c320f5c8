"""The tiktoken counter against the numbers the OpenAI API reported in the cookbook.

Source of every expected count below: the published outputs of the OpenAI cookbook
notebook ``examples/How_to_count_tokens_with_tiktoken.ipynb`` (openai/openai-cookbook):

- commit c81359cdc6744f001e40c08a192604c5113fdab3, section 6 ("Counting tokens for chat
  completions API calls"): "129 prompt tokens counted by the OpenAI API." for
  gpt-3.5-turbo, gpt-4-0613 and gpt-4; "124 ..." for gpt-4o and gpt-4o-mini. Section 7
  ("... with tool calls"): 105 for gpt-3.5-turbo and gpt-4, 101 for gpt-4o and
  gpt-4o-mini.
- commit 06d9feb5e21e6fdc85f3ddce7731e05892758cd7 (the earlier version of the same
  notebook, before gpt-3.5-turbo-0301 was retired): 127 for gpt-3.5-turbo-0301 (4 tokens
  per message, -1 per name), 129 for gpt-3.5-turbo-0613 and gpt-4-0314.
"""

from __future__ import annotations

import pytest

from modelbus import FunctionSpec, Message, ToolSpec
from modelbus._tokens.counters import ApproximateCounter, count_input
from modelbus.builtins.tokens import TiktokenCounter, encoding_name_for, profile_for
from modelbus.testing import FakeProvider, make_client

# The notebook's example_messages, section 6.
CHAT_EXAMPLE = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that "
        "translates corporate jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on "
        "opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the "
        "ocean for the client deliverable.",
    },
]

# The notebook's tools and example_messages, section 7.
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
TOOL_EXAMPLE = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


def _msgs(dicts: list[dict[str, str]]) -> list[Message]:
    return [Message(d["role"], d["content"], name=d.get("name")) for d in dicts]


def _tools() -> list[ToolSpec]:
    f = TOOLS[0]["function"]
    return [ToolSpec(FunctionSpec(f["name"], f["description"], f["parameters"]))]


@pytest.mark.parametrize(
    ("model", "api_prompt_tokens"),
    [
        ("gpt-3.5-turbo", 129),
        ("gpt-4-0613", 129),
        ("gpt-4", 129),
        ("gpt-4o", 124),
        ("gpt-4o-mini", 124),
        ("gpt-3.5-turbo-0301", 127),
        ("gpt-3.5-turbo-0613", 129),
        ("gpt-4-0314", 129),
    ],
)
def test_chat_example_matches_the_api_reported_prompt_tokens(
    model: str, api_prompt_tokens: int
) -> None:
    assert TiktokenCounter().count_messages(_msgs(CHAT_EXAMPLE), model) == api_prompt_tokens


@pytest.mark.parametrize(
    ("model", "api_prompt_tokens"),
    [
        ("gpt-3.5-turbo", 105),
        ("gpt-4", 105),
        ("gpt-4o", 101),
        ("gpt-4o-mini", 101),
    ],
)
def test_tool_example_matches_the_api_reported_prompt_tokens(
    model: str, api_prompt_tokens: int
) -> None:
    got = TiktokenCounter().count_messages(_msgs(TOOL_EXAMPLE), model, _tools())
    assert got == api_prompt_tokens


@pytest.mark.parametrize(
    ("model", "chat", "tools"),
    [
        ("gpt-4o", 124, 101),
        ("gpt-4o-mini-2024-07-18", 124, 101),
        ("gpt-4", 129, 105),
    ],
)
def test_client_count_tokens_takes_openai_dicts_and_picks_tiktoken(
    model: str, chat: int, tools: int
) -> None:
    c = make_client(FakeProvider())
    assert c.token_counter(model, "fake").exact is True
    assert c.count_tokens(CHAT_EXAMPLE, model=model) == chat
    assert c.count_tokens(TOOL_EXAMPLE, model=model, tools=TOOLS) == tools


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:org::abc", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
        ("llama-3.1-8b", None),
        ("my-azure-deployment", None),
    ],
)
def test_encoding_by_model(model: str, encoding: str | None) -> None:
    assert encoding_name_for(model) == encoding
    assert TiktokenCounter().serves(model) is (encoding is not None)


def test_unserved_models_fall_back_to_o200k_when_counted_directly() -> None:
    assert profile_for("some-model").encoding == "o200k_base"
    c = TiktokenCounter()
    assert c.count_text("tiktoken is great!", "some-model") == c.count_text(
        "tiktoken is great!", "gpt-4o"
    )


def test_count_text_matches_the_notebook_and_treats_special_tokens_as_text() -> None:
    c = TiktokenCounter()
    # Notebook section 3: cl100k_base encodes "tiktoken is great!" as 6 tokens.
    assert c.count_text("tiktoken is great!", "gpt-4") == 6
    assert c.count_text("<|endoftext|>", "gpt-4o") > 1


def test_tool_calls_in_the_history_are_counted() -> None:
    from modelbus import FunctionCall, ToolCall

    c = TiktokenCounter()
    plain = [Message("user", "weather?")]
    call = Message(
        "assistant",
        None,
        tool_calls=(
            ToolCall("call_1", FunctionCall("get_current_weather", '{"location": "Paris"}')),
        ),
    )
    args_tokens = c.count_text('{"location": "Paris"}', "gpt-4o")
    name_tokens = c.count_text("get_current_weather", "gpt-4o")
    with_call = c.count_messages([*plain, call], "gpt-4o")
    # the assistant message: 3 + "assistant" (1 token) + name + arguments
    assert with_call - c.count_messages(plain, "gpt-4o") == 3 + 1 + name_tokens + args_tokens


def test_tool_schema_beyond_the_notebook_shape_is_counted_not_rejected() -> None:
    c = TiktokenCounter()
    spec = ToolSpec(
        FunctionSpec(
            "lookup",
            None,
            {
                "type": "object",
                "properties": {
                    "ids": {"type": "array", "items": {"type": "integer"}},
                    "mode": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
            },
        )
    )
    bare = c.count_messages([Message("user", "hi")], "gpt-4o")
    assert c.count_messages([Message("user", "hi")], "gpt-4o", [spec]) > bare + 12


def test_approximate_counter_is_flagged_inexact_and_picked_for_unknown_models() -> None:
    c = make_client(FakeProvider())
    counter = c.token_counter("llama-3.1-8b", "fake")
    assert isinstance(counter, ApproximateCounter)
    assert counter.exact is False
    n = counter.count_messages([Message("user", "x" * 400)], "llama-3.1-8b")
    assert n == 3 + 3 + 100


def test_a_providers_own_counter_wins_for_its_models() -> None:
    class OwnCounter:
        exact = True

        def serves(self, model: str) -> bool:
            return model == "gpt-4o"

        def count_text(self, text: str, model: str) -> int:
            return 1

        def count_messages(self, messages: object, model: str, tools: object = None) -> int:
            return 42

    fake = FakeProvider()
    fake.token_counter = OwnCounter()  # type: ignore[attr-defined]
    c = make_client(fake)
    assert c.count_tokens("hello", model="gpt-4o") == 42
    assert isinstance(c.token_counter("gpt-4", "fake"), TiktokenCounter)


def test_configured_token_counter_is_used_for_every_model() -> None:
    c = make_client(FakeProvider(), {"modelbus": {"token_counter": "tiktoken"}})
    assert isinstance(c.token_counter("llama-3.1-8b", "fake"), TiktokenCounter)


class TestCountInput:
    def test_json_messages_list(self) -> None:
        import json

        c = make_client(FakeProvider())
        assert count_input(c, json.dumps(CHAT_EXAMPLE), "gpt-4o") == 124

    def test_request_body_with_tools(self) -> None:
        import json

        c = make_client(FakeProvider())
        body = json.dumps({"model": "gpt-4o", "messages": TOOL_EXAMPLE, "tools": TOOLS})
        assert count_input(c, body, "gpt-4o") == 101

    def test_plain_text_has_no_message_overhead(self) -> None:
        c = make_client(FakeProvider())
        assert count_input(c, "tiktoken is great!", "gpt-4") == 6
        # looks like JSON but is not: counted as text
        assert count_input(c, "[not json", "gpt-4") == TiktokenCounter().count_text(
            "[not json", "gpt-4"
        )

    def test_json_object_without_messages_is_an_error(self) -> None:
        c = make_client(FakeProvider())
        with pytest.raises(ValueError, match="without 'messages'"):
            count_input(c, '{"prompt": "hi"}', "gpt-4o")

    def test_json_list_of_non_messages_is_an_error(self) -> None:
        c = make_client(FakeProvider())
        with pytest.raises(ValueError, match="JSON input"):
            count_input(c, "[1, 2]", "gpt-4o")
