"""``prompt_upper_bound``: never below a real count, and it spares the exact count only
where the prompt fits whatever the tokenizer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelbus import ChatRequest, Message, TextPart
from modelbus._engine.prepare import prompt_upper_bound
from modelbus._tokens.counters import ApproximateCounter
from modelbus.builtins.tokens import TiktokenCounter
from modelbus.errors import ContextLengthExceededError
from modelbus.testing import FakeProvider, make_client
from modelbus.testing.strategies import tool_specs

ROLES = st.sampled_from(["system", "user", "assistant"])
TEXT = st.text(max_size=300)  # any code points: ASCII, CJK, emoji, combining marks


@st.composite
def text_messages(draw: st.DrawFn) -> list[Message]:
    out = []
    for _ in range(draw(st.integers(0, 6))):
        role = draw(ROLES)
        if draw(st.booleans()):
            content: str | tuple[TextPart, ...] = draw(TEXT)
        else:
            content = tuple(TextPart(t) for t in draw(st.lists(TEXT, max_size=3)))
        name = draw(st.none() | st.from_regex(r"[a-zA-Z0-9_-]{1,20}", fullmatch=True))
        out.append(Message(role, content, name=name))
    return out


@settings(max_examples=150, deadline=None)
@given(text_messages(), st.sampled_from(["gpt-4o", "gpt-4", "gpt-3.5-turbo"]))
def test_never_below_the_exact_or_approximate_count(msgs: list[Message], model: str) -> None:
    bound = prompt_upper_bound(ChatRequest(model=model, messages=tuple(msgs)))
    assert bound is not None
    assert bound >= TiktokenCounter().count_messages(msgs, model)
    assert bound >= ApproximateCounter().count_messages(msgs, model)


@given(tool_specs())
def test_tools_are_not_bounded(tool: object) -> None:
    msgs = (Message("user", "hi"),)
    assert prompt_upper_bound(ChatRequest(model="m", messages=msgs, tools=(tool,))) is None  # type: ignore[arg-type]


def test_images_are_not_bounded() -> None:
    from modelbus import ImagePart, ImageURL

    img = Message("user", (TextPart("what is this"), ImagePart(ImageURL("https://x/y.png"))))
    assert prompt_upper_bound(ChatRequest(model="m", messages=(img,))) is None


class _CountingCounter(ApproximateCounter):
    calls = 0

    def count_messages(self, messages, model, tools=None):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        return super().count_messages(messages, model, tools)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[_CountingCounter]:
    _CountingCounter.calls = 0
    from modelbus._engine import Engine

    monkeypatch.setattr(
        Engine, "token_counter", lambda self, model, provider=None: _CountingCounter()
    )
    return _CountingCounter


def test_far_below_the_window_nothing_is_counted(counting: type[_CountingCounter]) -> None:
    c = make_client(FakeProvider(model="gpt-4"))  # an 8192-token window in the catalog
    c.chat("hello", max_tokens=100)
    assert counting.calls == 0


def test_near_the_window_the_exact_count_decides(counting: type[_CountingCounter]) -> None:
    fake = FakeProvider(model="gpt-4")
    c = make_client(fake)
    c.chat("word " * 1700, max_tokens=100)  # 8,500 bytes: over the bound, ~1,700 tokens
    assert counting.calls == 1 and fake.calls == 1
    with pytest.raises(ContextLengthExceededError):
        c.chat("word " * 9000, max_tokens=100)
    assert counting.calls == 2 and fake.calls == 1
