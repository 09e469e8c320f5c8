"""``modelbus batch``: 1,000 requests with injected faults through a real plugin, a rerun
that makes no calls, and resuming after a hard crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelbus._wire.converter import parse_chat_response
from modelbus.cli.batch import batch as batch_command

from .plugin_kit import clean_environ, fresh_plugins, run_cli, standin_dist  # noqa: F401

# A provider plugin that fails on purpose, installed as a stand-in distribution so the
# CLI finds it the way it finds any plugin (entry point group ``modelbus``).
FAULTY = '''
import os
import threading

import attrs
import modelbus
from modelbus import ChatResponse, Message, Usage
from modelbus._wire.stream_accumulator import replay_chunks
from modelbus.errors import error_for_status


@attrs.frozen
class FaultySettings:
    calls_file: str
    crash_after: int = 0


def _err(status, message, code=None):
    return error_for_status(status)(
        message, provider="faulty", status_code=status, code=code,
        body={"error": {"message": message, "type": "test", "code": code}},
    )


class FaultyProvider:
    """Prompt "question N": N % 20 == 0 always 503 (retries exhausted), N % 20 == 10 a
    400, N % 10 == 5 a 500 on its first attempt only; else "answer N". Every call is
    appended to ``calls_file``; call number ``crash_after`` kills the process."""

    name = "faulty"
    default_model = "faulty-model"
    cache_identity = "faulty://"

    def __init__(self, settings):
        self.s = settings
        self._lock = threading.Lock()
        self._seen = {}
        self._n = 0

    def chat(self, request):
        prompt = request.messages[-1].content
        i = int(prompt.split()[-1])
        with self._lock:
            self._n += 1
            n = self._n
            with open(self.s.calls_file, "a") as f:
                f.write(prompt + "\\n")
            attempt = self._seen[prompt] = self._seen.get(prompt, 0) + 1
        if self.s.crash_after and n == self.s.crash_after:
            os._exit(3)  # a hard crash: no cleanup, no flushing, no finally blocks
        if i % 20 == 0:
            raise _err(503, "overloaded")
        if i % 20 == 10:
            raise _err(400, "bad temperature", "invalid_value")
        if i % 10 == 5 and attempt == 1:
            raise _err(500, "hiccup")
        return ChatResponse(id=f"faulty-{i}", model=request.model,
                            message=Message("assistant", f"answer {i}"),
                            finish_reason="stop", usage=Usage(5, 2, 7))

    def stream(self, request):
        return replay_chunks(self.chat(request))


@modelbus.hookimpl
def modelbus_register_providers(register):
    register("faulty", FaultyProvider, settings=FaultySettings)
'''

N = 1000


def _write_input(path: Path, n: int = N) -> list[str]:
    """Mixed shapes: OpenAI batch lines, plain bodies with and without custom_id."""
    ids = []
    with path.open("w") as f:
        for i in range(n):
            messages = [{"role": "user", "content": f"question {i}"}]
            if i % 3 == 0:
                line = {"messages": messages, "temperature": 0}
                ids.append(f"line-{i + 1}")
            elif i % 3 == 1:
                line = {"custom_id": f"req-{i}", "messages": messages}
                ids.append(f"req-{i}")
            else:
                line = {
                    "custom_id": f"req-{i}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {"model": "faulty-model", "messages": messages, "max_tokens": 20},
                }
                ids.append(f"req-{i}")
            f.write(json.dumps(line) + "\n")
    return ids


def _config(tmp: Path, calls: Path, crash_after: int = 0) -> Path:
    cfg = tmp / f"modelbus-{crash_after}.toml"
    cfg.write_text(f'''
[modelbus]
provider = "faulty"
model = "faulty-model"
cache = "none"

[retry_policies.exponential]
initial_delay_s = 0.0

[providers.faulty]
calls_file = "{calls}"
crash_after = {crash_after}
''')
    return cfg


@pytest.fixture
def faulty(fresh_plugins, monkeypatch, tmp_path) -> Path:  # noqa: F811
    root = standin_dist(
        tmp_path / "site-faulty",
        "modelbus-faulty",
        "1.0",
        {"faulty": "mb_faulty"},
        modules={"mb_faulty": FAULTY},
    )
    monkeypatch.syspath_prepend(str(root))
    return tmp_path


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _question(line: dict, ids: list[str]) -> int:
    return ids.index(line["custom_id"])


def _check_output(out: Path, ids: list[str]) -> list[dict]:
    lines = _lines(out)
    assert len(lines) == len(ids)
    assert sorted(x["custom_id"] for x in lines) == sorted(ids)  # each exactly once
    for line in lines:
        i = _question(line, ids)
        assert line["id"].startswith("batch_req_")
        if i % 20 == 0:
            err = line["error"]
            assert err["type"] == "RetryError" and err["status_code"] == 503
            assert [(a["error_type"], a["status_code"]) for a in err["attempts"]] == [
                ("ServerError", 503)
            ] * 3
            assert line["response"]["status_code"] == 503
        elif i % 20 == 10:
            err = line["error"]
            assert (err["type"], err["code"]) == ("BadRequestError", "invalid_value")
            assert len(err["attempts"]) == 1
            assert line["response"]["status_code"] == 400
            assert line["response"]["body"]["error"]["message"] == "bad temperature"
        else:
            assert line["error"] is None and line["response"]["status_code"] == 200
            body = line["response"]["body"]
            assert body["object"] == "chat.completion"
            assert parse_chat_response(body).content == f"answer {i}"
    return lines


def test_cli_batch_1000_requests_with_faults_then_a_rerun_makes_no_calls(faulty) -> None:
    tmp = faulty
    src, out, calls = tmp / "in.jsonl", tmp / "out.jsonl", tmp / "calls.log"
    ids = _write_input(src)
    cfg = _config(tmp, calls)
    runner = CliRunner()
    args = [str(src), "-o", str(out), "--concurrency", "16", "--config", str(cfg), "--no-progress"]
    first = runner.invoke(batch_command, args)
    assert first.exit_code == 0, first.output
    assert "1000 requests: 900 succeeded, 100 failed, 0 already done" in first.output
    _check_output(out, ids)
    # 1000 first attempts + 2 retries for 50 always-503 + 1 retry for 100 transient 500s.
    n_calls = len(calls.read_text().splitlines())
    assert n_calls == 1000 + 50 * 2 + 100
    before = out.read_bytes()

    second = runner.invoke(batch_command, args)
    assert second.exit_code == 0, second.output
    assert "0 succeeded, 0 failed, 1000 already done" in second.output
    assert len(calls.read_text().splitlines()) == n_calls  # no calls at all
    assert out.read_bytes() == before


def test_cli_batch_resumes_after_a_hard_crash_and_a_torn_line(faulty) -> None:
    tmp = faulty
    src, out, calls = tmp / "in.jsonl", tmp / "out.jsonl", tmp / "calls.log"
    ids = _write_input(src, 300)
    env = clean_environ(tmp)
    site = [tmp / "site-faulty"]
    base = ["batch", str(src), "-o", str(out), "-c", "4", "--no-progress"]
    # A real process, killed by os._exit in the middle of the run.
    crashed = run_cli(
        [*base, "--config", str(_config(tmp, calls, 150))], env=env, cwd=tmp, path=site
    )
    assert crashed.returncode == 3, crashed.stderr
    partial = _lines(out)
    assert 0 < len(partial) < 300
    assert len({x["custom_id"] for x in partial}) == len(partial)
    # A crash in the middle of a write leaves half a line: it is cut off and redone.
    with out.open("a") as f:
        f.write('{"id": "batch_req_x", "custom_id": "req-299", "resp')
    done = run_cli([*base, "--config", str(_config(tmp, calls))], env=env, cwd=tmp, path=site)
    assert done.returncode == 0, done.stderr
    assert f"{len(partial)} already done" in done.stderr
    _check_output(out, ids)


def test_cli_batch_rejects_duplicate_custom_ids(faulty) -> None:
    tmp = faulty
    src = tmp / "dup.jsonl"
    line = {"custom_id": "same", "messages": [{"role": "user", "content": "question 1"}]}
    src.write_text(json.dumps(line) + "\n" + json.dumps(line) + "\n")
    res = CliRunner().invoke(
        batch_command,
        [str(src), "-o", str(tmp / "o.jsonl"), "--config", str(_config(tmp, tmp / "c.log"))],
    )
    assert res.exit_code == 2
    assert "custom_id 'same' is used by requests 1 and 2" in res.output
    assert not (tmp / "c.log").exists()


def test_cli_batch_reports_a_damaged_output_file(faulty) -> None:
    tmp = faulty
    src, out = tmp / "in.jsonl", tmp / "out.jsonl"
    _write_input(src, 3)
    out.write_text("not json\n")
    res = CliRunner().invoke(
        batch_command, [str(src), "-o", str(out), "--config", str(_config(tmp, tmp / "c.log"))]
    )
    assert res.exit_code == 2 and "line 1 is not an output line" in res.output
