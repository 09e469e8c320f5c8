"""The ``modelbus`` command line, run as a separate process (``python -m modelbus.cli`` and
the installed ``modelbus`` script) against a third-party provider plugin (issue 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import modelbus
from modelbus.cli import cli
from tests.core.plugin_kit import (
    clean_environ,
    parrot_standin,
    run_cli,
    standin_dist,
)

CONFIG = """
[modelbus]
provider = "parrot"
cache = "parrot-files"
plugins = {{ allow = ["parrot"] }}

[caches.parrot-files]
directory = "{cache_dir}"

[catalog."parrot-1"]
input_per_1m = 1.5
output_per_1m = 4.0

# last, so tests can append keys to it
[providers.parrot]
api_key = {{ env = "PARROT_KEY" }}
"""

# A provider registered under the name "openai" by a plugin that is not modelbus-openai:
# the default-provider choice goes by name and environment only.
OPENAI_LOOKALIKE = """
import modelbus
from mb_parrot import ParrotProvider, ParrotSettings

@modelbus.hookimpl
def modelbus_register_providers(register):
    register("openai", ParrotProvider, settings=ParrotSettings)
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return parrot_standin(tmp_path / "site")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    d = tmp_path / "project"
    d.mkdir()
    (d / "modelbus.toml").write_text(CONFIG.format(cache_dir=tmp_path / "cache"))
    return d


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_environ(tmp_path, PARROT_KEY="parrot-key-0001")


def mb(
    args: list[str], site: Path, project: Path, env: dict[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(args, env=env, cwd=project, path=[site], input=input)


# --- chat -----------------------------------------------------------------------------------


def test_chat_json_shows_usage_and_cost_then_cached_on_the_second_call(site, project, env):
    first = mb(["chat", "--json", "hello there"], site, project, env)
    assert first.returncode == 0, first.stderr
    r1 = json.loads(first.stdout)
    assert r1["content"] == "parrot: hello there"
    # parrot counts words: 2 prompt, 3 completion
    assert r1["usage"] == {
        "prompt_tokens": 2,
        "completion_tokens": 3,
        "total_tokens": 5,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "cache_write_tokens": 0,
        "estimated": False,  # the provider reported it
    }
    assert r1["cost_usd"] == pytest.approx((2 * 1.5 + 3 * 4.0) / 1e6)
    assert (r1["cached"], r1["attempts"], r1["provider"], r1["model"], r1["finish_reason"]) == (
        False,
        1,
        "parrot",
        "parrot-1",
        "stop",
    )
    assert r1["latency_s"] > 0

    # a second process: the answer comes from the cache the config selected
    second = mb(["chat", "--json", "hello there"], site, project, env)
    assert second.returncode == 0, second.stderr
    r2 = json.loads(second.stdout)
    assert (r2["cached"], r2["attempts"]) == (True, 0)
    assert (r2["content"], r2["usage"], r2["cost_usd"]) == (
        r1["content"],
        r1["usage"],
        r1["cost_usd"],
    )

    bypass = json.loads(
        mb(["chat", "--json", "--no-cache", "hello there"], site, project, env).stdout
    )
    assert bypass["cached"] is False


def test_chat_cached_across_processes_with_the_builtin_sqlite_cache(site, project, env, tmp_path):
    cfg = project / "modelbus.toml"
    cfg.write_text(
        cfg.read_text()
        .replace('cache = "parrot-files"', 'cache = "sqlite"')
        .replace("[caches.parrot-files]", "[caches.sqlite]")
        .replace(f'directory = "{tmp_path / "cache"}"', f'path = "{tmp_path / "cache.db"}"')
    )
    first = json.loads(mb(["chat", "--json", "sqlite please"], site, project, env).stdout)
    second = json.loads(mb(["chat", "--json", "sqlite please"], site, project, env).stdout)
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["cost_usd"] == first["cost_usd"] == pytest.approx((2 * 1.5 + 3 * 4.0) / 1e6)
    assert (tmp_path / "cache.db").is_file()


def test_chat_with_a_prompt_template(site, project, env):
    (project / "prompts").mkdir()
    (project / "prompts" / "greet.toml").write_text(
        'system = "You are polite."\nuser = "Greet {{ name }} in {{ words }} words"\n'
        "[variables]\nwords = 3\n[params]\ntemperature = 0.2\n"
    )
    cfg = project / "modelbus.toml"
    cfg.write_text(
        cfg.read_text().replace("[modelbus]\n", '[modelbus]\ntemplates_dir = "prompts"\n')
    )
    out = mb(
        ["chat", "--json", "-t", "greet", "-v", "name=Ann", "-v", "words=2"], site, project, env
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["content"] == "parrot: Greet Ann in 2 words"
    assert r["usage"]["prompt_tokens"] == 3 + 5  # system + user words
    # PROMPT after a template is one more user message; -s replaces the template's system
    out = mb(
        ["chat", "--json", "-t", "greet", "-v", "name=Bo", "-s", "Hi", "and more"],
        site,
        project,
        env,
    )
    r = json.loads(out.stdout)
    assert (r["content"], r["usage"]["prompt_tokens"]) == ("parrot: and more", 1 + 5 + 2)
    missing = mb(["chat", "-t", "greet"], site, project, env)
    assert missing.returncode == 2
    assert "modelbus: template error: template 'greet'" in missing.stderr
    assert "missing variable(s) name" in missing.stderr
    unknown = mb(["chat", "-t", "nope"], site, project, env)
    assert unknown.returncode == 2 and "known: greet" in unknown.stderr
    stray = mb(["chat", "-v", "a=b", "hi"], site, project, env)
    assert stray.returncode == 2 and "give -t TEMPLATE too" in stray.stderr


def test_chat_plain_prints_reply_and_status_line(site, project, env):
    first = mb(["chat", "good", "morning"], site, project, env)  # only "good" is the prompt
    assert first.returncode == 2  # one PROMPT: a second word is a usage error
    out = mb(["chat", "good morning"], site, project, env)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "parrot: good morning\n"  # streamed word by word, then a newline
    assert out.stderr.strip() == "[parrot/parrot-1 · 2+3 tokens · $0.000015 · cache: miss]"
    again = mb(["chat", "--no-stream", "good morning"], site, project, env)
    assert again.stdout == "parrot: good morning\n"
    assert again.stderr.strip().endswith("cache: hit]")
    off = mb(["chat", "--no-cache", "good morning"], site, project, env)
    assert off.stderr.strip().endswith("cache: off]")


def test_chat_json_with_stream_aggregates_the_stream(site, project, env):
    out = mb(["chat", "--json", "--stream", "--no-cache", "one two three"], site, project, env)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["content"] == "parrot: one two three"
    assert r["usage"]["completion_tokens"] == 4 and r["finish_reason"] == "stop"


def test_chat_reads_stdin_system_and_options(site, project, env):
    out = mb(
        [
            "chat",
            "-",
            "--json",
            "-s",
            "be brief",
            "-o",
            "temperature=0",
            "-o",
            'stop=["x"]',
            "-o",
            "user=me",
        ],
        site,
        project,
        env,
        input="from stdin\n",
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["content"] == "parrot: from stdin\n"
    assert r["usage"]["prompt_tokens"] == 4  # "be brief" + "from stdin"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "bogus=1"], "unknown chat parameter 'bogus'"),
        (["-o", "temperature"], "expected KEY=VALUE, got 'temperature'"),
    ],
)
def test_chat_bad_options_are_usage_errors(site, project, env, args, message):
    out = mb(["chat", "hi", *args], site, project, env)
    assert out.returncode == 2
    assert message in out.stderr and "-o/--option" in out.stderr


def test_chat_model_and_provider_flags(site, project, env):
    r = json.loads(mb(["chat", "--json", "-m", "parrot-9", "hi"], site, project, env).stdout)
    assert r["model"] == "parrot-9" and r["cost_usd"] is None  # no price for parrot-9
    unknown = mb(["chat", "-p", "nope", "hi"], site, project, env)
    assert unknown.returncode == 2
    assert "no provider named 'nope' is installed; installed: parrot" in unknown.stderr


def test_chat_says_which_provider_it_picked_when_none_is_configured(site, tmp_path, env):
    lookalike = standin_dist(
        tmp_path / "site-lookalike",
        "openai-lookalike",
        "1.0",
        {"lookalike": "mb_lookalike"},
        {"mb_lookalike": OPENAI_LOOKALIKE},
    )
    env = {**env, "MODELBUS_PLUGINS": "lookalike", "OPENAI_API_KEY": "sk-test-abcdef123456"}
    out = run_cli(["chat", "hi"], env=env, cwd=tmp_path, path=[site, lookalike])
    assert out.returncode == 0, out.stderr
    assert out.stdout == "parrot: hi\n"
    assert out.stderr.splitlines()[0] == ("modelbus: provider 'openai' (OPENAI_API_KEY is set)")

    none = run_cli(
        ["chat", "hi"], env={**env, "MODELBUS_PLUGINS": "parrot"}, cwd=tmp_path, path=[site]
    )
    assert none.returncode == 2
    assert none.stderr.startswith("modelbus: config error: no provider is configured")


# --- plugins, models, tokens, doctor --------------------------------------------------------


def test_plugins_plain_lists_every_plugin(site, project, env):
    out = mb(["plugins"], site, project, env)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()[2:]}
    assert {"modelbus.builtins.caches", "modelbus.builtins.retry", "parrot"} <= set(rows)
    assert "modelbus-parrot" in rows["parrot"] and "0.3.1" in rows["parrot"]
    assert "commands: parrot-say" in rows["parrot"]


def test_models_lists_the_catalog_with_config_overrides(site, project, env):
    out = mb(["models", "--json"], site, project, env)
    assert out.returncode == 0, out.stderr
    rows = {r["model"]: r for r in json.loads(out.stdout)}
    assert rows["parrot-1"]["input_per_1m"] == 1.5 and rows["parrot-1"]["output_per_1m"] == 4.0
    shipped = modelbus.Catalog.load()
    assert set(rows) == {e.model for e in shipped} | {"parrot-1"}
    assert rows["gpt-4o"]["context_window"] == shipped.get("gpt-4o").context_window
    plain = mb(["models"], site, project, env)
    assert plain.stdout.split()[:3] == ["model", "┃", "provider"]
    assert any(line.startswith("parrot-1 ") for line in plain.stdout.splitlines())


def test_tokens_counts_messages_and_text(site, project, env, tmp_path):
    msgs = '[{"role": "user", "content": "hi"}]'
    out = mb(["tokens", "-m", "gpt-4o", "-"], site, project, env, input=msgs)
    assert out.returncode == 0, out.stderr
    # OpenAI cookbook: 3 per message + role + content, 3 to prime the reply: 3+1+1+3
    assert out.stdout == "8\n"
    text = tmp_path / "prompt.txt"
    text.write_text("Hello world")
    by_file = mb(["tokens", "-m", "gpt-4o", str(text)], site, project, env)
    assert by_file.stdout == "2\n"  # "Hello", " world" in o200k_base
    bad = mb(["tokens", "-m", "gpt-4o", "-"], site, project, env, input='{"x": 1}')
    assert bad.returncode == 2 and "without 'messages'" in bad.stderr


def test_doctor_runs_the_plugin_checks(site, project, env):
    out = mb(["doctor", "--json"], site, project, env)
    assert out.returncode == 0, out.stderr
    rows = {(r["provider"], r["check"]): r for r in json.loads(out.stdout)}
    assert rows[("-", "config")]["detail"] == str(project / "modelbus.toml")
    assert rows[("parrot", "starts")]["ok"] is True
    assert rows[("parrot", "api key set")] == {
        "provider": "parrot",
        "check": "api key set",
        "ok": True,
        "detail": "from env:PARROT_KEY",
    }
    cfg = project / "modelbus.toml"
    cfg.write_text(cfg.read_text() + "fail_status = 503\n")
    failing = mb(["doctor"], site, project, env)
    assert failing.returncode == 1
    answers = next(line for line in failing.stdout.splitlines() if "answers" in line)
    assert "FAIL" in answers and "fails with 503" in answers


def test_doctor_reports_a_provider_that_cannot_start(site, project, env):
    cfg = project / "modelbus.toml"
    cfg.write_text(cfg.read_text() + "fail_start = true\n")
    out = mb(["doctor", "--json"], site, project, env)
    assert out.returncode == 1
    rows = {(r["provider"], r["check"]): r for r in json.loads(out.stdout)}
    starts = rows[("parrot", "starts")]
    assert starts["ok"] is False
    assert "OSError: cannot open /dev/parrot" in starts["detail"]
    # where its settings are: the plugin failed on one, most likely
    assert f"(its settings: [providers.parrot] in {cfg}):" in starts["detail"]


def test_doctor_with_a_bad_config_exits_2(site, project, env):
    cfg = project / "modelbus.toml"
    cfg.write_text(cfg.read_text() + "prefix = 5\n")
    out = mb(["doctor"], site, project, env)
    assert out.returncode == 2
    assert "key: providers.parrot.prefix" in out.stderr and "expected str" in out.stderr


# --- errors --------------------------------------------------------------------------------


def _failing(project: Path, status: int, attempts: int = 1) -> None:
    cfg = project / "modelbus.toml"
    cfg.write_text(
        cfg.read_text() + f"fail_status = {status}\n"
        f"[retry_policies.exponential]\nmax_attempts = {attempts}\n"
        "initial_delay_s = 0.0\n"
    )


def test_provider_error_is_one_paragraph_exit_1(site, project, env):
    _failing(project, 401)
    out = mb(["chat", "hi"], site, project, env)
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("modelbus: provider error (AuthenticationError): parrot 401:")
    assert (
        "request_id=req-parrot" in out.stderr and "hint: check the provider's api_key" in out.stderr
    )


def test_retry_error_names_attempts_and_last_error(site, project, env):
    _failing(project, 500, attempts=3)
    out = mb(["chat", "hi", "--no-stream"], site, project, env)
    assert out.returncode == 1
    # retries are logged (warning level) before the final error paragraph
    assert out.stderr.count("modelbus.retry") == 2
    lines = out.stderr[out.stderr.index("modelbus: gave up") :].strip().splitlines()
    assert lines[0].startswith("modelbus: gave up after 3 attempts")
    assert "last error (ServerError): parrot 500" in lines[0]
    assert [ln.split(",")[0].strip() for ln in lines[1:]] == [
        "attempt 1: ServerError 500",
        "attempt 2: ServerError 500",
        "attempt 3: ServerError 500",
    ]


@pytest.mark.parametrize("how", [["--debug"], ["MODELBUS_DEBUG=1"]])
def test_debug_shows_the_traceback(site, project, env, how):
    _failing(project, 404)
    args = ["chat", "hi"]
    if how == ["--debug"]:
        args = ["--debug", *args]
    else:
        env = {**env, "MODELBUS_DEBUG": "1"}
    out = mb(args, site, project, env)
    assert out.returncode == 1
    assert out.stderr.startswith("Traceback (most recent call last):")
    assert "modelbus.errors.NotFoundError" in out.stderr
    assert out.stderr.rstrip().splitlines()[-1].startswith("modelbus: provider error (NotFound")


def test_config_and_plugin_errors_exit_2(site, project, env):
    cfg = project / "modelbus.toml"
    cfg.write_text(cfg.read_text() + 'nonsense = "x"\n')
    out = mb(["chat", "hi"], site, project, env)
    assert out.returncode == 2
    assert out.stderr.startswith("modelbus: config error: unknown key 'nonsense'")
    assert "key: providers.parrot.nonsense" in out.stderr


# --- entry points, help, speed-relevant laziness ---------------------------------------------


def test_installed_console_script(site, project, env):
    script = Path(sysconfig.get_path("scripts")) / "modelbus"
    assert script.is_file(), "pip install -e . installs the modelbus script"
    out = subprocess.run(
        [str(script), "plugins", "--json"],
        env={**env, "PYTHONPATH": str(site)},
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "parrot" in {r["name"] for r in json.loads(out.stdout)}
    version = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert version.stdout == f"modelbus, version {modelbus.__version__}\n"


def test_top_help_lists_builtins_without_loading_plugins(site, project, env):
    probe = (
        "import sys\n"
        "from modelbus.cli import main\n"
        "try:\n    main(['--help'])\n"
        "except SystemExit as e:\n    code = e.code\n"
        "print('LOADED', code, 'modelbus._plugins.loading' in sys.modules,"
        " 'mb_parrot' in sys.modules, 'structlog' in sys.modules, file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "PYTHONPATH": str(site)},
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stderr.strip() == "LOADED 0 False False False"
    for name in ("chat", "config", "doctor", "models", "plugins", "tokens"):
        assert f"\n  {name} " in out.stdout
    assert "`modelbus plugins` lists them" in out.stdout


def test_unknown_command_is_a_usage_error(site, project, env):
    out = mb(["chatt"], site, project, env)
    assert out.returncode == 2 and "No such command 'chatt'" in out.stderr


def test_in_process_with_clirunner(parrot_on_path, tmp_path):
    """The click group is usable in-process (embedding, CliRunner)."""
    from click.testing import CliRunner

    (tmp_path / "modelbus.toml").write_text(
        '[modelbus]\nprovider = "parrot"\nplugins = { allow = ["parrot"] }\n'
    )
    result = CliRunner().invoke(cli, ["chat", "--json", "in process"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["content"] == "parrot: in process"
    result = CliRunner().invoke(cli, ["parrot-say", "hi"])
    assert (result.exit_code, result.stdout) == (0, "squawk: hi\n")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("temperature=NaN", "NaN and infinity are not JSON numbers"),
        ("max_tokens=1e400", "NaN and infinity are not JSON numbers"),  # JSON-decoded: inf
        ("max_tokens=-1", "'max_tokens': must be >= 1, got -1"),
        # too long for int(): kept as the string
        pytest.param(
            "max_tokens=" + "9" * 5000,
            "'max_tokens': expected an integer, got str",
            id="max_tokens=9*5000",
        ),
        ("extra_body=[[", "'extra_body': expected a table, got str '[['"),
    ],
)
def test_chat_option_values_are_checked_before_sending(parrot_on_path, tmp_path, option, message):
    """-o values are checked as [models.NAME] params are: a usage error (exit 2), never a
    traceback from the middle of the call."""
    from click.testing import CliRunner

    (tmp_path / "modelbus.toml").write_text(
        '[modelbus]\nprovider = "parrot"\nplugins = { allow = ["parrot"] }\n'
    )
    result = CliRunner().invoke(cli, ["chat", "--no-log", "hi", "-o", option])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "-o/--option" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["chat", "-"], b"\xff\xfe\x00binary\x80", "PROMPT: stdin is not UTF-8 text (byte 0)"),
        (["chat", "-"], b"", "PROMPT: stdin was empty"),  # sent an empty prompt before
        (["chat"], b" \n", "PROMPT: stdin was empty"),
        (["chat", "a\udcffb"], None, "PROMPT: not UTF-8 text"),  # undecodable argv bytes
        (["chat", "hi", "-s", "\udcff"], None, "-s/--system: not UTF-8 text"),
        (["tokens"], b"ok \xff", "FILE: stdin is not UTF-8 text (byte 3)"),
        (["tokens", "-"], b"\x80", "FILE: <stdin> is not UTF-8 text (byte 0)"),
        (["tokens", "binary.bin"], None, "FILE: binary.bin is not UTF-8 text (byte 1)"),
    ],
)
def test_input_that_is_not_utf8_is_a_usage_error(parrot_on_path, tmp_path, args, stdin, message):
    """Binary data piped or passed in is refused as input (exit 2), never sent on to a
    traceback (the cache key, the tokenizer); so is an empty pipe, never sent as an
    empty prompt."""
    from click.testing import CliRunner

    (tmp_path / "modelbus.toml").write_text(
        '[modelbus]\nprovider = "parrot"\nplugins = { allow = ["parrot"] }\n'
    )
    (tmp_path / "binary.bin").write_bytes(b"a\xffb")
    result = CliRunner().invoke(
        cli, [*args, "--no-log"] if args[0] == "chat" else args, input=stdin
    )
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_status_line_marks_counted_usage_as_estimated():
    from modelbus._wire.types import ChatResponse, Message, Usage
    from modelbus.cli.chat import response_json, status_line

    billed = ChatResponse(
        id="r", model="m", message=Message("assistant", "hi"), usage=Usage(42, 7, 49)
    )
    assert status_line(billed, True) == "[/m · 42+7 tokens · cost unknown · cache: miss]"
    counted = ChatResponse(
        id="r",
        model="m",
        provider="local",
        message=Message("assistant", "hi"),
        usage=Usage(42, 7, 49) + Usage(estimated=True),  # a sum of counted usage is counted
    )
    line = status_line(counted, False)
    assert line == "[local/m · ~42+7 tokens (estimated) · cost unknown · cache: off]"
    assert response_json(counted)["usage"]["estimated"] is True
    assert response_json(billed)["usage"]["estimated"] is False


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ('[{"role": "user", "content": {"x": 1}}]', "content is a string, a list of content parts"),
        ('[{"role": "user", "content": [5]}]', "a content part is an object with a 'type'"),
        ('[{"role": 5, "content": "x"}]', "role must be one of"),
    ],
)
def test_tokens_names_what_is_wrong_with_a_message(tmp_path, stdin, message):
    """A malformed message part was an AttributeError traceback (exit 1)."""
    from click.testing import CliRunner

    (tmp_path / "modelbus.toml").write_text("")
    result = CliRunner().invoke(cli, ["tokens", "-m", "gpt-4o-mini", "-"], input=stdin)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("args", [["tokens", "-m", "gpt-4o-mini", "/dev/zero"], ["chat", "-"]])
def test_input_past_the_cap_is_refused_not_read_without_end(tmp_path, monkeypatch, args):
    """``modelbus tokens /dev/zero`` read until killed: input is read up to
    MAX_INPUT_BYTES (64 MiB; here 1 KiB), and more is a usage error naming it."""
    from click.testing import CliRunner

    from modelbus.cli import _common

    monkeypatch.setattr(_common, "MAX_INPUT_BYTES", 1024)
    (tmp_path / "modelbus.toml").write_text("")
    result = CliRunner().invoke(cli, args, input=b"x" * 2000)
    assert result.exit_code == 2, result.output
    assert "holds more than 1024 bytes: not a prompt" in result.stderr
