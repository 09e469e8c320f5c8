"""The core ``modelbus cache stats|clear|invalidate`` commands against the redis cache,
configured in a ``modelbus.toml`` (the commands build the cache exactly as a client
would)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelbus.cli import cli
from modelbus.testing import FakeProvider, make_client

from .conftest import unique_namespace
from .redis_server import RedisServer


def _toml(path: Path, url: str, namespace: str) -> Path:
    path.write_text(
        f'[modelbus]\ncache = "redis"\n\n[caches.redis]\nurl = "{url}"\n'
        f'namespace = "{namespace}"\n',
        encoding="utf-8",
    )
    return path


def _fill(url: str, namespace: str) -> None:
    """Three answers stored by a real client: two tagged user:1, one user:2; one hit."""
    client = make_client(
        FakeProvider(),
        {
            "modelbus": {"cache": "redis"},
            "caches": {"redis": {"url": url, "namespace": namespace}},
        },
    )
    client.chat("a", cache_tags=["user:1"])
    client.chat("b", cache_tags=["user:1", "model:x"])
    client.chat("c", cache_tags=["user:2"])
    assert client.chat("a").cached
    client.close()  # flushes this process's hit/miss counters to Redis


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_stats_invalidate_clear(redis_server: RedisServer, tmp_path: Path) -> None:
    ns = unique_namespace()
    cfg = str(_toml(tmp_path / "modelbus.toml", redis_server.url, ns))
    _fill(redis_server.url, ns)
    _fill(redis_server.url, other := unique_namespace())

    code, out = _invoke("cache", "stats", "--json", "--config", cfg)
    assert code == 0, out
    stats = json.loads(out)
    assert stats["cache"] == "redis"
    assert (stats["hits"], stats["misses"], stats["sets"], stats["entries"]) == (1, 3, 3, 3)
    assert stats["hit_rate"] == 0.25

    code, out = _invoke("cache", "invalidate", "--tag", "user:1", "--config", cfg)
    assert code == 0, out
    assert "removed 2 entries tagged 'user:1'" in out
    code, out = _invoke("cache", "invalidate", "-t", "model:x", "-t", "nobody", "--config", cfg)
    assert "removed 0 entries" in out  # b went with user:1

    code, out = _invoke("cache", "clear", "--yes", "--config", cfg)
    assert code == 0 and "removed 1 entry from cache 'redis'" in out
    code, out = _invoke("cache", "stats", "--json", "--config", cfg)
    assert json.loads(out)["entries"] == 0 and json.loads(out)["hits"] == 1  # counters stay

    # The other namespace saw none of it.
    code, out = _invoke(
        "cache",
        "stats",
        "--json",
        "--config",
        str(_toml(tmp_path / "other.toml", redis_server.url, other)),
    )
    assert json.loads(out)["entries"] == 3


def test_the_console_script_with_redis_down(own_redis: RedisServer, tmp_path: Path) -> None:
    """The real ``modelbus`` command in a subprocess: Redis unreachable is a warning on
    stderr (password masked), not a traceback; the counters are the empty fallback's."""
    url = f"redis://:s3cret@127.0.0.1:{own_redis.port}/0"
    cfg = _toml(tmp_path / "modelbus.toml", url, unique_namespace())
    own_redis.kill()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBUS_")}
    out = subprocess.run(
        [sys.executable, "-m", "modelbus.cli", "cache", "stats", "--json", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["entries"] == 0
    assert "redis_unavailable" in out.stderr and ":****@127.0.0.1" in out.stderr
    assert "s3cret" not in out.stdout + out.stderr


@pytest.mark.parametrize("yes", [False, True])
def test_clear_asks_first(redis_server: RedisServer, tmp_path: Path, yes: bool) -> None:
    ns = unique_namespace()
    cfg = str(_toml(tmp_path / "modelbus.toml", redis_server.url, ns))
    _fill(redis_server.url, ns)
    result = CliRunner().invoke(
        cli, ["cache", "clear", "--config", cfg], input="y\n" if yes else "n\n"
    )
    assert ("removed 3 entries" in result.output) is yes
    assert (result.exit_code == 0) is yes
