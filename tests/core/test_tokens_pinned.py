"""The tiktoken counter's arithmetic, term by term (the cookbook's rules, see the module
doc of ``modelbus.builtins.tokens``): each expected figure is rebuilt here from the
encoder's count of the pieces, so a wrong sign, a dropped term or a wrong constant fails.
"""

from __future__ import annotations

import pytest

from modelbus import FunctionSpec, ImagePart, ImageURL, Message, TextPart, ToolSpec
from modelbus.builtins import tokens as tk
from modelbus.builtins.tokens import TiktokenCounter, profile_for, tools_tokens

C = TiktokenCounter()


def count(text: str, model: str = "gpt-4o") -> int:
    return C.count_text(text, model)


def tool(name: str, description: str | None, properties: dict[str, object] | None = None):
    params = None if properties is None else {"type": "object", "properties": properties}
    return ToolSpec(FunctionSpec(name, description, params))


@pytest.fixture(autouse=True)
def cold_memo():
    tk.clear_caches()
    yield
    tk.clear_caches()


def test_a_message_is_3_plus_role_plus_content_and_3_prime_the_reply() -> None:
    text = "Things working well together will increase revenue."
    got = C.count_messages([Message("user", text)], "gpt-4o")
    assert got == 3 + count("user") + count(text) + 3


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])
def test_text_parts_add_their_text_like_a_string_content(model: str) -> None:
    a, b = "New synergies will help drive", " top-line growth."
    parts = Message("user", (TextPart(a), TextPart(b)))
    got = C.count_messages([parts], model)
    assert got == 3 + count("user", model) + count(a, model) + count(b, model) + 3
    assert got > C.count_messages([Message("user", "")], model)


def test_an_image_part_adds_the_vision_rule_tokens_on_top_of_the_text() -> None:
    from modelbus._tokens.images import image_tokens

    url = "https://example.com/cat.png"
    m = Message("user", (TextPart("what is it?"), ImagePart(ImageURL(url, "low"))))
    got = C.count_messages([m], "gpt-4o")
    assert got == 3 + count("user") + count("what is it?") + image_tokens(url, "low") + 3
    assert image_tokens(url, "low") > 0


def test_a_name_adds_its_tokens_plus_one_and_0301_counts_four_and_minus_one() -> None:
    m = Message("system", "hi", name="example_user")
    base = 3 + count("system") + count("hi") + 3
    assert C.count_messages([m], "gpt-4o") == base + count("example_user") + 1
    old = "gpt-3.5-turbo-0301"
    base_old = 4 + count("system", old) + count("hi", old) + 3
    assert C.count_messages([m], old) == base_old + count("example_user", old) - 1
    assert C.count_messages([m], "ft:gpt-3.5-turbo-0301:acme::x") == (C.count_messages([m], old))


def test_profiles_per_family() -> None:
    assert profile_for("gpt-4o").func_init == 7
    assert profile_for("gpt-4-0613").func_init == 10
    assert profile_for("gpt-4-0613").encoding == "cl100k_base"
    assert profile_for("gpt-3.5-turbo-0301").per_message == 4
    assert profile_for("gpt-3.5-turbo-0613").per_message == 3
    assert profile_for("llama-3").encoding == "o200k_base"
    assert C.serves("ft:gpt-4o-mini:acme::1") and not C.serves("llama-3")


def test_a_description_loses_only_its_final_dot() -> None:
    p = profile_for("gpt-4o")
    dotted = tools_tokens(p, [tool("get_weather", "Get the weather.")])
    assert dotted == 7 + count("get_weather:Get the weather") + 12
    assert dotted == tools_tokens(p, [tool("get_weather", "Get the weather")])
    assert dotted > tools_tokens(p, [tool("get_weather", None)])
    # Only one final dot goes, and only at the end.
    assert tools_tokens(p, [tool("f", "a.b..")]) == 7 + count("f:a.b.") + 12


def test_properties_enums_and_types_follow_the_cookbook_constants() -> None:
    p = profile_for("gpt-4")
    props = {
        "location": {"type": "string", "description": "The city."},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "when": {"type": ["string", "null"]},
        "raw": "not a schema",
        "ids": {"type": "array", "items": {"type": "integer"}, "description": "x"},
        "mode": {"anyOf": [{"type": "string"}], "enum": ["a"], "description": "m"},
    }
    got = tools_tokens(p, [tool("f", "Do.", props)])

    def c(s: str) -> int:
        return count(s, "gpt-4")

    want = 10 + c("f:Do") + 3
    want += 3 + c("location:string:The city")
    want += 3 + -3 + (3 + c("celsius")) + (3 + c("fahrenheit")) + c("unit:string:")
    want += 3 + c("when:string|null:")
    want += 3 + c("raw:{}:")
    want += 3 + c("ids:array:x")
    want += 3 + -3 + (3 + c("a")) + c('mode:{"anyOf":[{"type":"string"}]}:m')
    assert got == want + 12


def test_two_tools_and_no_tools() -> None:
    p = profile_for("gpt-4o")
    one = tools_tokens(p, [tool("a", "x")]) - 12
    two = tools_tokens(p, [tool("a", "x"), tool("b", "y")])
    assert two == one + 7 + count("b:y") + 12
    assert tools_tokens(p, []) == 0
    hi = [Message("user", "hi")]
    assert C.count_messages(hi, "gpt-4o", [tool("a", "x")]) == (
        C.count_messages(hi, "gpt-4o") + tools_tokens(p, [tool("a", "x")])
    )


def test_a_growing_conversation_counts_as_if_counted_fresh() -> None:
    msgs = [Message("user", f"message number {i}") for i in range(12)]
    grown = []
    for m in msgs:
        grown.append(m)
        incremental = C.count_messages(list(grown), "gpt-4o")
        tk.clear_caches()
        assert incremental == C.count_messages(list(grown), "gpt-4o")
        C.count_messages(list(grown[:-1]), "gpt-4o")  # warm the memo again
    # The same messages under another profile are not taken from the gpt-4o memo.
    assert C.count_messages(msgs, "gpt-3.5-turbo-0301") == (
        sum(4 + count("user", "gpt-4") + count(m.content, "gpt-4") for m in msgs) + 3  # type: ignore[arg-type]
    )


def test_the_memo_finds_a_prefix_and_a_changed_message_is_not_a_hit() -> None:
    memo = tk._ConversationMemo(size=2)
    p = profile_for("gpt-4o")
    a, b, c = Message("user", "a"), Message("user", "b"), Message("user", "c")
    memo.remember(p, (a, b), 10)
    assert memo.longest_prefix(p, (a, b, c)) == (2, 10)
    assert memo.longest_prefix(p, (a, Message("user", "b2"), c)) == (0, 0)
    assert memo.longest_prefix(profile_for("gpt-4"), (a, b, c)) == (0, 0)
    memo.remember(p, (a,), 4)
    memo.remember(p, (c,), 5)  # size 2: the least recently used, (a, b), goes
    assert memo.longest_prefix(p, (a, b)) == (1, 4)
    assert memo.longest_prefix(p, (c,)) == (1, 5)


def test_clear_caches_forgets_every_memoized_count() -> None:
    msgs = (Message("user", "hi"), Message("user", "there"))
    C.count_messages(msgs, "gpt-4o")
    assert tk._MEMO.longest_prefix(profile_for("gpt-4o"), msgs)[0] == 2
    assert tk._short.cache_info().currsize > 0
    assert tk._message_tokens.cache_info().currsize > 0
    tk.clear_caches()
    assert tk._short.cache_info().currsize == 0
    assert tk._message_tokens.cache_info().currsize == 0
    assert tk._MEMO.longest_prefix(profile_for("gpt-4o"), msgs) == (0, 0)
