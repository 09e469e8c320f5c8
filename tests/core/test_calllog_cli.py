"""``modelbus chat`` records its calls in the call log by default; ``modelbus logs`` reads
it; ``chat --continue`` / ``--cid`` carry a conversation on. Real processes, a
third-party provider plugin (modelbus-parrot: usage counts words)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelbus.cli import cli
from tests.core.plugin_kit import clean_environ, parrot_standin, run_cli

CONFIG = """
[modelbus]
provider = "parrot"
cache = "none"
plugins = {{ allow = ["parrot"] }}

[catalog."parrot-1"]
input_per_1m = 1.5
output_per_1m = 4.0

[providers.parrot]
api_key = {{ env = "PARROT_KEY" }}
{extra}
"""

KEY = "parrot-key-0001-do-not-log"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return parrot_standin(tmp_path / "site")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    d = tmp_path / "project"
    d.mkdir()
    (d / "modelbus.toml").write_text(CONFIG.format(extra=""))
    return d


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_environ(tmp_path, PARROT_KEY=KEY)


def mb(
    args: list[str], site: Path, project: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return run_cli(args, env=env, cwd=project, path=[site])


def logs_json(args: list[str], site: Path, project: Path, env: dict[str, str]) -> list[dict]:
    done = mb(["logs", "--json", *args], site, project, env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_chat_twice_then_logs_finds_the_first_call_with_usage_and_cost(site, project, env):
    first = mb(["chat", "the walrus sings tonight"], site, project, env)
    assert first.returncode == 0, first.stderr
    assert mb(["chat", "something else"], site, project, env).returncode == 0
    (row,) = logs_json(["-q", "walrus"], site, project, env)
    assert row["messages"] == [{"role": "user", "content": "the walrus sings tonight"}]
    assert row["response"]["content"] == "parrot: the walrus sings tonight"
    # parrot counts words: 4 in, 5 out
    assert (row["usage"]["prompt_tokens"], row["usage"]["completion_tokens"]) == (4, 5)
    assert row["cost_usd"] == pytest.approx(4 * 1.5e-6 + 5 * 4e-6)
    assert (row["provider"], row["model"], row["attempts"]) == ("parrot", "parrot-1", 1)
    # the default file: in the user data dir ($MODELBUS_DATA_DIR here)
    assert (Path(env["MODELBUS_DATA_DIR"]) / "calls.sqlite3").is_file()
    assert len(logs_json([], site, project, env)) == 2
    assert len(logs_json(["-n", "1"], site, project, env)) == 1
    table = mb(["logs"], site, project, env)
    assert table.returncode == 0 and "walrus" in table.stdout and "parrot-1" in table.stdout


def test_continue_sends_the_earlier_turns_and_cid_picks_a_conversation(site, project, env):
    one = mb(["chat", "--json", "first question"], site, project, env)
    cid = json.loads(one.stdout)["conversation_id"]
    other = mb(["chat", "--json", "unrelated"], site, project, env)
    other_cid = json.loads(other.stdout)["conversation_id"]
    assert other_cid != cid
    # --continue: the last conversation, the "unrelated" one
    cont = mb(["chat", "--json", "--continue", "-s", "be kind", "more"], site, project, env)
    assert cont.returncode == 0, cont.stderr
    assert json.loads(cont.stdout)["conversation_id"] == other_cid
    (last,) = logs_json(["-n", "1"], site, project, env)
    assert last["messages"] == [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": "unrelated"},
        {"role": "assistant", "content": "parrot: unrelated"},
        {"role": "user", "content": "more"},
    ]
    # --cid: that conversation, carried on over two more calls
    for prompt in ("second question", "third question"):
        done = mb(["chat", "--json", "--cid", cid, prompt], site, project, env)
        assert json.loads(done.stdout)["conversation_id"] == cid
    (last,) = logs_json(["-n", "1"], site, project, env)
    assert [m["content"] for m in last["messages"]] == [
        "first question",
        "parrot: first question",
        "second question",
        "parrot: second question",
        "third question",
    ]
    assert len(logs_json(["--cid", cid], site, project, env)) == 3
    # an id not in the log starts a conversation under that name
    named = mb(["chat", "--json", "--cid", "my-topic", "fresh start"], site, project, env)
    assert json.loads(named.stdout)["conversation_id"] == "my-topic"
    (row,) = logs_json(["--cid", "my-topic"], site, project, env)
    assert row["messages"] == [{"role": "user", "content": "fresh start"}]


def test_continue_with_an_empty_log_is_a_usage_error(site, project, env):
    done = mb(["chat", "--continue", "hi"], site, project, env)
    assert done.returncode == 2
    assert "no conversation in the call log" in done.stderr


def test_no_log_and_enabled_false_record_nothing(site, project, env, tmp_path):
    assert mb(["chat", "--no-log", "hello"], site, project, env).returncode == 0
    assert logs_json([], site, project, env) == []
    (project / "modelbus.toml").write_text(CONFIG.format(extra="[log]\nenabled = false\n"))
    assert mb(["chat", "hello"], site, project, env).returncode == 0
    assert logs_json([], site, project, env) == []
    assert not (Path(env["MODELBUS_DATA_DIR"]) / "calls.sqlite3").exists()


def test_log_path_and_a_failed_call_without_its_key(site, project, env, tmp_path):
    path = tmp_path / "logs" / "mine.db"
    extra = f'fail_status = 401\n\n[log]\npath = "{path}"\n'
    (project / "modelbus.toml").write_text(CONFIG.format(extra=extra))
    done = mb(["chat", "--no-stream", "let me in"], site, project, env)
    assert done.returncode == 1
    (row,) = logs_json([], site, project, env)
    assert row["error"]["type"] == "AuthenticationError" and row["error"]["status_code"] == 401
    data = b"".join(p.read_bytes() for p in path.parent.iterdir())
    assert b"let me in" in data and KEY.encode() not in data


@pytest.mark.parametrize("query", ['"', "NEAR(", "a OR", "x:y", "'; DROP TABLE calls; --", "*"])
def test_hostile_queries_are_searched_for(site, project, env, query):
    assert mb(["chat", "x:y and a OR b"], site, project, env).returncode == 0
    done = mb(["logs", "--json", "-q", query], site, project, env)
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), list)


def test_empty_query_is_a_usage_error_and_a_bad_section_a_config_error(
    fresh_plugins, tmp_path: Path
):
    cfg = tmp_path / "m.toml"
    cfg.write_text('[log]\npath = "x.db"\n')
    runner = CliRunner()
    (tmp_path / "x.db").write_bytes(b"")
    res = runner.invoke(cli, ["logs", "--config", str(cfg), "-q", "  "])
    assert res.exit_code == 2 and "the search text is empty" in res.output
    cfg.write_text("[log]\nenable = false\n")
    res = runner.invoke(cli, ["logs", "--config", str(cfg)])
    assert res.exit_code == 2
    assert "key: log.enable" in res.output and str(cfg) in res.output


def test_no_log_file_yet_is_an_empty_list(fresh_plugins, tmp_path: Path):
    res = CliRunner().invoke(cli, ["logs", "--json"])
    assert res.exit_code == 0 and json.loads(res.output) == []
    res = CliRunner().invoke(cli, ["logs"])
    assert res.exit_code == 0 and "no calls logged in" in res.output
    res = CliRunner().invoke(cli, ["logs", "-q", "nothing"])
    assert res.exit_code == 0 and "no logged call matches in" in res.output


def test_batch_records_every_call_unless_no_log(fresh_plugins, tmp_path: Path):
    cfg = tmp_path / "m.toml"
    db = tmp_path / "calls.db"
    cfg.write_text(f'[modelbus]\nprovider = "echo"\ncache = "none"\n\n[log]\npath = "{db}"\n')
    src = tmp_path / "in.jsonl"
    lines = [
        {"custom_id": f"r{i}", "messages": [{"role": "user", "content": f"batch item {i}"}]}
        for i in range(30)
    ]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    runner = CliRunner()
    args = ["batch", str(src), "-c", "8", "--no-progress", "--config", str(cfg)]
    res = runner.invoke(cli, [*args, "-o", str(tmp_path / "out1.jsonl")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["logs", "--json", "-n", "1000", "--config", str(cfg)])
    got = json.loads(res.output)
    assert sorted(r["messages"][0]["content"] for r in got) == sorted(
        f"batch item {i}" for i in range(30)
    )
    res = runner.invoke(cli, [*args, "--no-log", "-o", str(tmp_path / "out2.jsonl")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["logs", "--json", "-n", "1000", "--config", str(cfg)])
    assert len(json.loads(res.output)) == 30


def test_logs_with_an_n_past_what_sqlite_counts_is_a_usage_error(tmp_path: Path) -> None:
    # A 30-digit -n reached SQLite's LIMIT and ended in an OverflowError traceback.
    cfg = tmp_path / "modelbus.toml"
    cfg.write_text(f'[log]\npath = "{tmp_path / "calls.db"}"\n')
    res = CliRunner().invoke(cli, ["logs", "-n", "9" * 30, "--config", str(cfg)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "-n" in res.output and "1000000000" in res.output
