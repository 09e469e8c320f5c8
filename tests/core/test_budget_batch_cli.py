"""``modelbus batch`` under a budget: requests the budget refuses get an error line, the
run finishes, and what was spent stays under the limit."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from modelbus.cli.batch import batch as batch_command

from .plugin_kit import clean_environ, fresh_plugins, run_cli, standin_dist  # noqa: F401
from .test_batch_cli import FAULTY

# FaultyProvider answers "question N" with 2 output tokens (Usage(5, 2, 7)) unless
# N % 10 is 0 or 5; at $1,000 per 1M output tokens (input free) a call with
# max_tokens = 20 reserves $0.02 and costs $0.002.
QUESTIONS = [i for i in range(1, 80) if i % 5][:40]


def test_cli_batch_gives_requests_over_the_budget_an_error_line(
    fresh_plugins: None,  # noqa: F811
    monkeypatch,
    tmp_path: Path,
) -> None:
    root = standin_dist(
        tmp_path / "site", "modelbus-faulty", "1.0", {"faulty": "mb_faulty"}, {"mb_faulty": FAULTY}
    )
    monkeypatch.syspath_prepend(str(root))
    cfg = tmp_path / "modelbus.toml"
    cfg.write_text(f'''
[modelbus]
provider = "faulty"
model = "faulty-model"
cache = "none"
max_cost_usd = 0.05

[providers.faulty]
calls_file = "{tmp_path / "calls.log"}"

[catalog."faulty-model"]
input_per_1m = 0.0
output_per_1m = 1000.0
''')
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(
        "".join(
            json.dumps(
                {"messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 20}
            )
            + "\n"
            for i in QUESTIONS
        )
    )
    args = [str(src), "-o", str(out), "--concurrency", "16", "--config", str(cfg), "--no-progress"]
    result = CliRunner().invoke(batch_command, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == len(QUESTIONS)
    ok = [x for x in lines if x["error"] is None]
    refused = [x for x in lines if x["error"] is not None]
    assert refused and all(x["error"]["type"] == "BudgetExceededError" for x in refused)
    assert "max_cost_usd" in refused[0]["error"]["message"]
    # Every call reserves $0.02 of $0.05 and costs $0.002: at most 25 can be paid for.
    assert 2 <= len(ok) <= 25
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert len(calls) == len(ok)  # a refused request never reached the provider


def test_config_check_names_bad_budget_keys_and_show_lists_the_budgets(tmp_path: Path) -> None:
    env = clean_environ(tmp_path)
    bad = tmp_path / "bad.toml"
    for text, key in (
        ('[budgets.d]\nmax_cost_usd = 1\nwindow = "week"\n', "key: budgets.d.window"),
        ("[budgets.d]\nmax_cost_usd = nan\n", "key: budgets.d"),
        ('[budgets.d]\nscope = "team"\nmax_cost_usd = 1\n', "key: budgets.d.scope"),
        ('[modelbus]\nbudget_store = "nope"\n', "key: modelbus.budget_store"),
        ("[modelbus]\nmax_cost_usd = -1\n", "key: modelbus"),
    ):
        bad.write_text(text)
        out = run_cli(["config", "check", str(bad)], env=env, cwd=tmp_path)
        assert out.returncode == 2 and key in out.stderr, (text, out.stderr)
        assert str(bad) in out.stderr and "Traceback" not in out.stderr
    good = tmp_path / "good.toml"
    good.write_text('[budgets.d]\nmax_cost_usd = 1.5\nwindow = "day"\nscope = "model"\n')
    out = run_cli(["config", "show", "--config", str(good)], env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["budgets"] == {
        "d": {"max_cost_usd": 1.5, "window": "day", "scope": "model", "models": None}
    }
    assert shown["budget_stores"] == {"memory": {}}
