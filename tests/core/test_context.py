"""Context fitting: the pure strategies (properties) and the pre-send check in the client."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelbus import FunctionCall, Message, TextPart, ToolCall
from modelbus._tokens.context_window import (
    MARKER,
    cut_middle,
    drop_oldest,
    fit_messages,
    shorten_middle,
)
from modelbus.builtins.tokens import TiktokenCounter
from modelbus.errors import ContextLengthExceededError
from modelbus.testing import FakeProvider, make_client

PINNED = ("system", "developer")
COUNTER = TiktokenCounter()


def count(msgs: Sequence[Message]) -> int:
    return COUNTER.count_messages(msgs, "gpt-4o")


_words = st.lists(
    st.sampled_from(
        ["alpha", "beta", "gamma", "delta", "token", "context", "window", "😀", "\n", "42"]
    ),
    max_size=60,
).map(" ".join)


@st.composite
def conversations(draw: st.DrawFn) -> list[Message]:
    """System/developer messages anywhere, user and assistant turns, and tool-call groups
    (an assistant message with 1-3 calls followed by one tool result per call)."""
    out: list[Message] = []
    n_calls = 0
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["system", "developer", "user", "assistant", "tools"]))
        if kind == "tools":
            ids = []
            for _ in range(draw(st.integers(1, 3))):
                n_calls += 1
                ids.append(f"call_{n_calls}")
            calls = tuple(ToolCall(i, FunctionCall("lookup", draw(_words))) for i in ids)
            out.append(Message("assistant", None, tool_calls=calls))
            out.extend(Message("tool", draw(_words), tool_call_id=i) for i in ids)
        else:
            out.append(Message(kind, draw(_words)))
    return out


def _pinned(msgs: Sequence[Message]) -> list[Message]:
    return [m for m in msgs if m.role in PINNED]


def _unit_keys(msgs: Sequence[Message]) -> dict[int, int]:
    """Index of each droppable message → index of the message that starts its unit (a
    tool result belongs to the assistant message that made the call)."""
    caller: dict[str, int] = {}
    keys: dict[int, int] = {}
    for i, m in enumerate(msgs):
        if m.role in PINNED:
            continue
        keys[i] = caller.get(m.tool_call_id, i) if m.role == "tool" and m.tool_call_id else i
        for tc in m.tool_calls or ():
            caller[tc.id] = i
    return keys


def _check_tool_pairs(result: Sequence[Message], original: Sequence[Message]) -> None:
    kept_ids = {id(m) for m in result}
    for m in original:
        for tc in m.tool_calls or ():
            results = [r for r in original if r.role == "tool" and r.tool_call_id == tc.id]
            for r in results:
                assert (id(m) in kept_ids) == (id(r) in kept_ids), "call separated from result"


@settings(max_examples=150, deadline=None)
@given(conversations(), st.data())
def test_drop_oldest_properties(msgs: list[Message], data: st.DataObject) -> None:
    total = count(msgs)
    limit = data.draw(st.integers(0, total + 20), label="limit")
    result, tokens = drop_oldest(msgs, limit, count)
    assert tokens == count(result)
    if total <= limit:
        assert result == tuple(msgs)  # nothing dropped when it already fits
        return
    assert _pinned(result) == _pinned(msgs)  # system messages survive, in order
    it = iter(msgs)
    assert all(any(m is o for o in it) for m in result)  # a subsequence of the original
    _check_tool_pairs(result, msgs)
    keys = _unit_keys(msgs)
    kept_ids = {id(m) for m in result}
    kept = {keys[i] for i, m in enumerate(msgs) if i in keys and id(m) in kept_ids}
    dropped = {keys[i] for i, m in enumerate(msgs) if i in keys and id(m) not in kept_ids}
    assert not kept & dropped  # units go whole
    if not keys:
        assert result == tuple(msgs)  # only system messages: nothing to drop
        return
    assert max(keys.values()) in kept  # the newest unit always stays
    if dropped:
        assert max(dropped) < min(kept)  # the oldest went first
    if tokens > limit:
        assert kept == {max(keys.values())}  # it could not fit: everything else is gone


@settings(max_examples=150, deadline=None)
@given(conversations(), st.data())
def test_shorten_middle_properties(msgs: list[Message], data: st.DataObject) -> None:
    total = count(msgs)
    limit = data.draw(st.integers(0, total + 20), label="limit")
    result, tokens = shorten_middle(msgs, limit, count)
    assert tokens == count(result)
    assert len(result) == len(msgs)
    if total <= limit:
        assert result == tuple(msgs)
        return
    assert _pinned(result) == _pinned(msgs)
    changed = [(o, r) for o, r in zip(msgs, result, strict=True) if o != r]
    assert len(changed) <= 1
    for o, r in changed:
        assert o.role not in PINNED and r.role == o.role
        assert r.tool_call_id == o.tool_call_id and r.tool_calls == o.tool_calls
        assert "characters cut to fit the context window" in r.text
    if tokens <= limit:
        assert changed  # it had to change something to fit


def test_oldest_keeps_system_and_the_newest_turn() -> None:
    msgs = [Message("system", "be brief")] + [
        Message("user" if i % 2 == 0 else "assistant", f"turn {i} " + "word " * 50)
        for i in range(10)
    ]
    result, tokens = fit_messages(msgs, 200, count, "oldest")
    assert tokens <= 200
    assert result[0] == msgs[0] and result[-1] == msgs[-1]
    assert list(result[1:]) == msgs[len(msgs) - len(result) + 1 :]


def test_oldest_drops_a_tool_call_with_all_its_results() -> None:
    call = Message(
        "assistant",
        None,
        tool_calls=(
            ToolCall("c1", FunctionCall("f", "{}")),
            ToolCall("c2", FunctionCall("g", "{}")),
        ),
    )
    msgs = [
        Message("user", "start " * 100),
        call,
        Message("tool", "result one " * 50, tool_call_id="c1"),
        Message("tool", "result two", tool_call_id="c2"),
        Message("user", "and now?"),
    ]
    limit = count([msgs[3], msgs[4]]) + 5  # would fit if only the call were cut away
    result, _ = drop_oldest(msgs, limit, count)
    assert call not in result and not any(m.role == "tool" for m in result)
    assert result == (msgs[-1],)


def test_middle_cuts_the_longest_message_keeping_both_ends() -> None:
    long = "BEGIN " + "filler " * 2000 + " END"
    msgs = [Message("system", "sys"), Message("user", "short"), Message("user", long)]
    result, tokens = fit_messages(msgs, 300, count, "middle")
    assert tokens <= 300
    cut = result[2].text
    assert cut.startswith("BEGIN") and cut.endswith("END")
    assert MARKER.split("{n}")[0] in cut and result[:2] == tuple(msgs[:2])
    assert tokens > 250  # it kept as much as fits, not just the ends


def test_middle_shortens_a_text_part_of_a_multi_part_message() -> None:
    msgs = [Message("user", (TextPart("a " * 3000), TextPart("question?")))]
    result, tokens = shorten_middle(msgs, 100, count)
    assert tokens <= 100
    parts = result[0].content
    assert isinstance(parts, tuple) and parts[1] == TextPart("question?")


def test_cut_middle() -> None:
    assert cut_middle("abcdef", 6) == "abcdef"
    assert cut_middle("abcdef", 3) == "ab" + MARKER.format(n=3) + "f"
    assert cut_middle("abcdef", 0) == MARKER.format(n=6)


def test_unknown_strategy_is_rejected() -> None:
    with pytest.raises(ValueError, match="truncate must be one of"):
        fit_messages([], 10, count, "newest")  # type: ignore[arg-type]


class TestPreSendCheck:
    """Through a real client: gpt-4's catalog window is 8192 tokens."""

    LONG = "word " * 9000  # about 9000 tokens

    def test_over_the_window_raises_locally_naming_both_numbers(self) -> None:
        fake = FakeProvider(model="gpt-4")
        c = make_client(fake)
        with pytest.raises(ContextLengthExceededError) as info:
            c.chat(self.LONG, max_tokens=100)
        err = info.value
        assert fake.calls == 0
        assert err.context_window == 8192 and err.prompt_tokens == c.count_tokens(self.LONG)
        assert f"{err.prompt_tokens} prompt tokens + 100 max_tokens" in str(err)
        assert "8192" in str(err) and err.provider == "fake"

    def test_max_tokens_counts_against_the_window(self) -> None:
        fake = FakeProvider(model="gpt-4")
        c = make_client(fake)
        c.chat("hello", max_tokens=8000)
        with pytest.raises(ContextLengthExceededError):
            c.chat("hello", max_tokens=8190)
        assert fake.calls == 1

    def test_per_call_oldest(self) -> None:
        fake = FakeProvider(model="gpt-4")
        c = make_client(fake)
        history = [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": self.LONG},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "question"},
        ]
        c.chat(history, truncate="oldest", max_tokens=100)
        sent = fake.requests[-1].messages
        assert [m.text for m in sent] == ["sys", "ok", "question"]

    def test_the_fitted_request_is_remembered_per_client_and_per_truncate(self) -> None:
        """The same messages (one list, sent again) through two clients that fit them
        differently, in turns: each client's answer is its own, every time (the fitted
        request is remembered per engine, by truncate mode; an error is not)."""
        history = [{"role": "system", "content": "sys"}, {"role": "user", "content": self.LONG}]
        fake_cut, fake_plain = FakeProvider(model="gpt-4"), FakeProvider(model="gpt-4")
        cutting = make_client(fake_cut, {"modelbus": {"truncate": "middle"}})
        plain = make_client(fake_plain)
        for _ in range(3):
            cutting.chat(history, max_tokens=100, cache="bypass")
            assert "characters cut to fit" in fake_cut.requests[-1].messages[1].text
            with pytest.raises(ContextLengthExceededError):
                plain.chat(history, max_tokens=100, cache="bypass")
            with pytest.raises(ContextLengthExceededError):
                cutting.chat(history, max_tokens=100, truncate=False, cache="bypass")
        assert fake_cut.calls == 3 and fake_plain.calls == 0
        # the fitted request is the same object each time: built once
        sent = fake_cut.requests
        assert sent[0] is sent[1] is sent[2]

    def test_config_middle_and_per_call_false(self) -> None:
        fake = FakeProvider(model="gpt-4")
        c = make_client(fake, {"modelbus": {"truncate": "middle"}})
        c.chat(self.LONG, max_tokens=100)
        sent = fake.requests[-1]
        assert "characters cut to fit" in sent.messages[0].text
        assert count(sent.messages) + 100 <= 8192
        with pytest.raises(ContextLengthExceededError):
            c.chat(self.LONG + "x", max_tokens=100, truncate=False)
        assert fake.calls == 1

    def test_an_answer_from_truncated_messages_is_not_served_without_truncation(self) -> None:
        fake = FakeProvider(model="gpt-4")
        c = make_client(fake)  # memory cache on
        history = [{"role": "user", "content": self.LONG}, {"role": "user", "content": "q"}]
        first = c.chat(history, truncate="oldest", max_tokens=100)
        assert not first.cached and fake.calls == 1
        # the same call again is a hit; without truncation it must raise, not hit
        assert c.chat(history, truncate="oldest", max_tokens=100).cached
        with pytest.raises(ContextLengthExceededError):
            c.chat(history, max_tokens=100)
        assert fake.calls == 1
        # a request that fits keeps one key whatever the strategy
        c.chat("short", max_tokens=10)
        assert c.chat("short", max_tokens=10, truncate=False).cached

    def test_truncation_that_cannot_fit_still_raises(self) -> None:
        fake = FakeProvider(model="gpt-4")
        c = make_client(fake)
        with pytest.raises(ContextLengthExceededError, match="after truncate='oldest'"):
            c.chat(
                [{"role": "system", "content": self.LONG}, {"role": "user", "content": "q"}],
                truncate="oldest",
            )
        assert fake.calls == 0

    def test_bad_truncate_value(self) -> None:
        c = make_client(FakeProvider(model="gpt-4"))
        with pytest.raises(ValueError, match="truncate must be one of"):
            c.chat("hi", truncate="newest")  # type: ignore[arg-type]

    def test_input_limit_of_the_gpt5_family(self) -> None:
        fake = FakeProvider(model="gpt-5")
        c = make_client(fake, {"catalog": {"gpt-5": {"max_input_tokens": 50}}})
        with pytest.raises(ContextLengthExceededError, match="input limit of gpt-5 .50 tokens"):
            c.chat("word " * 60, max_tokens=100000)
        c.chat("word " * 10, max_tokens=100000)
        assert fake.calls == 1

    def test_unknown_models_are_sent_unchecked(self) -> None:
        fake = FakeProvider(model="local-llama")
        c = make_client(fake)
        c.chat(self.LONG * 50)
        assert fake.calls == 1

    async def test_async_and_streams(self) -> None:
        fake = FakeProvider(model="gpt-4")
        c = make_client(fake, {"modelbus": {"cache": "none"}})
        with pytest.raises(ContextLengthExceededError):
            await c.achat(self.LONG)
        history = [{"role": "user", "content": self.LONG}, {"role": "user", "content": "q"}]
        await c.achat(history, truncate="oldest")
        assert [m.text for m in fake.requests[-1].messages] == ["q"]
        with pytest.raises(ContextLengthExceededError):
            for _ in c.stream(self.LONG):
                pass
        for _ in c.stream(history, truncate="middle"):
            pass
        assert "characters cut" in fake.requests[-1].messages[0].text
        async for _ in c.astream(history, truncate="oldest"):
            pass
        assert [m.text for m in fake.requests[-1].messages] == ["q"]
        with pytest.raises(ContextLengthExceededError):
            async for _ in c.astream(self.LONG):
                pass
        assert fake.calls == 3
