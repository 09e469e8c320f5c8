"""Context fitting (``modelbus._tokens.context_window``) drops and cuts as little as possible: the
result is checked against a brute-force search, with an additive counter, a counter that
is not additive (the re-count fallback) and the boundaries of the limit."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from modelbus import FunctionCall, Message, TextPart, ToolCall
from modelbus._tokens.context_window import (
    MARKER,
    check_truncate,
    cut_middle,
    drop_oldest,
    fit_messages,
    shorten_middle,
)


def text_of(m: Message) -> str:
    c = m.content
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    return "".join(p.text for p in c if isinstance(p, TextPart))


def additive(msgs: Sequence[Message]) -> int:
    """3 to prime the reply, then 1 per message and 1 per character."""
    return 3 + sum(1 + len(text_of(m)) for m in msgs)


def conversation() -> list[Message]:
    return [
        Message("system", "s" * 10),
        Message("user", "a" * 10),
        Message("assistant", "b" * 10),
        Message("developer", "d" * 10),
        Message("user", "c" * 10),
        Message("assistant", "e" * 10),
        Message("user", "question"),
    ]


def test_messages_that_fit_come_back_untouched() -> None:
    msgs = conversation()
    total = additive(msgs)
    for fit in (drop_oldest, shorten_middle):
        out, n = fit(msgs, total, additive)
        assert out == tuple(msgs) and n == total


@pytest.mark.parametrize("over", [1, 11, 12, 22, 23, 33])
def test_drop_oldest_drops_the_fewest_oldest_units(over: int) -> None:
    msgs = conversation()
    limit = additive(msgs) - over
    out, n = drop_oldest(msgs, limit, additive)
    droppable = [1, 2, 4, 5]  # system and developer stay, the newest message stays
    want = None
    for k in range(len(droppable) + 1):  # brute force: the shortest prefix that fits
        kept = tuple(m for i, m in enumerate(msgs) if i not in droppable[:k])
        if additive(kept) <= limit:
            want = kept
            break
    assert want is not None
    assert out == want and n == additive(want) <= limit


def test_drop_oldest_returns_its_best_when_nothing_fits() -> None:
    msgs = conversation()
    out, n = drop_oldest(msgs, 5, additive)
    assert [m.role for m in out] == ["system", "developer", "user"]
    assert out[-1].content == "question" and n == additive(out)


def test_a_counter_that_is_not_additive_gets_more_dropped_after_a_recount() -> None:
    # Alone, a message counts double: the one-pass plan thinks one drop saves 2x and
    # stops too early; the recount must drop more.
    def lumpy(msgs: Sequence[Message]) -> int:
        if len(msgs) == 1:
            return 3 + 2 * (1 + len(text_of(msgs[0])))
        return additive(msgs)

    msgs = [Message("user", "a" * 9), Message("assistant", "b" * 9),
            Message("user", "c" * 9), Message("user", "q")]  # fmt: skip
    limit = additive(msgs) - 11  # one real drop is 10: two are needed
    out, n = drop_oldest(msgs, limit, lumpy)
    assert out == tuple(msgs[2:]) and n == lumpy(msgs[2:]) <= limit


def test_a_tool_call_and_its_results_are_dropped_together() -> None:
    call = Message("assistant", None, tool_calls=(
        ToolCall("c1", FunctionCall("f", "{}")), ToolCall("c2", FunctionCall("g", "{}"))))  # fmt: skip
    msgs = [
        Message("user", "u" * 10),
        call,
        Message("tool", "r" * 10, tool_call_id="c1"),
        Message("tool", "r" * 10, tool_call_id="c2"),
        Message("tool", "orphan", tool_call_id="c9"),
        Message("user", "q"),
    ]
    out, _ = drop_oldest(msgs, additive(msgs) - 11, additive)
    assert out == tuple(msgs[1:])  # the first user message was enough
    out, _ = drop_oldest(msgs, additive(msgs) - 12, additive)
    assert out == tuple(msgs[4:])  # the call went with both results, the orphan stays


def test_cut_middle_keeps_head_and_tail_around_the_marker() -> None:
    assert cut_middle("abcdefghij", 3) == "ab" + MARKER.format(n=7) + "j"
    assert cut_middle("abcdefghij", 4) == "ab" + MARKER.format(n=6) + "ij"
    assert cut_middle("abcdefghij", 0) == MARKER.format(n=10)
    assert cut_middle("abcdefghij", 10) == "abcdefghij"
    assert cut_middle("abcdefghij", 11) == "abcdefghij"


@pytest.mark.parametrize("over", [1, 40, 57, 80, 150])
def test_shorten_middle_keeps_as_much_text_as_fits(over: int) -> None:
    msgs = [Message("system", "s" * 300), Message("user", "x" * 100),
            Message("assistant", "y" * 200), Message("user", "q")]  # fmt: skip
    limit = additive(msgs) - over
    out, n = shorten_middle(msgs, limit, additive)
    fits = [k for k in range(200) if additive(
        [*msgs[:2], Message("assistant", cut_middle("y" * 200, k)), msgs[3]]) <= limit]  # fmt: skip
    if not fits:
        assert out[2].content == MARKER.format(n=200) and n > limit
        return
    best = max(fits)
    assert out == (msgs[0], msgs[1], Message("assistant", cut_middle("y" * 200, best)), msgs[3])
    assert n == additive(out) <= limit


def test_shorten_middle_cuts_the_longest_text_part_of_a_multipart_message() -> None:
    parts = (TextPart("short"), TextPart("L" * 100), TextPart("mid" * 5))
    msgs = [Message("system", "s" * 500), Message("user", parts), Message("user", "z" * 50)]
    out, n = shorten_middle(msgs, additive(msgs) - 30, additive)
    got = out[1].content
    assert isinstance(got, tuple)
    assert got[0] == parts[0] and got[2] == parts[2]
    assert got[1].text.startswith("L") and "characters cut" in got[1].text
    assert out[0] == msgs[0] and out[2] == msgs[2] and n <= additive(msgs) - 30


def test_shorten_middle_leaves_what_it_cannot_shorten() -> None:
    pinned = [Message("system", "s" * 100)]
    assert shorten_middle(pinned, 10, additive) == (tuple(pinned), additive(pinned))
    empty = [Message("system", "s" * 100), Message("assistant", None, tool_calls=(
        ToolCall("c1", FunctionCall("f", "{}")),))]  # fmt: skip
    assert shorten_middle(empty, 10, additive) == (tuple(empty), additive(empty))


def test_fit_messages_picks_the_strategy_and_rejects_others() -> None:
    msgs = conversation()
    limit = additive(msgs) - 11
    assert fit_messages(msgs, limit, additive, "oldest") == drop_oldest(msgs, limit, additive)
    assert fit_messages(msgs, limit, additive, "middle") == shorten_middle(msgs, limit, additive)
    with pytest.raises(ValueError, match="'newest'"):
        fit_messages(msgs, limit, additive, "newest")  # type: ignore[arg-type]


@pytest.mark.parametrize("ok", ["oldest", "middle", False, None])
def test_check_truncate_accepts(ok: object) -> None:
    check_truncate(ok)


@pytest.mark.parametrize("bad", ["newest", True, 0, ""])
def test_check_truncate_names_the_accepted_values(bad: object) -> None:
    with pytest.raises(ValueError, match=r"truncate must be one of \('oldest', 'middle'\)"):
        check_truncate(bad)


def test_the_marker_tells_the_model_how_much_was_cut() -> None:
    assert cut_middle("a" * 30, 10) == (
        "a" * 5 + "\n[... 20 characters cut to fit the context window ...]\n" + "a" * 5
    )
