"""An in-process OpenAI-compatible HTTP server for tests and benchmarks.

``WireServer`` speaks plain HTTP/1.1 on 127.0.0.1 (stdlib asyncio, own thread and event
loop) and answers the OpenAI routes the SDK uses with recorded payloads::

    from modelbus.testing.server import Reply, WireServer

    with WireServer() as srv:
        srv.enqueue(Reply.error(429, "Rate limit reached", headers={"Retry-After": "2"}))
        client = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
        ...
        assert srv.requests[0].json["model"] == "gpt-4o-mini"

Default routes (method path → reply):

- POST ``/v1/chat/completions`` → recorded chat completion; SSE ending in ``data: [DONE]``
  when the body has ``"stream": true`` (usage chunk only with
  ``stream_options.include_usage``).
- POST ``/v1/embeddings`` → one recorded 1536-d vector per input (``encoding_format``
  float/base64, ``dimensions`` honoured).
- GET ``/v1/models``, GET ``/v1/models/{id}``.
- POST ``/openai/deployments/{deployment}/chat/completions?api-version=...`` and
  ``.../embeddings`` (Azure OpenAI; recorded Azure bodies with content filter results).
- POST ``/v1/files`` (multipart upload), GET ``/v1/files``, GET/DELETE
  ``/v1/files/{id}``, GET ``/v1/files/{id}/content``; POST/GET ``/v1/fine_tuning/jobs``,
  GET ``/v1/fine_tuning/jobs/{id}``, POST ``/v1/fine_tuning/jobs/{id}/cancel`` (state in
  memory).
- Anything else → 404 ``Invalid URL (METHOD /path)`` as the OpenAI API answers.

Other wire formats: ``route(method, path, handler)`` adds a route whose default reply
``handler(request)`` builds (an Anthropic-style ``/v1/messages``, say); the scripting
below, faults included, applies to it as to the built-in routes.

Which reply a request gets: the oldest ``enqueue``-d Reply (one each, whatever the path),
else the newest ``set_default`` rule matching method and path, else the route default
(the newest matching ``route`` first).
A content-less Reply (``Reply.default()``, ``Reply.stall(s)``, ``Reply.truncated()``,
``Reply.sse_cut(k)``, ``Reply.stall_after(k, s)``...) modifies the route default
instead of replacing it.

As a process (benchmarks)::

    python -m modelbus.testing.server --port 0 --latency-ms 20 --stream-chunks 50

prints its base URL (``http://127.0.0.1:PORT/v1``) on stdout once listening and runs
until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from ._server_fixtures import FixtureFile, FixtureKind, find_fixture, fixtures_root, wire_fixtures
from ._server_http import Headers, HttpServer, RecordedRequest
from ._server_reply import Fault, Reply
from ._server_routes import DEFAULT_MODELS, Routes

__all__ = [
    "Fault",
    "FixtureFile",
    "FixtureKind",
    "Headers",
    "RecordedRequest",
    "Reply",
    "WireServer",
    "find_fixture",
    "fixtures_root",
    "main",
    "wire_fixtures",
]


class WireServer:
    """OpenAI-compatible test server; see the module docstring for routes and scripting.

    Args:
        host: interface to bind (loopback by default).
        port: TCP port; 0 picks a free one (read it back from ``port``).
        latency: seconds every reply waits unless its Reply sets ``latency``.
        stream_chunks: number of content chunks in the default chat stream (the recorded
            content chunks are cycled); None keeps the recording as is.
        models: model ids listed by ``GET /v1/models``.
        record: keep every request in ``requests`` (turn off for long benchmarks).
        clock: seconds since the epoch, for ``created_at`` of files and jobs.

    Thread-safe: scripting and inspection may happen from any thread while the server
    answers from its own.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        stream_chunks: int | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        record: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if latency < 0:
            raise ValueError(f"WireServer latency is in seconds and must be >= 0, got {latency}")
        if stream_chunks is not None and stream_chunks < 0:
            raise ValueError(f"WireServer stream_chunks must be >= 0, got {stream_chunks}")
        self._host = host
        self._wanted_port = port
        self._port: int | None = None
        self._latency = latency
        self._record = record
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._queue: collections.deque[Reply] = collections.deque()
        self._rules: list[tuple[str | None, str, Reply]] = []
        self._custom: list[tuple[str | None, str, Callable[[RecordedRequest], Reply]]] = []
        self._served = 0
        self._routes = Routes(stream_chunks=stream_chunks, clock=clock, models=models)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> WireServer:
        """Start listening in a background thread; returns self once accepting.

        Raises:
            RuntimeError: already started.
            OSError: the port cannot be bound.
        """
        if self._thread is not None:
            raise RuntimeError("WireServer already started")
        loop = asyncio.new_event_loop()
        http = HttpServer(self._dispatch)
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._port = loop.run_until_complete(http.start(self._host, self._wanted_port))
            except BaseException as exc:  # handed to the starting thread below
                failure.append(exc)
                loop.close()
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(http.close())
                loop.close()

        thread = threading.Thread(target=run, name="modelbus-WireServer", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise failure[0]
        self._loop, self._thread = loop, thread
        return self

    def stop(self) -> None:
        """Close the listener and every connection (interrupting stalls); idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._loop = self._thread = None
        self._port = None

    def __enter__(self) -> WireServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self, on_ready: Callable[[str], None] = print) -> None:
        """Serve in the calling thread until SIGINT/SIGTERM; ``on_ready(base_url)`` runs
        once listening. Used by the ``python -m modelbus.testing.server`` process mode."""

        async def serve() -> None:
            http = HttpServer(self._dispatch)
            self._port = await http.start(self._host, self._wanted_port)
            stopped = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stopped.set)
            on_ready(self.base_url)
            try:
                await stopped.wait()
            finally:
                await http.close()

        asyncio.run(serve())

    # -- addresses -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound TCP port.

        Raises:
            RuntimeError: the server is not running.
        """
        if self._port is None:
            raise RuntimeError("WireServer is not running; call start() or use `with`")
        return self._port

    @property
    def origin(self) -> str:
        """``http://HOST:PORT`` (for ``AzureOpenAI(azure_endpoint=...)``)."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1`` (for ``OpenAI(base_url=...)``)."""
        return f"{self.origin}/v1"

    # -- scripting -----------------------------------------------------------------------
    @property
    def latency(self) -> float:
        """Default artificial latency in seconds before each reply."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"WireServer latency is in seconds and must be >= 0, got {seconds}")
        self._latency = seconds

    def enqueue(self, *replies: Reply) -> None:
        """Serve ``replies`` to the next requests, one each and in order, whatever their
        path; afterwards requests fall back to rules and route defaults.

        Raises:
            TypeError: an argument is not a Reply.
        """
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(
                    f"WireServer.enqueue takes Reply objects, got {type(reply).__name__}"
                )
        with self._lock:
            self._queue.extend(replies)

    def set_default(self, reply: Reply, *, path: str = "*", method: str | None = None) -> None:
        """Answer every request matching ``path`` (an ``fnmatch`` glob over the path
        without query, e.g. ``"/v1/chat/*"``) and ``method`` (None = any) with
        ``reply`` until ``clear_defaults``/``reset``; the newest matching rule wins.

        Example: ``srv.set_default(Reply.error(503), path="/v1/chat/completions")``;
        ``srv.set_default(Reply.default(latency=0.05), path="/v1/embeddings")``.
        """
        if not isinstance(reply, Reply):
            raise TypeError(f"WireServer.set_default takes a Reply, got {type(reply).__name__}")
        with self._lock:
            self._rules.insert(0, (method.upper() if method else None, path, reply))

    def route(
        self,
        method: str | None,
        path: str,
        handler: Callable[[RecordedRequest], Reply],
    ) -> None:
        """Serve requests matching ``method`` (None = any) and ``path`` (an ``fnmatch``
        glob over the path without query) with ``handler(request)`` as their route
        default, before the built-in routes; the newest matching route wins. Enqueued
        and ``set_default`` replies still come first, and a content-less one
        (``Reply.stall``, ``Reply.sse_cut``, ``Reply.default(headers=...)``) modifies
        what ``handler`` returns. Kept until ``reset``. ``handler`` runs on the server's
        thread and must not block; an exception in it is answered with a 500.

        Example: ``srv.route("POST", "/v1/messages", lambda req: Reply.json({...}))``.
        """
        if not callable(handler):
            raise TypeError(f"WireServer.route takes a callable, got {type(handler).__name__}")
        with self._lock:
            self._custom.insert(0, (method.upper() if method else None, path, handler))

    def clear_defaults(self) -> None:
        """Remove every ``set_default`` rule."""
        with self._lock:
            self._rules.clear()

    @property
    def pending(self) -> int:
        """Number of enqueued replies not served yet."""
        with self._lock:
            return len(self._queue)

    # -- inspection ----------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Back to a fresh state: no recorded requests, queued replies, rules, added
        routes, files or jobs (the latency setting stays)."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._rules.clear()
            self._custom.clear()
            self._routes.store.reset()

    def file_content(self, file_id: str) -> bytes:
        """Bytes uploaded as ``file_id`` through ``POST /v1/files``.

        Raises:
            KeyError: no such file.
        """
        with self._lock:
            if file_id not in self._routes.store.contents:
                raise KeyError(f"no uploaded file {file_id!r} on this WireServer")
            return self._routes.store.contents[file_id]

    def update_fine_tuning_job(self, job_id: str, **fields: Any) -> dict[str, Any]:
        """Change a job as OpenAI would while it trains, e.g.
        ``update_fine_tuning_job(job_id, status="succeeded", fine_tuned_model="ft:...")``.
        Settable: status, fine_tuned_model, finished_at, trained_tokens, error,
        result_files, estimated_finish, metadata. Returns the updated job object.

        Raises:
            KeyError: unknown job id.
            ValueError: a field that cannot be set.
        """
        with self._lock:
            return self._routes.store.update_job(job_id, fields)

    # -- request handling (server thread) ------------------------------------------------
    def _rule_for(self, request: RecordedRequest) -> Reply | None:
        for method, pattern, reply in self._rules:
            if (method is None or method == request.method) and fnmatch.fnmatchcase(
                request.path, pattern
            ):
                return reply
        return None

    def _route_default(self, request: RecordedRequest) -> Reply:
        for method, pattern, handler in self._custom:
            if (method is None or method == request.method) and fnmatch.fnmatchcase(
                request.path, pattern
            ):
                return handler(request)
        return self._routes.reply_for(request)

    def _dispatch(self, request: RecordedRequest) -> tuple[Reply, float, bytes]:
        with self._lock:
            if self._record:
                self._requests.append(request)
            scripted = self._queue.popleft() if self._queue else None
            if scripted is None and self._rules:
                scripted = self._rule_for(request)
            if scripted is None:
                reply = self._route_default(request)
            elif scripted.is_default:
                reply = scripted.over(self._route_default(request))
            else:
                reply = scripted
            self._served += 1
            serial = self._served
        latency = self._latency if reply.latency is None else reply.latency
        extra = b"" if reply.has_request_id else b"x-request-id: req_%032x\r\n" % serial
        return reply, latency, extra


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry: ``python -m modelbus.testing.server [--host H] [--port N]
    [--latency-ms MS] [--stream-chunks K]``; prints the base URL once listening."""
    import click

    @click.command(name="python -m modelbus.testing.server")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
    @click.option("--port", default=0, show_default=True, help="TCP port; 0 = a free port.")
    @click.option(
        "--latency-ms",
        type=click.FloatRange(min=0),
        default=0.0,
        show_default=True,
        help="Artificial latency before every reply, in milliseconds.",
    )
    @click.option(
        "--stream-chunks",
        type=click.IntRange(min=0),
        default=None,
        help="Content chunks in the default chat stream (default: as recorded).",
    )
    def command(host: str, port: int, latency_ms: float, stream_chunks: int | None) -> None:
        server = WireServer(
            host=host,
            port=port,
            latency=latency_ms / 1000,
            stream_chunks=stream_chunks,
            record=False,
        )
        server.serve_forever(lambda url: print(url, flush=True))

    command.main(args=list(argv) if argv is not None else None, standalone_mode=True)


if __name__ == "__main__":
    main()
