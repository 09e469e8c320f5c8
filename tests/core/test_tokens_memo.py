"""Memoized counting gives the same numbers as counting from scratch."""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from modelbus import Message
from modelbus.builtins import tokens as tk
from modelbus.builtins.tokens import TiktokenCounter
from modelbus.testing._chat_strategies import messages

conversations = st.lists(messages(images=False), min_size=1, max_size=12)
MODELS = st.sampled_from(["gpt-4o", "gpt-4", "gpt-3.5-turbo-0301"])


def cold(msgs: list[Message], model: str) -> int:
    tk.clear_caches()
    return TiktokenCounter().count_messages(msgs, model)


@settings(max_examples=40, deadline=None)
@given(conversations, conversations, MODELS)
def test_a_grown_conversation_counts_like_a_fresh_one(
    head: list[Message], tail: list[Message], model: str
) -> None:
    c = TiktokenCounter()
    c.count_messages(head, model)
    grown = head + tail
    warm = c.count_messages(grown, model)
    assert warm == cold(grown, model)


@settings(max_examples=40, deadline=None)
@given(conversations, st.data(), MODELS)
def test_an_edit_in_the_middle_is_not_served_from_the_memo(
    msgs: list[Message], data: st.DataObject, model: str
) -> None:
    c = TiktokenCounter()
    c.count_messages(msgs, model)
    i = data.draw(st.integers(0, len(msgs) - 1))
    edited = list(msgs)
    edited[i] = attrs.evolve(msgs[i], content=(msgs[i].text or "") + " and one more thing")
    # same length and, unless i is last, the same last object as the remembered one
    assert c.count_messages(edited, model) == cold(edited, model)


def test_tuples_lists_and_equal_copies_agree() -> None:
    c = TiktokenCounter()
    msgs = [Message("user", f"message number {i}") for i in range(20)]
    as_list = c.count_messages(msgs, "gpt-4o")
    as_tuple = c.count_messages(tuple(msgs), "gpt-4o")
    copies = [Message("user", f"message number {i}") for i in range(20)]
    assert as_list == as_tuple == c.count_messages(copies, "gpt-4o") == cold(msgs, "gpt-4o")


def test_the_same_messages_count_differently_per_encoding() -> None:
    c = TiktokenCounter()
    msgs = [Message("user", "お誕生日おめでとう")]
    # notebook section 5: cl100k_base encodes this string as 9 tokens
    assert c.count_messages(msgs, "gpt-4") == 3 + 1 + 9 + 3
    assert c.count_messages(msgs, "gpt-4o") != c.count_messages(msgs, "gpt-4")


def test_memo_and_lru_stay_bounded() -> None:
    c = TiktokenCounter()
    for i in range(300):
        c.count_messages([Message("user", f"conversation {i}")], "gpt-4o")
    assert len(tk._MEMO._d) <= 128
    info = tk._message_tokens.cache_info()
    assert info.maxsize is not None
    assert info.currsize <= info.maxsize
