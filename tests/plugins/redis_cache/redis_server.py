"""A real ``redis-server`` for tests: own process, free loopback port, no persistence."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

__all__ = ["RedisServer", "free_port"]

_STARTUP_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """``redis-server --save '' --appendonly no --port N --bind 127.0.0.1`` in ``workdir``
    (and ``--requirepass PASSWORD`` with ``password``).

    ``start()`` waits until it answers PING; ``kill()`` ends it with SIGKILL (an outage
    as a crash looks); ``start()`` again brings it back, empty, on the same port."""

    def __init__(self, workdir: Path, port: int | None = None, password: str | None = None) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError(
                "redis-server is not installed: the redis-cache tests need a real server "
                "(Debian: apt-get install redis-server; scripts/setup.sh installs it)"
            )
        self.exe = exe
        self.workdir = workdir
        self.port = port or free_port()
        self.password = password  # --requirepass
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = self.workdir / f"redis-{self.port}.log"
        self.proc = subprocess.Popen(
            [
                self.exe,
                "--save",
                "",
                "--appendonly",
                "no",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(log),
                *(["--requirepass", self.password] if self.password else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client(socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        try:
            while True:
                if self.proc.poll() is not None:
                    text = log.read_text() if log.exists() else ""
                    raise RuntimeError(f"redis-server exited ({self.proc.returncode}):\n{text}")
                try:
                    if client.ping():
                        return self
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        self.kill()
                        raise RuntimeError(
                            f"redis-server did not answer on port {self.port} within "
                            f"{_STARTUP_TIMEOUT_S} s"
                        ) from None
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self, **kw: float) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, **kw)
