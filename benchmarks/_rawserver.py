"""The floor's server: a raw asyncio HTTP/1.1 server in its own process.

It answers every ``POST`` with one recorded ``chat.completion`` body (after
``--latency-ms``), keeps connections alive, and counts the POSTs it answered;
``GET /__count`` returns ``{"count": N}`` (not counted). It parses no JSON and builds no
objects per request, so the server costs the same whatever the client, and no contender
can be slowed down or sped up by it: the difference between contenders is theirs.

    python -m benchmarks._rawserver --port 0 --latency-ms 20

prints its base URL (``http://127.0.0.1:PORT/v1``) once listening and runs until
SIGTERM/SIGINT. :class:`RawServerProcess` starts it from the harness.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request

from ._servers import ChildServer

__all__ = ["REPLY", "RawServerProcess", "main"]

# A recorded gpt-4o-mini answer (tests/fixtures/wire/openai/chat_completion.json's shape).
REPLY = json.dumps(
    {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Paris is the capital of France, famous for the Eiffel Tower, "
                    "its art museums and its cuisine.",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 22,
            "total_tokens": 52,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
    },
    separators=(",", ":"),
).encode()


def _response(body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: "
        + content_type
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nx-request-id: req_bench\r\nconnection: keep-alive\r\n\r\n"
        + body
    )


_CHAT = _response(REPLY)


class _Conn(asyncio.Protocol):
    def __init__(self, server: _Server) -> None:
        self.srv = server
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            length = 0
            i = head.find(b"\r\ncontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i + 2)
                length = int(head[i + 17 : j if j > 0 else None])
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            self.srv.answer(self, head)

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class _Server:
    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.count = 0
        self.loop = asyncio.get_running_loop()

    def answer(self, conn: _Conn, head: bytes) -> None:
        if head.startswith(b"get /__count"):
            conn.send(_response(json.dumps({"count": self.count}).encode()))
            return
        self.count += 1
        if self.latency_s > 0:
            self.loop.call_later(self.latency_s, conn.send, _CHAT)
        else:
            conn.send(_CHAT)


async def _serve(port: int, latency_ms: float) -> None:
    loop = asyncio.get_running_loop()
    srv = _Server(latency_ms / 1000)
    server = await loop.create_server(lambda: _Conn(srv), "127.0.0.1", port, backlog=2048)
    host, bound = server.sockets[0].getsockname()[:2]
    print(f"http://{host}:{bound}/v1", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    args = ap.parse_args(argv)
    asyncio.run(_serve(args.port, args.latency_ms))


class RawServerProcess(ChildServer):
    """``python -m benchmarks._rawserver`` as a child process; ``base_url`` once up,
    :meth:`count` the POSTs answered so far. Raises ``RuntimeError`` with the child's
    stderr when it does not come up."""

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency_ms = latency_ms
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        args = [
            sys.executable,
            "-m",
            "benchmarks._rawserver",
            "--latency-ms",
            f"{self.latency_ms:g}",
        ]
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=root,
        )
        self._proc = proc
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            self.stop()
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"the raw server did not start ({' '.join(args)}): {err}")
        self.base_url = url
        return url

    def count(self) -> int:
        """POSTs answered since the start (one GET on a connection of its own)."""
        root = self.base_url.removesuffix("/v1")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{root}/__count", timeout=10) as r:
            return int(json.loads(r.read())["count"])


if __name__ == "__main__":
    main()
