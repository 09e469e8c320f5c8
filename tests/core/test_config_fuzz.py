"""Generated malformed configs (issue 15, item 8): a valid ``modelbus.toml`` mutated one
place at a time (a wrong type, an out-of-range or non-finite number, an unknown key, a
table replaced by a value). Whatever the mutation:

- ``modelbus config check FILE`` either accepts it or exits 2 with one line naming the
  mutated key (or the table holding it) and the file, never a traceback;
- a config that ``config check`` accepts runs ``modelbus chat`` without a traceback and
  without a config error (exit 0, or 1 for a runtime error such as a budget);
- the configured API key appears in neither command's output.

In-process (click's CliRunner) against the WireServer, so no network is needed.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelbus.cli import cli
from modelbus.testing.server import WireServer

KEY = "sk-fuzz-planted-0123456789"


def _base(base_url: str) -> dict[str, Any]:
    return {
        "modelbus": {
            "provider": "openai",
            "model": "fast",
            "cache": "memory",
            "cache_ttl_s": 60.0,
            "retry_policy": "exponential",
            "log_level": "error",
            "max_cost_usd": 5.0,
            "truncate": "oldest",
            "plugins": {"allow": ["openai"]},
            "retry_budget": {"enabled": True, "capacity": 500, "retry_cost": 5},
        },
        "providers": {
            "openai": {
                "api_key": KEY,
                "base_url": base_url,
                "timeout_s": 5.0,
                "connect_timeout_s": 2.0,
                "async_transport": "httpx",
                "default_headers": {"X-Test": "fuzz"},
            }
        },
        "retry_policies": {
            "exponential": {"max_attempts": 2, "initial_delay_s": 0.0, "max_delay_s": 0.0}
        },
        "caches": {"memory": {"max_entries": 100, "ttl_s": 30.0}},
        "models": {
            "fast": {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "params": {"temperature": 0.5, "max_tokens": 64, "stop": ["END"]},
                "fallbacks": [],
                "timeout_s": 5.0,
            }
        },
    }


def _paths(
    doc: dict[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], bool]]:
    """(path, is_table) of every table and leaf below ``doc``."""
    for k, v in doc.items():
        path = (*prefix, k)
        yield path, isinstance(v, dict)
        if isinstance(v, dict):
            yield from _paths(v, path)


_SAMPLE = _base("http://127.0.0.1:1/v1")
# Not mutated: the allow list (another plugin set changes which key is wrong) and the
# URL ("" means api.openai.com: a mutation must not make the test use the network).
_FIXED = {
    ("modelbus", "plugins"),
    ("modelbus", "plugins", "allow"),
    ("providers", "openai", "base_url"),
}
LEAVES = [p for p, table in _paths(_SAMPLE) if not table and p not in _FIXED]
TABLES = [(), *(p for p, table in _paths(_SAMPLE) if table and p not in _FIXED)]

BAD_VALUES = st.one_of(
    st.sampled_from(
        [-1, 0, -0.5, 0.0, math.nan, math.inf, -math.inf, 1e300, 2**63 - 1, "", "x", True, False]
    ),
    st.sampled_from([[], ["x"], [1, 2], {}, {"k": 1}]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-/", max_size=12),
)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[tuple[str, ...], Any]:
    """(path, new value): the value replaces the leaf or table at ``path``, or is put
    under a new key that no settings class has (a ``zz_`` name)."""
    kind = draw(st.sampled_from(["value", "value", "unknown_key", "not_table"]))
    if kind == "value":
        return draw(st.sampled_from(LEAVES)), draw(BAD_VALUES)
    table = draw(st.sampled_from(TABLES))
    if kind == "unknown_key":
        name = "zz_" + draw(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True))
        return (*table, name), draw(BAD_VALUES)
    if not table:  # the document itself cannot be a value
        table = ("modelbus",)
    return table, draw(st.sampled_from([1, "x", True, 2.5, ["a"]]))


def _apply(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


# --- a minimal TOML writer (the standard library only reads TOML) ---------------------------


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def to_toml(doc: dict[str, Any]) -> str:
    lines: list[str] = []

    def table(path: tuple[str, ...], body: dict[str, Any]) -> None:
        scalars = {k: v for k, v in body.items() if not isinstance(v, dict) or not v}
        if path:
            lines.append(f"[{'.'.join(_key(p) for p in path)}]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in scalars.items())
        lines.append("")
        for k, v in body.items():
            if isinstance(v, dict) and v:
                table((*path, k), v)

    table((), doc)
    return "\n".join(lines)


# --- the property ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    with WireServer() as srv:
        yield srv


def _related(named: str, mutated: str) -> bool:
    """The error's key is the mutated one, or a table holding it (a whole section
    refused: ``[catalog]``, a settings class's cross-field check)."""
    return named == mutated or mutated.startswith(named + ".")


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutation=mutations())
def test_a_malformed_config_is_refused_by_check_or_runs_chat(
    mutation: tuple[tuple[str, ...], Any], server: WireServer, fresh_plugins: None, tmp_path: Path
) -> None:
    path, value = mutation
    config = tmp_path / "modelbus.toml"
    config.write_text(to_toml(_apply(_base(server.base_url), path, value)))
    runner = CliRunner()
    check = runner.invoke(cli, ["config", "check", str(config)])
    out = check.stdout + check.stderr
    assert "Traceback" not in out and KEY not in out, out
    assert isinstance(check.exception, SystemExit) or check.exception is None, repr(check.exception)
    if check.exit_code != 0:
        assert check.exit_code == 2, out
        assert check.stderr.startswith("modelbus: config error: ") and f"in: {config}" in out
        named = re.search(r"key: ([^;\n]+)", check.stderr)
        assert named is not None, out
        assert _related(named.group(1), ".".join(path)), (path, out)
        return
    chat = runner.invoke(cli, ["chat", "--config", str(config), "hi"])
    out = chat.stdout + chat.stderr
    assert "Traceback" not in out and KEY not in out, out
    assert chat.exception is None or isinstance(chat.exception, SystemExit), repr(chat.exception)
    # 2 would be a config error that `config check` let through.
    assert chat.exit_code in (0, 1), (path, value, out)
    if chat.exit_code == 1:
        assert chat.stderr.startswith("modelbus: "), out


def test_the_writer_round_trips_the_base_config():
    import tomllib

    doc = _base("http://127.0.0.1:1/v1")
    assert tomllib.loads(to_toml(doc)) == doc
