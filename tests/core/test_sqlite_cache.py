"""The ``sqlite`` cache beyond the contract: processes sharing one file, its settings,
eviction order, counters summed over processes, a busy file, fork, bad files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from modelbus.builtins.sqlite_cache import SqliteCache, SqliteCacheSettings, default_path
from modelbus.errors import ConfigError, PluginError
from modelbus.testing import FakeClock, FakeProvider, make_client
from tests.core.plugin_kit import clean_environ, standin_dist

# A provider plugin for the subprocesses: it answers from its settings and appends one
# line per call to a log file, so the test counts upstream calls across processes.
COUNTING_PLUGIN = """
import os

import attrs
import modelbus


@attrs.frozen
class CountingSettings:
    log: str


class CountingProvider:
    name = "counting"
    cache_identity = "counting://local"
    default_model = "counting-1"

    def __init__(self, settings):
        self.log = settings.log

    def chat(self, request):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\\n")
        text = "counted: " + request.messages[-1].text
        return modelbus.ChatResponse(id="c-1", model=request.model,
                                     message=modelbus.Message("assistant", text),
                                     finish_reason="stop", usage=modelbus.Usage(4, 2, 6))


@modelbus.hookimpl
def modelbus_register_providers(register):
    register("counting", CountingProvider, settings=CountingSettings)
"""

CHAT_SCRIPT = """
import json, sys
import modelbus

with modelbus.Client(sys.argv[1]) as client:
    resp = client.chat(sys.argv[2])
    print(json.dumps({"content": resp.content, "cached": resp.cached,
                      "attempts": resp.attempts}))
"""

WRITER_SCRIPT = """
import sys
from modelbus.builtins.sqlite_cache import SqliteCache, SqliteCacheSettings

path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
cache = SqliteCache(SqliteCacheSettings(path=path, max_entries=None, max_bytes=None))
for i in range(n):
    key = f"{name}-{i}"
    cache.set(key, key.encode() * 20, None, [name])
    assert cache.get(key) == key.encode() * 20, key
    assert cache.get(f"{name}-{max(i - 1, 0)}") is not None
cache.close()
"""


@pytest.fixture
def plugin_root(tmp_path: Path) -> Path:
    return standin_dist(
        tmp_path / "site",
        "modelbus-counting",
        "1.0",
        {"counting": "mb_counting"},
        modules={"mb_counting": COUNTING_PLUGIN},
    )


def _write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "modelbus.toml"
    cfg.write_text(
        textwrap.dedent(f"""
        [modelbus]
        provider = "counting"
        cache = "sqlite"

        [caches.sqlite]
        path = "{tmp_path / "shared.sqlite3"}"

        [providers.counting]
        log = "{tmp_path / "calls.log"}"
    """)
    )
    return cfg


def _run(args: list[str], tmp_path: Path, plugin_root: Path) -> Any:
    env = clean_environ(tmp_path, PYTHONPATH=str(plugin_root))
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_two_processes_share_one_cache(tmp_path: Path, plugin_root: Path) -> None:
    cfg = _write_config(tmp_path)
    script = tmp_path / "chat.py"
    script.write_text(CHAT_SCRIPT)
    outs = []
    for _ in range(2):
        proc = _run([str(script), str(cfg), "Which river crosses Paris?"], tmp_path, plugin_root)
        assert proc.returncode == 0, proc.stderr
        outs.append(json.loads(proc.stdout))
    assert outs[0] == {
        "content": "counted: Which river crosses Paris?",
        "cached": False,
        "attempts": 1,
    }
    assert outs[1] == {
        "content": "counted: Which river crosses Paris?",
        "cached": True,
        "attempts": 0,
    }
    calls = (tmp_path / "calls.log").read_text().split()
    assert len(calls) == 1  # the second process never reached the provider
    # the counters of both processes are in the file
    s = SqliteCache(SqliteCacheSettings(path=str(tmp_path / "shared.sqlite3"))).stats()
    assert (s.hits, s.misses, s.sets, s.entries) == (1, 1, 1, 1)


def test_processes_writing_at_once(tmp_path: Path, plugin_root: Path) -> None:
    path = tmp_path / "busy.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    SqliteCache(SqliteCacheSettings(path=str(path))).close()  # the schema, before the race
    env = clean_environ(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), f"p{n}", "150"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    cache = SqliteCache(SqliteCacheSettings(path=str(path)))
    s = cache.stats()
    assert (s.entries, s.sets, s.hits, s.errors) == (450, 450, 900, 0)
    assert cache.invalidate_tags(["p1"]) == 150
    assert cache.get("p0-149") == b"p0-149" * 20
    cache.close()


# --- settings and files ----------------------------------------------------------------
def test_default_path_is_in_the_user_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "modelbus" / "cache.sqlite3"
    with make_client(FakeProvider(), {"modelbus": {"cache": "sqlite"}}) as c:
        c.chat("q")
        assert c.cache.path == default_path()
    assert default_path().is_file()


def test_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="memory"):
        make_client(
            FakeProvider(),
            {"modelbus": {"cache": "sqlite"}, "caches": {"sqlite": {"path": ":memory:"}}},
        )
    with pytest.raises(ConfigError, match="max_entries"):
        make_client(
            FakeProvider(),
            {"modelbus": {"cache": "sqlite"}, "caches": {"sqlite": {"max_entries": 0}}},
        )
    with pytest.raises(ConfigError, match="busy_timeout_ms"):
        make_client(
            FakeProvider(),
            {"modelbus": {"cache": "sqlite"}, "caches": {"sqlite": {"busy_timeout_ms": 10}}},
        )


def test_a_file_that_is_not_a_cache_is_refused_by_name(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database file, just text " * 50)
    with pytest.raises(sqlite3.DatabaseError, match="junk.sqlite3"):
        SqliteCache(SqliteCacheSettings(path=str(junk)))
    other = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(other)
    conn.execute("PRAGMA user_version = 42")
    conn.close()
    with pytest.raises(sqlite3.DatabaseError, match="schema version 42"):
        SqliteCache(SqliteCacheSettings(path=str(other)))


def test_closed_cache_refuses_work(tmp_path: Path) -> None:
    cache = SqliteCache(SqliteCacheSettings(path=str(tmp_path / "c.db")))
    cache.close()
    cache.close()  # idempotent
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        cache.get("k")


# --- eviction ----------------------------------------------------------------------------
def _cache(tmp_path: Path, clock: FakeClock, **settings: Any) -> SqliteCache:
    return SqliteCache(
        SqliteCacheSettings(path=str(tmp_path / "c.db"), **settings), clock=clock.monotonic
    )


def test_expired_entries_are_evicted_before_live_ones(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    cache = _cache(tmp_path, clock, max_entries=2)
    cache.set("keep", b"1")
    clock.advance(1)
    cache.set("short", b"2", 1.5)
    clock.advance(2)
    cache.set("new", b"3")  # over the limit: the expired one goes, not the oldest live one
    assert (cache.get("keep"), cache.get("new")) == (b"1", b"3")
    assert cache.stats().evictions == 0


def test_hits_record_their_use_at_most_every_touch_interval(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    cache = _cache(tmp_path, clock, max_entries=2, touch_interval_s=60)
    cache.set("a", b"a")
    clock.advance(1)
    cache.set("b", b"b")
    clock.advance(1)
    assert cache.get("a") == b"a"  # 2 s after its set: not recorded, a stays oldest
    cache.set("c", b"c")
    assert cache.get("a") is None and cache.get("b") == b"b"
    clock.advance(61)
    assert cache.get("b") == b"b"  # 62 s after its set: recorded, b is now newest
    clock.advance(1)
    cache.set("d", b"d")
    assert (cache.get("b"), cache.get("c")) == (b"b", None)


def test_max_bytes_evicts_several_to_fit(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    cache = _cache(tmp_path, clock, max_bytes=100)
    for k in "abcd":
        cache.set(k, k.encode() * 25)
        clock.advance(1)
    cache.set("big", b"x" * 60)
    assert [cache.get(k) is not None for k in ("a", "b", "c", "d", "big")] == [
        False,
        False,
        False,
        True,
        True,
    ]
    s = cache.stats()
    assert (s.bytes, s.entries, s.evictions) == (85, 2, 3)


# --- counters ----------------------------------------------------------------------------
def test_lookups_are_flushed_in_batches(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    a = _cache(tmp_path, clock)
    b = _cache(tmp_path, clock)
    a.set("k", b"v")
    for _ in range(255):
        a.get("k")
    assert b.stats().hits == 0  # still pending in process a
    a.get("k")  # the 256th lookup writes the batch
    assert b.stats().hits == 256
    a.get("missing")
    a.close()  # close writes what is left
    s = b.stats()
    assert (s.hits, s.misses, s.sets) == (256, 1, 1)


# --- a busy file ---------------------------------------------------------------------------
def test_a_writer_blocked_past_busy_timeout_fails_and_is_counted(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    cache = _cache(tmp_path, clock, busy_timeout_s=0.05, touch_interval_s=0)
    cache.set("k", b"v")
    other = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            cache.set("k2", b"v2")
        clock.advance(5)
        # readers are not blocked (WAL); a hit skips recording its use rather than wait
        assert cache.get("k") == b"v"
    finally:
        other.execute("ROLLBACK")
        other.close()
    s = cache.stats()
    assert (s.errors, s.hits, s.sets) == (1, 1, 1)
    cache.set("k2", b"v2")
    assert cache.get("k2") == b"v2"


def test_lookups_never_wait_for_the_write_lock(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    # A lookup that waited would fail with "database is locked" after busy_timeout_s.
    cache = _cache(tmp_path, clock, busy_timeout_s=5, touch_interval_s=0)
    cache.set("k", b"v")
    cache.set("old", b"o", 1.5)
    for _ in range(250):
        cache.get("k")
    clock.advance(2)
    other = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        for _ in range(10):  # touches, the 256th lookup's counter batch: all skipped
            assert cache.get("k") == b"v"
        assert cache.get("old") is None  # expired: a miss, purged later
    finally:
        other.execute("ROLLBACK")
        other.close()
    s = cache.stats()  # the lookups made while the file was busy are counted now
    assert (s.hits, s.misses, s.entries, s.errors) == (260, 1, 1, 0)


def test_client_carries_on_when_the_file_is_locked(tmp_path: Path) -> None:
    fake = FakeProvider()
    path = tmp_path / "c.db"
    cfg = {
        "modelbus": {"cache": "sqlite"},
        "caches": {"sqlite": {"path": str(path), "busy_timeout_s": 0.05}},
    }
    with make_client(fake, cfg) as client:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            assert client.chat("q").content == "echo: q"  # the store failed, the call did not
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert not client.chat("q").cached
        assert client.chat("q").cached
        assert client.cache.stats().errors == 1


# --- fork ----------------------------------------------------------------------------------
def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    cache = _cache(tmp_path, FakeClock(1000.0))
    cache.set("parent", b"p")
    pid = os.fork()
    if pid == 0:  # the child: must not touch the parent's connection
        code = 1
        try:
            if cache.get("parent") == b"p":
                cache.set("child", b"c")
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("child") == b"c"  # and the parent's connection still works
