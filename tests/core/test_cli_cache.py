"""``modelbus cache stats|clear|invalidate`` on the configured cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from modelbus.builtins.sqlite_cache import SqliteCache, SqliteCacheSettings
from modelbus.cli import cli
from tests.core.plugin_kit import clean_environ, run_cli


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cache.sqlite3"
    c = SqliteCache(SqliteCacheSettings(path=str(path)))
    c.set("k1", b'{"a": 1}', None, ["user:1"])
    c.set("k2", b'{"a": 22}', None, ["user:1", "doc:7"])
    c.set("k3", b'{"a": 333}', None, ["user:2"])
    assert c.get("k1") is not None and c.get("nope") is None
    c.close()
    return path


@pytest.fixture
def config(tmp_path: Path, db: Path) -> Path:
    cfg = tmp_path / "modelbus.toml"
    cfg.write_text(f'[modelbus]\ncache = "sqlite"\n\n[caches.sqlite]\npath = "{db}"\n')
    return cfg


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def entries(db: Path) -> int:
    c = SqliteCache(SqliteCacheSettings(path=str(db)))
    try:
        return c.stats().entries
    finally:
        c.close()


def test_stats_json(config: Path) -> None:
    r = run("cache", "stats", "--config", str(config), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data == {
        "cache": "sqlite",
        "hits": 1,
        "misses": 1,
        "sets": 3,
        "evictions": 0,
        "errors": 0,
        "bytes": 8 + 9 + 10,
        "entries": 3,
        "hit_rate": 0.5,
    }


def test_stats_table(config: Path) -> None:
    r = run("cache", "stats", "--config", str(config))
    assert r.exit_code == 0, r.output
    for word in ("cache 'sqlite'", "hits", "entries", "hit_rate", "0.5"):
        assert word in r.stdout


def test_invalidate_by_tag(config: Path, db: Path) -> None:
    r = run("cache", "invalidate", "--tag", "user:1", "--config", str(config))
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "removed 2 entries tagged 'user:1' from cache 'sqlite'"
    r = run("cache", "invalidate", "-t", "doc:7", "-t", "user:2", "--config", str(config))
    assert r.stdout.strip() == "removed 1 entry tagged 'doc:7', 'user:2' from cache 'sqlite'"
    assert entries(db) == 0


def test_invalidate_needs_a_tag(config: Path) -> None:
    r = run("cache", "invalidate", "--config", str(config))
    assert r.exit_code == 2 and "--tag" in r.output


def test_clear_asks_first(config: Path, db: Path) -> None:
    r = run("cache", "clear", "--config", str(config), input="n\n")
    assert r.exit_code == 1 and "Aborted" in r.output
    assert entries(db) == 3
    r = run("cache", "clear", "--config", str(config), input="y\n")
    assert r.exit_code == 0 and "removed 3 entries from cache 'sqlite'" in r.stdout
    assert entries(db) == 0


def test_clear_yes_keeps_counters(config: Path, db: Path) -> None:
    r = run("cache", "clear", "--yes", "--config", str(config))
    assert r.exit_code == 0, r.output
    data = json.loads(run("cache", "stats", "--json", "--config", str(config)).stdout)
    assert (data["entries"], data["sets"], data["hits"]) == (0, 3, 1)


def test_cache_option_overrides_the_config(tmp_path: Path, db: Path) -> None:
    cfg = tmp_path / "memory.toml"
    cfg.write_text(f'[modelbus]\ncache = "memory"\n\n[caches.sqlite]\npath = "{db}"\n')
    r = run("cache", "stats", "--json", "--cache", "sqlite", "--config", str(cfg))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["entries"] == 3


def test_memory_cache_says_it_is_per_process(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text('[modelbus]\ncache = "memory"\n')
    r = run("cache", "stats", "--json", "--config", str(cfg))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["entries"] == 0
    assert "lives inside each process" in r.stderr


def test_caching_off_is_a_usage_error(tmp_path: Path) -> None:
    cfg = tmp_path / "none.toml"
    cfg.write_text('[modelbus]\ncache = "none"\n')
    r = run("cache", "stats", "--config", str(cfg))
    assert r.exit_code == 2 and "caching is off" in r.output


def test_unknown_cache_names_the_installed_ones(config: Path) -> None:
    r = run("cache", "stats", "--cache", "nosuch", "--config", str(config))
    assert r.exit_code == 2
    assert "nosuch" in r.stderr and "memory" in r.stderr and "sqlite" in r.stderr


def test_a_broken_backend_is_one_line_and_status_1(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database " * 100)
    cfg = tmp_path / "junk.toml"
    cfg.write_text(f'[modelbus]\ncache = "sqlite"\n\n[caches.sqlite]\npath = "{junk}"\n')
    r = run("cache", "stats", "--config", str(cfg))
    assert r.exit_code == 1
    assert r.stderr.count("\n") == 1 and "junk.sqlite3" in r.stderr


def test_the_installed_command(tmp_path: Path, config: Path) -> None:
    proc = run_cli(
        ["cache", "stats", "--json", "--config", str(config)],
        env=clean_environ(tmp_path),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["entries"] == 3
    proc = run_cli(["--help"], env=clean_environ(tmp_path), cwd=tmp_path)
    assert "cache" in proc.stdout
