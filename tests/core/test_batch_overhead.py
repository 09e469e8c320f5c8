"""What the batch layer does per request, kept cheap without changing what users get:
the progress bar's counts (handed to rich a few times a second, the last drawing exact),
request objects handed to ``chat`` as given, a file's equal messages shared, the ids of
output lines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from modelbus._batch.files import abatch_file, read_items
from modelbus._batch.progress import Ticker, progress_bar
from modelbus._batch.runner import BatchResult, items_from_requests
from modelbus._routing.resolve import build_messages
from modelbus.testing import FakeProvider, make_client


def _ok(i: int) -> BatchResult:
    return BatchResult(i, f"c{i}")


def _failed(i: int) -> BatchResult:
    return BatchResult(i, f"c{i}", error=ValueError("x"))


def test_ticker_hands_counts_over_at_most_once_per_interval_and_the_last_on_flush() -> None:
    now = [100.0]  # a result every 0.125 s (exact in binary floating point)
    pushed: list[tuple[int, int]] = []
    t = Ticker(lambda done, failed: pushed.append((done, failed)), 0.5, clock=lambda: now[0])
    t(_ok(0))  # the first at once
    for i in range(1, 10):
        now[0] += 0.125
        t(_failed(i) if i % 3 == 0 else _ok(i))
    # At 100.0 (1 done), then at 100.5 (5 done) and 101.0 (9 done).
    assert pushed == [(1, 0), (5, 1), (9, 2)]
    now[0] += 0.125
    t(_failed(10))
    assert pushed[-1] == (9, 2)  # within the interval: not handed over yet
    t.flush()
    t.flush()  # nothing new: not handed over twice
    assert pushed[-1] == (11, 4) and len(pushed) == 4
    assert (t.done, t.failed) == (11, 4)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """stderr as a terminal rich draws its live bar on (what a user's shell is); call it
    for the last drawing, without its escape codes."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")

    def last_drawing() -> str:
        plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", capsys.readouterr().err)
        return [x for x in re.split(r"[\r\n]", plain) if x.strip()][-1]

    return last_drawing


def test_the_bar_is_drawn_live_and_its_last_drawing_counts_every_result(terminal) -> None:
    # 500 results at once: one hand-over interval, so only the final flush counts them all.
    with progress_bar(500, True, label="batch") as tick:
        for i in range(500):
            tick(_failed(i) if i % 5 == 0 else _ok(i))
    last = terminal()
    assert "500/500" in last and "100 failed" in last


def test_the_last_drawing_counts_every_result_when_the_batch_is_interrupted(terminal) -> None:
    with pytest.raises(KeyboardInterrupt), progress_bar(10, True) as tick:
        for i in range(4):
            tick(_ok(i))
        raise KeyboardInterrupt
    assert "4/10" in terminal()


async def test_abatch_progress_bar_ends_on_the_true_counts(terminal) -> None:
    fp = FakeProvider()
    for i in range(30):
        if i % 10 == 4:
            fp.enqueue_error(400, "bad")
        else:
            fp.enqueue_text(f"t{i}")
    async with make_client(fp, {"modelbus": {"cache": "none"}}) as c:
        results = await c.abatch([f"q{i}" for i in range(30)], concurrency=4, progress=True)
    assert sum(not r.ok for r in results) == 3
    last = terminal()
    assert "30/30" in last and "3 failed" in last


def test_requests_reach_chat_as_given_not_copied() -> None:
    convo = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    items = items_from_requests(
        [
            {"custom_id": "a", "messages": convo, "temperature": 0},
            {"custom_id": "b", "body": {"messages": convo, "max_tokens": 5}},
        ]
    )
    assert all(it.body is not None and it.body["messages"] is convo for it in items)
    assert items[0].body == {"messages": convo, "temperature": 0}
    # One conversation in many requests is one to the engine, as in a loop calling chat.
    assert build_messages(items[0].body["messages"]) is build_messages(convo)


def test_requests_holding_values_json_cannot_hold_are_still_refused() -> None:
    with pytest.raises(TypeError, match="JSON values, got object"):
        items_from_requests([{"messages": "hi", "temperature": object()}])
    with pytest.raises(TypeError, match="JSON values, got set"):
        items_from_requests([{"body": {"messages": "hi", "stop": {"x"}}}])


def _write(path: Path, lines: list[dict]) -> None:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")


async def test_a_files_equal_messages_are_shared_and_each_line_still_sends_its_own(
    tmp_path,
) -> None:
    system = {"role": "system", "content": "Answer in one word."}
    named = {"role": "user", "content": "same", "name": "bob"}  # not plain: never shared
    lines = [
        {"custom_id": "a", "messages": [system, {"role": "user", "content": "q1"}]},
        {"custom_id": "b", "messages": [system, {"role": "user", "content": "q2"}]},
        {"custom_id": "c", "messages": [system, {"role": "user", "content": "q1"}]},
        {"custom_id": "d", "body": {"messages": [named, {"content": "q2", "role": "user"}]}},
        {"custom_id": "e", "messages": [named, {"role": "user", "content": 7}]},
    ]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, lines)
    msgs = {it.custom_id: it.body["messages"] for it in read_items(src) if it.body}
    assert msgs["a"][0] is msgs["b"][0] is msgs["c"][0]
    assert msgs["a"][1] is msgs["c"][1] and msgs["a"][1] is not msgs["b"][1]
    assert msgs["d"][1] is msgs["b"][1]  # key order does not matter
    assert msgs["d"][0] is not msgs["e"][0]
    assert msgs["a"] is not msgs["c"]  # each line keeps its own list
    # A conversation repeated whole is one sent again to the engine.
    assert build_messages(msgs["a"]) is build_messages(msgs["c"])
    for line in lines:  # nothing changed what a line says
        cid = line["custom_id"]
        assert msgs[cid] == line.get("body", line)["messages"]

    fp = FakeProvider()
    async with make_client(fp, {"modelbus": {"cache": "none"}}) as c:
        summary = await abatch_file(c, src, out, concurrency=3)
    assert (summary.succeeded, summary.failed) == (4, 1)  # e: content 7 is not a message
    sent = sorted(r.messages[-1].content for r in fp.requests)
    assert sent == ["q1", "q1", "q2", "q2"]
    by_id = {x["custom_id"]: x for x in map(json.loads, out.read_text().splitlines())}
    for cid, q in (("a", "q1"), ("b", "q2"), ("c", "q1"), ("d", "q2")):
        assert by_id[cid]["response"]["body"]["choices"][0]["message"]["content"] == f"echo: {q}"


def test_output_line_ids_are_32_hex_digits_and_distinct() -> None:
    ids = {_failed(0).to_openai()["id"] for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"batch_req_[0-9a-f]{32}", x) for x in ids)
