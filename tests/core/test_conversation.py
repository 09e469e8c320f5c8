"""Conversations (core/modelbus/_conversation.py): history, token counting, tools, the
context policy through the pipeline, and the JSONL dialogue log."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from modelbus import Conversation, Message, ToolSpec, Usage, tool
from modelbus.errors import BadRequestError
from modelbus.testing import FakeClock, FakeProvider, make_client


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider("fake", clock=FakeClock())


def ticking_clock() -> Callable[[], dt.datetime]:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    steps = itertools.count()
    return lambda: start + dt.timedelta(seconds=next(steps))


def test_send_keeps_the_history(fake: FakeProvider) -> None:
    fake.enqueue_text("Hello!").enqueue_text("Still here.", usage=Usage(20, 3, 23))
    client = make_client(fake)
    conv = client.conversation(system="Be terse.", temperature=0.1)
    assert conv.send("Hi").content == "Hello!"
    assert conv.send("Still there?", temperature=0.5).content == "Still here."
    assert [(m.role, m.text) for m in conv.messages] == [
        ("system", "Be terse."),
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "Still there?"),
        ("assistant", "Still here."),
    ]
    assert fake.requests[1].messages == conv.messages[:4]
    assert [r.temperature for r in fake.requests] == [0.1, 0.5]
    assert conv.usage == Usage(30, 8, 38)
    assert conv.turns[2].usage == Usage(10, 5, 15) and conv.turns[1].usage is None
    assert conv.turns[2].provider == "fake" and conv.turns[2].model == "fake-model"


async def test_asend(fake: FakeProvider) -> None:
    fake.enqueue_text("one").enqueue_text("two")
    conv = make_client(fake).conversation(model="fake/fake-model")
    await conv.asend("a")
    resp = await conv.asend(Message("user", "b"))
    assert resp.content == "two"
    assert [m.text for m in conv.messages] == ["a", "one", "b", "two"]


def test_failed_send_leaves_history_unchanged(fake: FakeProvider) -> None:
    fake.enqueue_text("fine").enqueue_error(400, "bad request")
    conv = make_client(fake).conversation()
    conv.send("first")
    before = conv.messages
    with pytest.raises(BadRequestError):
        conv.send("second")
    assert conv.messages == before
    fake.enqueue_text("recovered")
    assert conv.send("third").content == "recovered"  # not stuck "busy"


def test_one_send_at_a_time(fake: FakeProvider) -> None:
    conv = make_client(fake).conversation()
    inner: list[BaseException] = []

    @tool
    def nested() -> str:
        try:
            conv.send("inside")
        except RuntimeError as exc:
            inner.append(exc)
        return "ok"

    fake.enqueue_tool_call("nested", "{}").enqueue_text("done")
    conv.send("outer", tools=[nested])
    assert len(inner) == 1 and "one message at a time" in str(inner[0])


def test_tool_rounds_land_in_the_history(fake: FakeProvider) -> None:
    @tool
    def lookup(key: str) -> str:
        return key.upper()

    fake.enqueue_tool_call("lookup", '{"key": "k"}', call_id="c7").enqueue_text("K it is")
    conv = make_client(fake).conversation(tools=[lookup], now=ticking_clock())
    resp = conv.send("look up k")
    assert [m.role for m in conv.messages] == ["user", "assistant", "tool", "assistant"]
    assert conv.messages[2] == Message("tool", "K", tool_call_id="c7")
    assert conv.turns[-1].usage == resp.usage == Usage(20, 10, 30)
    fake.enqueue_text("again")
    conv.send("more")
    assert fake.requests[-1].messages[:4] == conv.messages[:4]


class SpyCounter:
    """The real counter, recording which messages it was asked to count."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.exact = inner.exact
        self.seen: list[tuple[Message, ...]] = []

    def serves(self, model: str) -> bool:
        return True

    def count_text(self, text: str, model: str) -> int:
        return int(self.inner.count_text(text, model))

    def count_messages(
        self, messages: Sequence[Message], model: str, tools: Sequence[ToolSpec] | None = None
    ) -> int:
        self.seen.append(tuple(messages))
        return int(self.inner.count_messages(messages, model, tools))


def test_tokens_are_counted_incrementally(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.enqueue_text("The capital of France is Paris.").enqueue_text("About 2.1 million.")
    client = make_client(fake)
    real = client.token_counter("gpt-4o", "fake")  # tiktoken's o200k counter when installed
    spy = SpyCounter(real)
    monkeypatch.setattr(client, "token_counter", lambda model, provider=None: spy)
    conv = client.conversation(system="You answer questions.", model="fake/gpt-4o")
    conv.send("What is the capital of France?")
    assert conv.tokens == real.count_messages(conv.messages, "gpt-4o")
    counted = {m for batch in spy.seen for m in batch}
    spy.seen.clear()
    conv.send("How many people live there?")
    assert conv.tokens == real.count_messages(conv.messages, "gpt-4o")
    # per-message counts (the pipeline's context check counts whole requests): only the
    # two new messages were counted; the first three were not counted again
    newly = [batch[0] for batch in spy.seen if len(batch) == 1]
    assert sorted(m.text for m in newly) == ["About 2.1 million.", "How many people live there?"]
    assert all(m not in counted for m in newly)


def test_context_policy_applies_to_what_is_sent(fake: FakeProvider) -> None:
    config = {"modelbus": {"truncate": "oldest"}, "catalog": {"fake-model": {"context_window": 60}}}
    client = make_client(fake, config)
    conv = client.conversation(system="S")
    for i in range(6):
        conv.send("word " * 20 + str(i))
    assert len(conv.messages) == 13  # the conversation keeps everything
    last = fake.requests[-1].messages
    assert len(last) < len(conv.messages) - 1  # what was sent was cut to fit
    assert last[0] == Message("system", "S") and last[-1] == conv.messages[-2]


def test_save_and_load_round_trip(fake: FakeProvider, tmp_path: Path) -> None:
    @tool
    def lookup(key: str) -> str:
        return key.upper()

    fake.enqueue_text("Hi, Ann.").enqueue_tool_call("lookup", '{"key": "é"}')
    fake.enqueue_text("É")
    client = make_client(
        fake, {"catalog": {"fake-model": {"input_per_1m": 1.0, "output_per_1m": 1.0}}}
    )
    conv = client.conversation(system="Sys", now=ticking_clock())
    conv.send("I am Ann")
    conv.send("upper é", tools=[lookup])
    path = conv.save(tmp_path / "chat.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(conv.messages) == 7
    records = [json.loads(line) for line in lines]
    assert records[0] == {
        "role": "system",
        "content": "Sys",
        "timestamp": "2025-01-01T00:00:00+00:00",
    }
    assert records[2]["usage"]["prompt_tokens"] == 10 and records[2]["model"] == "fake-model"
    assert records[2]["cost_usd"] == pytest.approx(15 / 1e6)
    assert records[4]["tool_calls"][0]["function"] == {
        "name": "lookup",
        "arguments": '{"key": "é"}',
    }
    assert records[5] == {
        "role": "tool",
        "content": "É",
        "tool_call_id": "call_1",
        "timestamp": records[5]["timestamp"],
    }
    assert "é" in lines[4]  # UTF-8, not \\u escapes

    loaded = Conversation.load(client, path)
    assert loaded.messages == conv.messages
    assert loaded.turns == conv.turns
    fake.enqueue_text("Bye, Ann.")
    loaded.send("bye")
    assert fake.requests[-1].messages[:7] == conv.messages


def test_load_reports_the_bad_line(fake: FakeProvider, tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"role": "user", "content": "ok"}\n\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: bad conversation record"):
        Conversation.load(make_client(fake), p)
    p.write_text('{"role": "wizard", "content": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r":1: .*role must be one of"):
        Conversation.load(make_client(fake), p)
