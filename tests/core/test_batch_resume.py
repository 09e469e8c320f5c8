"""Resuming a killed ``modelbus batch``: a real process, SIGKILLed while requests are in
flight at the project's WireServer (in this process, with latency), then run again.

The guarantee (docs/how-to/batch.md): each input line gets exactly one output line;
only requests in flight at the kill may be sent again, at most ``--concurrency`` of
them; with a persistent cache, an answer stored before the kill is served from the
cache, not sent again.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelbus
from modelbus.errors import CacheMiss
from modelbus.testing.server import WireServer

from .plugin_kit import clean_environ, fresh_plugins  # noqa: F401

pytestmark = pytest.mark.usefixtures("fresh_plugins")

N = 64
CONCURRENCY = 8
LATENCY_S = 0.15


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer(latency=LATENCY_S) as srv:
        yield srv


def _config(tmp: Path, base_url: str, cache: str) -> tuple[dict[str, object], Path]:
    """The config as a dict (for clients in this process) and as the TOML file the CLI
    reads."""
    sqlite = {"path": str(tmp / "cache.sqlite3")}
    data: dict[str, object] = {
        "modelbus": {"provider": "openai", "model": "gpt-4o-mini", "cache": cache},
        "providers": {"openai": {"base_url": base_url, "api_key": "sk-test"}},
        "caches": {"sqlite": sqlite},
    }
    path = tmp / "modelbus.toml"
    path.write_text(
        f'[modelbus]\nprovider = "openai"\nmodel = "gpt-4o-mini"\ncache = "{cache}"\n'
        f'[providers.openai]\nbase_url = "{base_url}"\napi_key = "sk-test"\n'
        f"[caches.sqlite]\npath = {json.dumps(sqlite['path'])}\n"
    )
    return data, path


def _input(path: Path) -> list[str]:
    prompts = [f"question {i}" for i in range(N)]
    path.write_text(
        "".join(
            json.dumps({"custom_id": f"q{i}", "messages": [{"role": "user", "content": p}]}) + "\n"
            for i, p in enumerate(prompts)
        )
    )
    return prompts


def _sent(srv: WireServer) -> collections.Counter[str]:
    """Requests the server received, per input (its prompt)."""
    return collections.Counter(
        r.json["messages"][-1]["content"]
        for r in srv.requests
        if r.path.endswith("/chat/completions")
    )


def _out_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(x)["custom_id"] for x in path.read_text().splitlines() if x.strip()]


def _batch(tmp: Path, cfg: Path, src: Path, out: Path) -> subprocess.Popen[str]:
    args = ["batch", str(src), "-o", str(out), "-c", str(CONCURRENCY), "--no-progress"]
    return subprocess.Popen(
        [sys.executable, "-m", "modelbus.cli", *args, "--config", str(cfg)],
        env=clean_environ(tmp),
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _reap(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs, wait for it and close its pipes (``communicate``
    would; a killed run's are otherwise left to the garbage collector: a
    ResourceWarning)."""
    proc.kill()
    proc.wait(10)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _kill_mid_run(proc: subprocess.Popen[str], out: Path, srv: WireServer) -> None:
    """SIGKILL once a third of the lines are written, with requests in flight."""
    try:
        deadline = time.monotonic() + 60
        while len(_out_ids(out)) < N // 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the batch made no progress"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        _reap(proc)  # also if it failed: no run left sending
    assert sum(_sent(srv).values()) < N  # killed mid-run, not after


def _cached(data: dict[str, object], prompts: list[str]) -> set[str]:
    """The prompts whose answer is in the cache (``cache="only"`` never sends)."""
    found = set()
    with modelbus.Client(data) as client:
        for p in prompts:
            try:
                client.chat(p, cache="only")
            except CacheMiss:
                continue
            found.add(p)
    return found


@pytest.mark.parametrize("cache", ["none", "sqlite"])
def test_a_killed_batch_resumes_sending_again_only_what_was_in_flight(
    tmp_path: Path, server: WireServer, cache: str
) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    prompts = _input(src)
    data, cfg = _config(tmp_path, server.base_url, cache)

    _kill_mid_run(_batch(tmp_path, cfg, src, out), out, server)
    first = _sent(server)
    done = {f"question {cid[1:]}" for cid in _out_ids(out)}
    unanswered = set(first) - done  # sent, no output line: in flight at the kill
    assert done <= set(first) and len(unanswered) <= CONCURRENCY
    stored = _cached(data, sorted(unanswered)) if cache == "sqlite" else set()
    server.clear()

    proc = _batch(tmp_path, cfg, src, out)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    second = _sent(server)
    again = set(second) & set(first)
    print(
        f"cache={cache}: {sum(first.values())} sent before the kill, {len(done)} written, "
        f"{len(unanswered)} in flight ({len(stored)} of them cached), "
        f"{len(again)} sent again on resume"
    )
    # Exactly one output line per input line.
    ids = _out_ids(out)
    assert sorted(ids) == sorted(f"q{i}" for i in range(N))
    # Resume sends each input at most once, never one already written, and sends
    # again exactly the in-flight inputs whose answer is not in the cache.
    assert set(second.values()) <= {1}
    assert not set(second) & done
    assert again == unanswered - stored
    assert len(again) <= CONCURRENCY
    assert set(first) | set(second) == set(prompts)


def test_answers_stored_before_the_output_line_are_served_from_the_cache(
    tmp_path: Path, server: WireServer
) -> None:
    """A run killed between storing answers in the cache and writing their lines (the
    stored state made directly: the answers are fetched through a client with the same
    config) sends none of them on resume."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    prompts = _input(src)
    data, cfg = _config(tmp_path, server.base_url, "sqlite")
    answered = prompts[::3]
    with modelbus.Client(data) as client:
        for p in answered:
            client.chat(p)
    assert sum(_sent(server).values()) == len(answered)
    server.clear()

    proc = _batch(tmp_path, cfg, src, out)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert set(_sent(server)) == set(prompts) - set(answered)
    assert sorted(_out_ids(out)) == sorted(f"q{i}" for i in range(N))


def test_a_second_run_on_a_live_runs_output_stops_with_exit_2(
    tmp_path: Path, server: WireServer
) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _input(src)
    _, cfg = _config(tmp_path, server.base_url, "none")
    server.latency = 120.0  # the first run stays alive, its requests in flight
    first = _batch(tmp_path, cfg, src, out)
    try:
        deadline = time.monotonic() + 60
        while not server.requests:  # it has locked the output and is sending
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        second = _batch(tmp_path, cfg, src, out)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        assert f"{out} is being written by another modelbus batch run" in err
        assert first.poll() is None
        assert sum(_sent(server).values()) == CONCURRENCY  # the second sent nothing
    finally:
        _reap(first)
