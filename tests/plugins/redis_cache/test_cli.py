"""The core ``modelbus cache stats|clear|invalidate`` commands against the redis cache,
configured in a ``modelbus.toml`` (the commands build the cache exactly as a client
would)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from modelbus.cli import cli
from modelbus.testing import FakeProvider, make_client

from .conftest import unique_namespace
from .redis_server import RedisServer, free_port


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
    """The real ``modelbus`` command in a subprocess: Redis unreachable is the reason on
    one line of stderr (password masked), status 1, no traceback — not an empty cache."""
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
    assert out.returncode == 1, out.stderr
    assert out.stdout == ""
    assert out.stderr.splitlines() == [
        f"modelbus: cache 'redis': redis reachable: redis://:****@127.0.0.1:{own_redis.port}/0: "
        f"cannot connect (Error 111 connecting to 127.0.0.1:{own_redis.port}. Connection refused.)"
    ]
    assert "s3cret" not in out.stdout + out.stderr


@contextmanager
def _silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung or firewalled
    server): the kernel completes the handshake from the listen backlog."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.fixture(params=["wrong password", "closed port", "no answer"])
def bad_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``(url, expected reason)`` of a Redis the commands cannot use."""
    if request.param == "wrong password":
        srv = RedisServer(tmp_path, password="right-pw").start()
        try:
            yield f"redis://:wrong-pw@127.0.0.1:{srv.port}/0", "authentication failed"
        finally:
            srv.kill()
    elif request.param == "closed port":
        yield f"redis://:wrong-pw@127.0.0.1:{free_port()}/0", "cannot connect"
    else:
        with _silent_server() as port:
            yield f"redis://:wrong-pw@127.0.0.1:{port}/0", "no answer within socket_timeout_s"


@pytest.mark.parametrize(
    "command", [["stats"], ["stats", "--json"], ["clear", "--yes"], ["invalidate", "-t", "x"]]
)
def test_commands_fail_with_the_reason(
    bad_redis: tuple[str, str], tmp_path: Path, command: list[str]
) -> None:
    url, why = bad_redis
    cfg = tmp_path / "modelbus.toml"
    cfg.write_text(
        f'[modelbus]\ncache = "redis"\n\n[caches.redis]\nurl = "{url}"\nsocket_timeout_s = 0.3\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["cache", *command, "--config", str(cfg)])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelbus: cache 'redis': redis reachable: ")
    assert why in lines[0] and "redis://:****@127.0.0.1:" in lines[0]
    assert "wrong-pw" not in result.output and "Traceback" not in result.output


def test_doctor_reports_redis(tmp_path: Path) -> None:
    """``modelbus doctor`` checks the configured redis cache and rate limiter: a wrong
    password fails both rows with the reason (status 1), the right one passes. Calls
    meanwhile work from the fallback, with one warning."""
    srv = RedisServer(tmp_path, password="right-pw").start()
    try:

        def doctor(password: str) -> tuple[int, dict[str, dict[str, object]]]:
            url = f"redis://:{password}@127.0.0.1:{srv.port}/0"
            cfg = tmp_path / f"{len(password)}-{password[0]}.toml"
            cfg.write_text(
                '[modelbus]\nprovider = "echo"\ncache = "redis"\nrate_limiter = "redis"\n'
                f'[caches.redis]\nurl = "{url}"\n[rate_limiters.redis]\nurl = "{url}"\n',
                encoding="utf-8",
            )
            result = CliRunner().invoke(cli, ["doctor", "--json", "--config", str(cfg)])
            assert "-pw" not in result.output
            rows = {r["provider"]: r for r in json.loads(result.stdout)}
            return result.exit_code, rows

        code, rows = doctor("wrong-pw")
        assert code == 1
        for key in ("caches.redis", "rate_limiters.redis"):
            assert rows[key]["ok"] is False and rows[key]["check"] == "redis reachable"
            assert "authentication failed" in str(rows[key]["detail"])
        assert rows["echo"]["ok"] is True
        code, rows = doctor("right-pw")
        assert code == 0, rows
        assert rows["caches.redis"]["ok"] is True and rows["rate_limiters.redis"]["ok"] is True

        provider = FakeProvider()
        client = make_client(
            provider,
            {
                "modelbus": {"cache": "redis"},
                "caches": {"redis": {"url": f"redis://:wrong-pw@127.0.0.1:{srv.port}/0"}},
            },
        )
        with capture_logs() as logs:
            assert client.chat("q").content == "echo: q"
            assert client.chat("q").cached is True  # from the in-memory fallback
        warned = [e for e in logs if e["event"] == "redis_unavailable"]
        assert len(warned) == 1 and "AuthenticationError" in str(warned[0]["error"])
        client.close()
    finally:
        srv.kill()


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
