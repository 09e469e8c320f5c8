"""The built-in ``log`` observer: every call recorded in a real SQLite file, searchable
with FTS5, written by a background thread that never fails or blocks a call."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

import modelbus
from modelbus.builtins._calllog_store import QueryError, connect, search, turns
from modelbus.builtins.calllog import CallLog, LogSettings, conversation, flush_all, writer_for
from modelbus.errors import AuthenticationError, ConfigError
from modelbus.events import CallFailed, CallStarted, ErrorInfo
from modelbus.testing import FakeProvider, make_client
from tests.core.test_observers import MODES, call

PRICE = {"fake-model": {"input_per_1m": 1.0, "output_per_1m": 2.0}}


def config(path: Path, **log: Any) -> dict[str, Any]:
    return {
        "modelbus": {"observers": ["log"], "cache": "memory"},
        "log": {"path": str(path), **log},
        "catalog": PRICE,
    }


def rows(path: Path, **kw: Any) -> list[dict[str, Any]]:
    flush_all(10.0, path)
    conn = connect(path, create=False)
    try:
        return search(conn, limit=100_000, **kw)
    finally:
        conn.close()


def file_bytes(path: Path) -> bytes:
    """The database and its WAL: a row may still be in the WAL after a commit."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


@pytest.mark.parametrize("mode", MODES)
def test_a_call_is_recorded_with_usage_cost_cache_and_conversation(
    tmp_path: Path, mode: str
) -> None:
    path = tmp_path / "calls.db"
    provider = FakeProvider().enqueue_text("a blue whale", usage=modelbus.Usage(1000, 500, 1500))
    with make_client(provider, config(path)) as client, conversation("c-1"):
        call(client, mode, "tell me about whales", temperature=0.5, max_tokens=20)
        call(client, mode, "tell me about whales", temperature=0.5, max_tokens=20)
    hit, miss = rows(path)
    assert miss["cid"] == hit["cid"] == "c-1"
    assert (miss["operation"], miss["provider"], miss["model"]) == ("chat", "fake", "fake-model")
    assert miss["stream"] is mode.endswith("stream")
    assert miss["messages"] == [{"role": "user", "content": "tell me about whales"}]
    assert miss["params"] == {"temperature": 0.5, "max_tokens": 20}
    assert miss["response"] == {"role": "assistant", "content": "a blue whale"}
    assert miss["usage"]["prompt_tokens"] == 1000 and miss["usage"]["total_tokens"] == 1500
    assert miss["cost_usd"] == pytest.approx(1000 * 1e-6 + 500 * 2e-6)
    assert (miss["cache"], miss["attempts"], miss["error"]) == ("miss", 1, None)
    assert (hit["cache"], hit["attempts"]) == ("hit", 0)
    assert miss["latency_s"] >= 0 and miss["ts"] > 0


def test_a_failed_call_is_recorded_with_its_error_and_attempts(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    provider = FakeProvider()
    provider.enqueue_error(503, "overloaded").enqueue_error(401, "bad key sk-abcdefghij123456")
    cfg = config(path)
    cfg["retry_policies"] = {"exponential": {"max_attempts": 3}}
    with make_client(provider, cfg) as client, pytest.raises(AuthenticationError):
        client.chat("hi")
    (r,) = rows(path)
    assert r["error"]["type"] == "AuthenticationError" and r["error"]["status_code"] == 401
    assert r["attempts"] == 2 and r["response"] is None and r["usage"] is None
    assert b"sk-abcdefghij123456" not in file_bytes(path)


def test_embeddings_and_the_tool_loop_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    provider = FakeProvider().enqueue_tool_call("add", '{"a": 1, "b": 2}').enqueue_text("3")

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    with make_client(provider, config(path)) as client:
        client.embed(["alpha beta", "gamma"])
        client.chat("what is 1+2?", tools=[add])
    by_op: dict[str, list[dict[str, Any]]] = {}
    for r in rows(path):
        by_op.setdefault(r["operation"], []).append(r)
    (emb,) = by_op["embeddings"]
    assert emb["messages"] is None and emb["response"] is None
    assert rows(path, query="gamma")[0]["id"] == emb["id"]
    assert len(by_op["chat"]) == 2 and len(by_op["tool_loop"]) == 1
    assert by_op["tool_loop"][0]["response"]["content"] == "3"


def test_search_finds_words_of_prompts_and_replies_with_model_and_cid_filters(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calls.db"
    with make_client(FakeProvider(), config(path, **{})) as client:
        with conversation("one"):
            client.chat("the quick brown fox", cache="bypass")
        with conversation("two"):
            client.chat("lazy dogs sleep", cache="bypass")
            client.chat("quick dogs run", cache="bypass", model="fake/other-model")
    assert [r["messages"][0]["content"] for r in rows(path, query="quick")] == [
        "quick dogs run",
        "the quick brown fox",
    ]
    assert [r["cid"] for r in rows(path, query="dogs quick")] == ["two"]
    assert len(rows(path, query="echo")) == 3  # replies are searched too: "echo: ..."
    assert len(rows(path, query="qui*")) == 2
    assert [r["model"] for r in rows(path, query="dogs", model="fake-model")] == ["fake-model"]
    assert [r["cid"] for r in rows(path, cid="one")] == ["one"]
    conn = connect(path, create=False)
    assert len(search(conn, limit=1)) == 1
    conn.close()


HOSTILE = [
    '"',
    '"unbalanced',
    "AND",
    "OR NOT",
    "NEAR(a b",
    "prompt:fox",
    "*",
    "^start",
    ")(",
    "'; DROP TABLE calls; --",
    "a AND (b OR",
    "\x00nul",
    "col:umn",
]


def test_hostile_search_text_is_searched_for_never_parsed(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with make_client(FakeProvider(), config(path)) as client:
        client.chat("find prompt:fox and a AND (b OR here")
    for q in HOSTILE:
        assert isinstance(rows(path, query=q), list), q
    assert len(rows(path, query="prompt:fox")) == 1
    assert len(rows(path, query="a AND (b OR")) == 1
    assert rows(path, query="NEAR(a b") == []
    conn = connect(path, create=False)
    assert conn.execute("SELECT count(*) FROM calls").fetchone()[0] == 1  # still there
    for blank in ("", "   ", "\n\t"):
        with pytest.raises(QueryError, match="empty"):
            search(conn, query=blank)
    conn.close()


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
def test_any_search_text_runs_or_is_refused_as_empty(text: str) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE VIRTUAL TABLE calls_fts USING fts5 (prompt, reply)")
    conn.execute(
        "CREATE TABLE calls (id INTEGER PRIMARY KEY, ts REAL, cid TEXT, model TEXT, "
        "stream INTEGER, messages TEXT, params TEXT, response TEXT, usage TEXT, error TEXT)"
    )
    try:
        search(conn, query=text)
    except QueryError:
        assert not text.replace("\x00", " ").split()  # NUL ends an SQLite string


def test_many_threads_and_tasks_logging_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with make_client(FakeProvider(), config(path)) as client:

        def worker(t: int) -> None:
            with conversation(f"thread-{t}"):
                for i in range(50):
                    client.chat(f"thread {t} call {i}", cache="bypass")

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()

        async def tasks() -> None:
            async def one(i: int) -> None:
                with conversation(f"task-{i % 4}"):
                    await client.achat(f"task call {i}", cache="bypass")

            await asyncio.gather(*(one(i) for i in range(200)))

        asyncio.run(tasks())
        for th in threads:
            th.join()
    got = rows(path)
    assert len(got) == 8 * 50 + 200
    prompts = {r["messages"][0]["content"]: r["cid"] for r in got}
    assert len(prompts) == 600
    assert prompts["thread 3 call 49"] == "thread-3"
    assert prompts["task call 6"] == "task-2"


def test_a_secret_never_reaches_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "calls.db"
    secret = modelbus.Secret("hunter2-very-secret-value")
    provider = FakeProvider().enqueue_text("ok").enqueue_error(401, f"refused {secret}")
    with make_client(provider, config(path)) as client:
        client.chat(
            "my key is sk-live-0123456789abcdef, keep it",
            extra_body={"api_key": "plain-key-in-extra-body", "mode": "x"},
            cache="bypass",
        )
        with pytest.raises(AuthenticationError):
            client.chat(f"and the other is {secret.get_secret_value()}", cache="bypass")
    got = rows(path)
    assert len(got) == 2
    data = file_bytes(path)
    for leaked in (b"sk-live-0123456789abcdef", b"plain-key-in-extra-body", b"hunter2-very"):
        assert leaked not in data
    assert got[1]["params"]["mode"] == "x"  # the rest of the parameters are kept


def test_enabled_false_records_nothing(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with make_client(FakeProvider(), config(path, enabled=False)) as client:
        client.chat("hello")
    flush_all(10.0)
    assert not path.exists()


def test_an_unwritable_path_is_one_warning_and_the_calls_go_on(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    path = blocker / "calls.db"
    with capture_logs() as logs, make_client(FakeProvider(), config(path)) as client:
        for i in range(3):
            assert client.chat(f"hello {i}", cache="bypass").content == f"echo: hello {i}"
            flush_all(10.0, path)
    warnings = [e for e in logs if e["event"] == "modelbus.log_write_failed"]
    assert len(warnings) == 1
    assert warnings[0]["path"] == str(path) and "a-file" in warnings[0]["error"]


def test_a_locked_file_is_one_warning_then_writing_resumes(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    connect(path).close()  # the schema exists; another process now holds the lock
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    cfg = config(path, busy_timeout_s=0)
    with capture_logs() as logs, make_client(FakeProvider(), cfg) as client:
        client.chat("while locked", cache="bypass")
        flush_all(10.0, path)
        client.chat("still locked", cache="bypass")
        flush_all(10.0, path)
        locker.execute("ROLLBACK")
        client.chat("after the lock", cache="bypass")
    warnings = [e for e in logs if e["event"] == "modelbus.log_write_failed"]
    assert len(warnings) == 1 and "locked" in warnings[0]["error"]
    assert [r["messages"][0]["content"] for r in rows(path)] == ["after the lock"]
    locker.close()


def test_a_full_queue_drops_calls_with_one_warning_and_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    connect(path).close()
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # the writer waits on it, up to busy_timeout_s
    cfg = config(path, queue_size=2, busy_timeout_s=30)
    with capture_logs() as logs, make_client(FakeProvider(), cfg) as client:
        for i in range(20):
            client.chat(f"call {i}", cache="bypass")
        locker.execute("ROLLBACK")
        flush_all(30.0, path)
    w = writer_for(path, CallLog().settings)
    # the queue holds 2, the blocked writer a first batch of a few: most are dropped
    assert w.dropped >= 10 and w.written + w.dropped == 20
    warnings = [e for e in logs if e["event"] == "modelbus.log_write_failed"]
    assert len(warnings) == 1 and "queue is full" in warnings[0]["error"]
    assert len(rows(path)) == w.written
    locker.close()


def test_turns_are_the_user_and_assistant_messages_of_the_last_answer(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with make_client(FakeProvider(), config(path)) as client, conversation("c"):
        first = client.chat("hi", system="be brief", cache="bypass")
        client.chat(
            [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
                first.message,
                {"role": "user", "content": "again"},
            ],
            cache="bypass",
        )
    flush_all(10.0, path)
    conn = connect(path, create=False)
    assert turns(conn, "c") == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "echo: hi"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "echo: again"},
    ]
    assert turns(conn, "unknown") == []
    conn.close()


def test_rows_are_written_at_interpreter_exit(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "calls.db"
    script = (
        "from modelbus.testing import FakeProvider, make_client\n"
        f"c = make_client(FakeProvider(), {config(path)!r})\n"
        "for i in range(100):\n"
        "    c.chat(f'exit test {i}', cache='bypass')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(rows(path)) == 100


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        ({"log": {"pth": "x"}}, "log.pth", "accepted keys"),
        ({"log": {"queue_size": 0}}, "log.queue_size", "queue_size"),
        ({"log": {"enabled": "yes please"}}, "log.enabled", ""),
        ({"log": {}, "observers": {"log": {}}}, "observers.log", "keep one"),
        ({"log": "on"}, "log", "must be a table"),
    ],
)
def test_the_log_section_is_checked_naming_the_key_and_the_file(
    section: dict[str, Any], key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        modelbus.Config.from_dict(section, source="cfg.toml")
    assert info.value.key == key and info.value.source == "cfg.toml"
    assert message in str(info.value)


def test_observers_log_is_the_same_section(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    cfg = {"modelbus": {"observers": ["log"]}, "observers": {"log": {"path": str(path)}}}
    with make_client(FakeProvider(), cfg) as client:
        client.chat("via observers.log")
    assert len(rows(path)) == 1


def test_an_empty_file_reads_as_an_empty_log_and_another_schema_is_refused(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    conn = connect(empty, create=False)
    assert search(conn, query="anything") == []
    conn.close()
    other = tmp_path / "other.db"
    c = sqlite3.connect(other)
    c.execute("PRAGMA user_version = 7")
    c.close()
    with pytest.raises(sqlite3.DatabaseError, match="schema version 7"):
        connect(other, create=False)


def _child_calls(client: modelbus.Client, path: Path) -> None:
    client.chat("from the child", cache="bypass")
    flush_all(10.0, path)  # a fork child leaves through os._exit: no atexit


def test_a_forked_child_writes_its_own_calls(tmp_path: Path) -> None:
    import multiprocessing

    path = tmp_path / "calls.db"
    with make_client(FakeProvider(), config(path)) as client:
        client.chat("from the parent", cache="bypass")  # the parent's writer is running
        child = multiprocessing.get_context("fork").Process(
            target=_child_calls, args=(client, path)
        )
        child.start()
        child.join(60)
        assert child.exitcode == 0
        client.chat("parent again", cache="bypass")
    got = sorted(r["messages"][0]["content"] for r in rows(path))
    assert got == ["from the child", "from the parent", "parent again"]


def test_a_call_the_row_code_cannot_record_is_dropped_and_the_writer_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelbus.builtins import _calllog_rows

    real = _calllog_rows.row

    def row(item: Any) -> Any:
        if item[0].request.messages[-1].text.startswith("boom"):
            raise ValueError("unforeseen")
        return real(item)

    monkeypatch.setattr(_calllog_rows, "row", row)
    path = tmp_path / "calls.db"
    with capture_logs() as logs, make_client(FakeProvider(), config(path)) as client:
        for prompt in ("before", "boom 1", "boom 2", "after"):
            assert client.chat(prompt, cache="bypass").content == f"echo: {prompt}"
        flush_all(10.0, path)  # the warning comes from the writer thread
    assert [r["messages"][0]["content"] for r in rows(path)] == ["after", "before"]
    warnings = [e for e in logs if e["event"] == "modelbus.log_write_failed"]
    assert len(warnings) == 1 and "ValueError: unforeseen" in warnings[0]["error"]


def test_close_writes_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    log = CallLog(LogSettings(path=str(path)))
    started = CallStarted(1, None, "chat", "fake", "m", None)
    log.on_event(started)
    log.on_event(CallFailed(1, ErrorInfo("X", "y"), 0.1))
    log.close()
    conn = sqlite3.connect(path)  # not through rows(): that would flush by itself
    ((operation, error),) = conn.execute("SELECT operation, error FROM calls").fetchall()
    assert operation == "chat" and json.loads(error)["message"] == "y"
    conn.close()


def test_processes_writing_one_file_at_once_lose_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "calls.db"
    script = (
        "import sys\n"
        "from modelbus.testing import FakeProvider, make_client\n"
        f"c = make_client(FakeProvider(), {config(path)!r})\n"
        "for i in range(100):\n"
        "    c.chat(f'process {sys.argv[1]} call {i}', cache='bypass')\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(n)], stderr=subprocess.PIPE)
        for n in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert b"log_write_failed" not in err
    got = {r["messages"][0]["content"] for r in rows(path)}
    assert got == {f"process {n} call {i}" for n in range(4) for i in range(100)}


def test_closing_the_client_writes_the_log(tmp_path: Path) -> None:
    """``Client.close`` closes the observers: the rows are on disk without waiting for
    the process to exit."""
    import sqlite3

    from modelbus.testing import FakeProvider, make_client

    db = tmp_path / "calls.sqlite3"
    c = make_client(FakeProvider(), {"modelbus": {"observers": ["log"]}, "log": {"path": str(db)}})
    c.chat("remember the closing words")
    c.close()
    with sqlite3.connect(db) as conn:
        (n,) = conn.execute("select count(*) from calls").fetchone()
    assert n == 1
