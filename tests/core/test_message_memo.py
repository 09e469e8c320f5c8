"""The memo of long conversations (``modelbus._wire.message_memo``): a conversation sent again
gives byte-identical wire bodies and the same counts as building it anew, whatever was
changed in between, and the body a caller gets is its own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelbus._engine.prepare import _messages_bound, prompt_upper_bound
from modelbus._routing.resolve import _build_each, build_messages, build_request
from modelbus._wire import message_memo as memo
from modelbus._wire.converter import message_from_openai, message_to_openai, request_body
from modelbus.builtins.tokens import TiktokenCounter

ROLES = ("system", "user", "assistant", "developer")
PARAMS = {"temperature": 0.2, "max_tokens": 100}

plain = st.fixed_dictionaries({"role": st.sampled_from(ROLES), "content": st.text(max_size=40)})
conversations = st.lists(plain, min_size=1, max_size=40)


def slow_body(msgs: list[dict[str, Any]], system: str | None = None) -> bytes:
    """The body built without any memo: every message built and converted anew."""
    built = tuple(message_from_openai(d) for d in msgs)
    if system is not None:
        built = (message_from_openai({"role": "system", "content": system}), *built)
    body = request_body(build_request(built, "gpt-4o-mini", PARAMS))
    assert body["messages"] == [message_to_openai(m) for m in built]
    return _dumps(body)


def fast_body(msgs: list[dict[str, Any]], system: str | None = None) -> bytes:
    return _dumps(request_body(build_request(build_messages(msgs, system), "gpt-4o-mini", PARAMS)))


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.fixture(autouse=True)
def _fresh() -> Any:
    memo.clear()
    yield
    memo.clear()


@settings(max_examples=60, deadline=None)
@given(conversations, st.none() | st.text(max_size=10))
def test_a_conversation_sent_again_gives_the_same_bytes(
    msgs: list[dict[str, Any]], system: str | None
) -> None:
    first = fast_body(msgs, system)
    again = fast_body(msgs, system)  # from the memo
    assert first == again == slow_body(msgs, system)


edits = st.sampled_from(
    ["content", "role", "add_name", "replace_equal", "replace_other", "append", "pop", "same"]
)


@settings(max_examples=80, deadline=None)
@given(conversations, st.lists(st.tuples(edits, st.integers(0, 10**6), st.text(max_size=8))))
def test_changes_between_calls_are_always_seen(
    msgs: list[dict[str, Any]], steps: list[tuple[str, int, str]]
) -> None:
    counter = TiktokenCounter()
    for edit, at, text in steps:
        fast_body(msgs)  # remember the conversation as it is now
        i = at % len(msgs)
        if edit == "content":
            msgs[i]["content"] = msgs[i]["content"] + text + "!"
        elif edit == "role":
            msgs[i]["role"] = ROLES[(ROLES.index(msgs[i]["role"]) + 1) % len(ROLES)]
        elif edit == "add_name":
            msgs[i]["name"] = "n" + text.replace(" ", "")
        elif edit == "replace_equal":
            msgs[i] = dict(msgs[i])
        elif edit == "replace_other":
            msgs[i] = {"role": "user", "content": text}
        elif edit == "append":
            msgs.append({"role": "user", "content": text})
        elif edit == "pop" and len(msgs) > 1:
            msgs.pop(i)
        assert fast_body(msgs) == slow_body(msgs)
        built = build_messages(msgs)
        assert built == tuple(message_from_openai(d) for d in msgs)
        req = build_request(built, "gpt-4o-mini", PARAMS)
        assert prompt_upper_bound(req) == _messages_bound(built)
        fresh = tuple(message_from_openai(d) for d in msgs)
        assert counter.count_messages(built, "gpt-4o-mini") == counter.count_messages(
            fresh, "gpt-4o-mini"
        )


def _conversation(n: int) -> list[dict[str, Any]]:
    return [{"role": "user" if i % 2 else "assistant", "content": f"m{i}"} for i in range(n)]


def test_a_hit_is_the_same_tuple_and_each_body_is_its_own() -> None:
    msgs = _conversation(memo.MIN_MESSAGES + 20)
    a, b = build_messages(msgs), build_messages(list(msgs))  # another list, the same dicts
    assert a is b
    body = request_body(build_request(a, "m", {}))
    body["messages"][0]["content"] = "changed by a plugin"
    assert request_body(build_request(a, "m", {}))["messages"][0]["content"] == "m0"


def test_non_plain_messages_are_built_every_time() -> None:
    tools = _conversation(memo.MIN_MESSAGES + 5)
    tools[3] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }
    tools[4] = {"role": "tool", "tool_call_id": "c1", "content": "42"}
    first = build_messages(tools)
    assert first is not build_messages(tools)
    # Nested values are never shared between bodies.
    body = request_body(build_request(first, "m", {}))
    body["messages"][3]["tool_calls"][0]["id"] = "changed"
    assert (
        request_body(build_request(build_messages(tools), "m", {}))["messages"][3]["tool_calls"][0][
            "id"
        ]
        == "c1"
    )


def test_a_request_sent_again_is_the_same_object_with_the_same_key() -> None:
    from modelbus._caching.key import _key, cache_key

    for prompt in ("hi", [{"role": "user", "content": "hi"}]):
        a = build_request(build_messages(prompt), "m", {"temperature": 0.2, "max_tokens": 5})
        b = build_request(build_messages(prompt), "m", {"temperature": 0.2, "max_tokens": 5})
        assert a is b
        k = cache_key(a, provider="p", endpoint="e", namespace="n")
        assert (
            k == cache_key(b, provider="p", endpoint="e", namespace="n") == _key(a, "p", "e", "n")
        )
        assert cache_key(a, provider="q") == _key(a, "q", "", "") != k
    # Numbers of another type are another request: the JSON differs (1 vs 1.0 vs true).
    m = build_messages("hi")
    one, one_f = (
        build_request(m, "m", {"temperature": 1}),
        build_request(m, "m", {"temperature": 1.0}),
    )
    assert one is not one_f and one.temperature == 1 and type(one_f.temperature) is float
    assert request_body(one)["temperature"] == 1 and type(request_body(one)["temperature"]) is int
    # Unhashable parameters are built every time, and still right.
    s1 = build_request(m, "m", {"stop": ["x"]})
    assert s1 is not build_request(m, "m", {"stop": ["x"]}) and s1.stop == ("x",)
    with pytest.raises(TypeError, match="unknown chat parameter"):
        build_request(m, "m", {"temprature": 1})


def test_bad_messages_still_raise() -> None:
    msgs = _conversation(memo.MIN_MESSAGES + 10)
    build_messages(msgs)
    msgs[5] = {"content": "no role"}
    with pytest.raises(TypeError, match="needs a 'role'"):
        build_messages(msgs)
    msgs[5] = 42  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="a message is a dict or a Message"):
        build_messages(msgs)
    assert _build_each(iter(_conversation(2)))[1].content == "m1"


def test_the_memo_is_bounded() -> None:
    convs = [_conversation(memo.MIN_MESSAGES + 3) for _ in range(memo.SIZE + 10)]
    for c in convs:
        build_messages(c)
    assert len(memo._conversations) <= memo.SIZE
    assert len(memo._handed) <= memo.SIZE
    for i in range(memo.SIZE * 5):
        build_request(build_messages(f"prompt {i}"), "m", {"n": 1})
    assert len(memo._prompts) <= memo.SIZE
    assert len(memo._derived) <= 4 * memo.SIZE and len(memo._values) <= 4 * memo.SIZE
    # The newest are still served from the memo.
    assert build_messages(convs[-1]) is build_messages(convs[-1])
