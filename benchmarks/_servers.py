"""The servers the rows talk to, each in its own process (so a server never shares the
GIL with the client being measured): the OpenAI-compatible ``WireServer``
(``python -m modelbus.testing.server``) with an optional artificial latency, and a private
``redis-server`` (started by ``bench_redis.redis_server``)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from types import TracebackType
from typing import Self

__all__ = ["ChildServer", "WireServerProcess"]


class ChildServer:
    """A server in a child process: ``start()`` (a subclass's) sets ``_proc`` and returns
    its ``base_url``; :meth:`stop` ends it (SIGTERM, then SIGKILL after 10 s) and closes
    its pipes; a context manager starts and stops it."""

    _proc: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class WireServerProcess(ChildServer):
    """``python -m modelbus.testing.server --port 0 --latency-ms MS [--stream-chunks K]``
    as a child process; ``base_url`` (``http://127.0.0.1:PORT/v1``) once it printed it.

    Raises ``RuntimeError`` (with the server's stderr) when it does not come up within
    ``start_timeout_s`` seconds."""

    def __init__(
        self,
        latency_ms: float = 0.0,
        stream_chunks: int | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        self.latency_ms = latency_ms
        self.stream_chunks = stream_chunks
        self.start_timeout_s = start_timeout_s
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        args = [sys.executable, "-m", "modelbus.testing.server", "--port", "0"]
        args += ["--latency-ms", f"{self.latency_ms:g}"]
        if self.stream_chunks is not None:
            args += ["--stream-chunks", str(self.stream_chunks)]
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._proc = proc
        lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        out = proc.stdout
        threading.Thread(target=lambda: lines.put(out.readline()), daemon=True).start()
        try:
            url = lines.get(timeout=self.start_timeout_s).strip()
        except queue.Empty:
            url = ""
        if not url.startswith("http://"):
            self.stop()
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(
                f"the WireServer process did not start ({' '.join(args)}): {url!r} {err}"
            )
        self.base_url = url
        return url
