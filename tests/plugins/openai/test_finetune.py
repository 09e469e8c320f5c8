"""``modelbus finetune``: validation of chat fine-tuning files, and create / status /
list / cancel against the WireServer's files and fine-tuning endpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from modelbus.testing.server import Reply, WireServer
from modelbus_openai._finetune import check_example, default_epochs
from modelbus_openai._finetune_jobs import JobRegistry, registry_path

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
GOOD = [
    {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "assistant", "content": "18 degrees.", "weight": 1},
        ],
        "tools": [WEATHER_TOOL],
    },
]
BAD_LINES = [
    json.dumps({"messages": [{"role": "user", "content": "hi"}]}),
    "not json",
    json.dumps(
        {
            "messages": [
                {"role": "robot", "content": "x"},
                {"role": "assistant", "content": "y", "foo": 1},
            ]
        }
    ),
    json.dumps(
        {
            "messages": [
                {"role": "user", "content": "x", "weight": 1},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{oops"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "zzz", "content": "r"},
            ]
        }
    ),
]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(x) for x in GOOD) + "\n\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(BAD_LINES) + "\n")
    return {"good": good, "bad": bad}


@pytest.fixture
def run(srv: WireServer, tmp_path: Path) -> Any:
    """``run(*args)`` → the click Result of ``modelbus finetune -c CONFIG *args``."""
    from modelbus_openai._cli import finetune

    cfg = tmp_path / "modelbus.toml"
    # A training price set in config, as users do: modelbus ships no training prices it
    # could not source (OpenAI's pricing page is the authority, and it changes).
    cfg.write_text(
        f'[providers.openai]\nbase_url = "{srv.base_url}"\napi_key = "sk-test"\n'
        '[catalog."gpt-4o-mini"]\ntraining_per_1m = 3.0\n'
    )

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(finetune, ["-c", str(cfg), *args], catch_exceptions=False)

    return invoke


def test_validate_a_valid_file(run: Any, files: dict[str, Path]) -> None:
    res = run("validate", str(files["good"]), "-m", "gpt-4o-mini")
    assert res.exit_code == 0, res.output
    assert "2 examples, 0 problems (OK)" in res.output
    assert "tokens per example (exact, gpt-4o-mini)" in res.output
    assert "examples over the limit of 128000 tokens: 0" in res.output
    # 3.00 USD per 1M training tokens from the test config; 2 examples -> 25 default epochs.
    assert "$3 per 1M training tokens" in res.output and "default 25 epochs" in res.output


def test_validate_reports_every_problem_by_line(run: Any, files: dict[str, Path]) -> None:
    res = run("validate", str(files["bad"]))
    assert res.exit_code == 1
    for expected in (
        "line 1: no assistant message",
        "line 2: not valid JSON",
        "line 3: messages[0]: role must be one of",
        "line 3: messages[1]: unrecognized key 'foo'",
        "line 4: messages[0]: 'weight' is only allowed on assistant messages",
        "line 4: messages[1].tool_calls[0].function.arguments is not valid JSON",
        "line 4: messages[2]: tool_call_id 'zzz' answers no earlier tool call",
    ):
        assert expected in res.output, res.output
    assert "4 examples, 7 problems (NOT OK)" in res.output
    assert "estimated cost" in res.output


def test_validate_json_counts_and_cost(run: Any, files: dict[str, Path]) -> None:
    res = run("validate", str(files["good"]), "--json", "--max-tokens", "30")
    report = json.loads(res.output)
    assert report["ok"] and report["examples"] == 2
    assert report["token_limit"] == 30
    assert report["tokens"]["exact"] is True and report["tokens"]["min"] < 30
    assert report["over_limit_lines"] == [2]  # the tool example is longer
    billed = report["billing_tokens_per_epoch"]
    assert billed == report["tokens"]["min"] + 30  # the long one counts up to the limit
    assert report["cost_per_epoch_usd"] == pytest.approx(billed * 3.0 / 1_000_000)


def test_validate_unknown_model_says_the_price_is_unknown(run: Any, files: dict[str, Path]) -> None:
    res = run("validate", str(files["good"]), "-m", "my-own-model")
    assert res.exit_code == 0
    assert "the catalog has no training price for my-own-model" in res.output
    assert "not checked (no context window for my-own-model" in res.output


@pytest.mark.parametrize(
    ("example", "fragment"),
    [
        ({"messages": []}, "missing 'messages'"),
        (
            {"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]},
            "messages[0]: missing 'content'",
        ),
        (
            {"messages": [{"role": "assistant", "content": "x", "weight": 2}]},
            "weight must be 0 or 1",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "nope", "arguments": "{}"},
                            }
                        ],
                    },
                ],
                "tools": [WEATHER_TOOL],
            },
            "calls 'nope', which is not in 'tools'",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "content": "y"},
                ],
                "extra": 1,
            },
            "unrecognized key 'extra'",
        ),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_check_example(example: Any, fragment: str) -> None:
    assert any(fragment in p for p in check_example(example)), check_example(example)


def test_default_epochs_follow_the_cookbook() -> None:
    assert default_epochs(2) == 25  # 100 // 2 = 50, capped at 25
    assert default_epochs(10) == 10
    assert default_epochs(50) == 3
    assert default_epochs(20_000) == 1


def test_create_uploads_and_starts_a_job(run: Any, files: dict[str, Path], srv: WireServer) -> None:
    res = run(
        "create",
        str(files["good"]),
        "-m",
        "gpt-4o-mini-2024-07-18",
        "--suffix",
        "terse",
        "--epochs",
        "2",
        "-d",
        "first try",
    )
    assert res.exit_code == 0, res.output
    upload, create = srv.requests
    assert (upload.method, upload.path) == ("POST", "/v1/files")
    file_id = create.json["training_file"]
    assert srv.file_content(file_id) == files["good"].read_bytes()
    assert (create.method, create.path) == ("POST", "/v1/fine_tuning/jobs")
    assert create.json["model"] == "gpt-4o-mini-2024-07-18"
    assert create.json["suffix"] == "terse"
    assert create.json["method"] == {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 2}},
    }
    ((job_id, entry),) = JobRegistry().load().items()
    assert res.output.startswith(f"started {job_id} (validating_files)")
    assert entry["description"] == "first try" and entry["status"] == "validating_files"
    assert entry["created_at"].endswith("Z")
    assert registry_path().parent.name == "data"  # $MODELBUS_DATA_DIR from conftest


def test_create_refuses_an_invalid_file(run: Any, files: dict[str, Path], srv: WireServer) -> None:
    res = run("create", str(files["bad"]), "-m", "gpt-4o-mini")
    assert res.exit_code == 1 and "validation failed" in res.output
    assert srv.requests == []


def test_status_list_and_cancel(run: Any, files: dict[str, Path], srv: WireServer) -> None:
    assert run("create", str(files["good"]), "-m", "gpt-4o-mini", "-d", "nightly").exit_code == 0
    (job_id,) = JobRegistry().load()
    srv.update_fine_tuning_job(job_id, status="running")
    status = run("status", job_id)
    assert "status: running" in status.output and "description: nightly" in status.output
    assert JobRegistry().load()[job_id]["status"] == "running"

    listed = run("list")
    assert job_id in listed.output and "nightly" in listed.output
    as_json = json.loads(run("list", "--json").output)
    assert [j["id"] for j in as_json] == [job_id]

    cancelled = run("cancel", job_id)
    assert cancelled.output.strip() == f"{job_id}: cancelled"
    assert JobRegistry().load()[job_id]["status"] == "cancelled"
    again = run("cancel", job_id)
    assert again.exit_code == 1 and "already cancelled" in again.output


def test_status_of_a_finished_job(run: Any, files: dict[str, Path], srv: WireServer) -> None:
    run("create", str(files["good"]), "-m", "gpt-4o-mini")
    (job_id,) = JobRegistry().load()
    srv.update_fine_tuning_job(
        job_id,
        status="succeeded",
        trained_tokens=1234,
        fine_tuned_model="ft:gpt-4o-mini:org:terse:abc123",
        finished_at=1_700_000_000,
    )
    res = run("status", job_id)
    assert "fine_tuned_model: ft:gpt-4o-mini:org:terse:abc123" in res.output
    assert "trained_tokens: 1234" in res.output
    assert "finished_at: 2023-11-14 22:13:20Z" in res.output


def test_unknown_job_is_a_clear_error(run: Any, srv: WireServer) -> None:
    res = run("status", "ftjob-nope")
    assert res.exit_code == 1 and "404" in res.output


def test_api_errors_during_create_are_reported(
    run: Any, files: dict[str, Path], srv: WireServer
) -> None:
    srv.enqueue(Reply.fixture("openai/error_401_invalid_api_key"))
    res = run("create", str(files["good"]), "-m", "gpt-4o-mini")
    assert res.exit_code == 1 and "401" in res.output and "api_key" in res.output
    assert JobRegistry().load() == {}


def test_training_price_comes_from_the_catalog(
    run: Any, files: dict[str, Path], tmp_path: Path, srv: WireServer
) -> None:
    """The training price is the catalog's (set by config); modelbus ships none, since it
    cannot check OpenAI's current prices, and says so instead of guessing."""
    import modelbus

    client = modelbus.Client({"modelbus": {"cache": "none"}})
    assert client.catalog.get("gpt-4o-mini-2024-07-18").training_per_1m is None
    client.close()
    from modelbus_openai._cli import finetune

    unpriced = CliRunner().invoke(finetune, ["validate", str(files["good"]), "-m", "gpt-4o-mini"])
    assert "the catalog has no training price for gpt-4o-mini" in unpriced.output
    cfg = tmp_path / "priced.toml"
    cfg.write_text('[catalog."gpt-4o-mini"]\ntraining_per_1m = 10.0\n')
    res = CliRunner().invoke(finetune, ["-c", str(cfg), "validate", str(files["good"]), "--json"])
    assert json.loads(res.output)["training_per_1m"] == 10.0
