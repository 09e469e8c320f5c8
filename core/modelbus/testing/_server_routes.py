"""Default replies of the WireServer, built once from recorded payloads.

Chat completions replay ``_server_recorded`` (OpenAI or Azure flavour) as JSON or, for
``"stream": true``, as SSE; without ``stream_options.include_usage`` the usage chunk and
the ``usage`` keys are removed, as the OpenAI API does. Embeddings return one recorded
``text-embedding-3-small`` vector per input, as base64 or floats per
``encoding_format`` and shortened + re-normalized for ``dimensions``.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import struct
from collections.abc import Callable, Sequence
from typing import Any

from . import _server_recorded as rec
from ._server_finetune import FilesAndJobs
from ._server_http import RecordedRequest
from ._server_reply import DONE_EVENT, Reply, sse_events

__all__ = ["DEFAULT_MODELS", "Routes"]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", rec.EMBEDDING_MODEL)
_SSE = "text/event-stream; charset=utf-8"
_AZURE = re.compile(r"^/openai/deployments/([^/]+)/(chat/completions|embeddings)$")
_FILE = re.compile(r"^/v1/files/([^/]+)(/content)?$")
_JOB = re.compile(r"^/v1/fine_tuning/jobs/([^/]+)(/cancel)?$")
_MODEL = re.compile(r"^/v1/models/(.+)$")
# OpenAI's reply to a body that is not JSON (as returned by api.openai.com).
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
    "contact us through our help center at help.openai.com.)"
)


def _chunk_event(chunk: dict[str, Any]) -> bytes:
    return (
        b"data: " + json.dumps(chunk, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
    )


def _is_content(chunk: Any) -> bool:
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not choices:
        return False
    delta = choices[0].get("delta") or {}
    return (
        bool(delta.get("content")) and "role" not in delta and not choices[0].get("finish_reason")
    )


def stream_events(
    recorded: str, include_usage: bool, content_chunks: int | None
) -> tuple[bytes, ...]:
    """The recorded stream's events; ``content_chunks`` resizes the content part by
    cycling the recorded content events; without ``include_usage`` the usage chunk
    (``choices: []`` with ``usage``) is dropped and ``usage`` removed from each chunk."""
    events = [e for e in sse_events(recorded.encode()) if e != DONE_EVENT]
    chunks = [json.loads(e[len(b"data: ") :]) for e in events]
    positions = [i for i, c in enumerate(chunks) if _is_content(c)]
    first, last = positions[0], positions[-1]
    content = events[first : last + 1]
    if content_chunks is not None:
        content = list(itertools.islice(itertools.cycle(content), content_chunks))
    out = [*events[:first], *content, *events[last + 1 :]]
    if not include_usage:
        stripped = []
        for event in out:
            chunk = json.loads(event[len(b"data: ") :])
            if chunk.get("choices") == [] and chunk.get("usage"):
                continue
            if "usage" in chunk:
                del chunk["usage"]
                event = _chunk_event(chunk)
            stripped.append(event)
        out = stripped
    return (*out, DONE_EVENT)


class _Chat:
    def __init__(
        self, completion: str, stream: str, headers: Sequence[tuple[str, str]], k: int | None
    ):
        self.json = Reply.raw(completion, headers=headers)
        self.with_usage = Reply(
            headers=[("Content-Type", _SSE)], events=stream_events(stream, True, k)
        )
        self.without_usage = Reply(
            headers=[("Content-Type", _SSE)], events=stream_events(stream, False, k)
        )

    def reply(self, request: RecordedRequest) -> Reply:
        body = request.json
        if not isinstance(body, dict):
            return Reply.error(400, _BAD_JSON)
        if "messages" not in body:
            return Reply.error(
                400,
                "Missing required parameter: 'messages'.",
                param="messages",
                code="missing_required_parameter",
            )
        if "model" not in body:
            return Reply.error(400, "you must provide a model parameter")
        if body.get("stream") is not True:
            return self.json
        options = body.get("stream_options")
        wants_usage = isinstance(options, dict) and options.get("include_usage") is True
        return self.with_usage if wants_usage else self.without_usage


class _Embeddings:
    def __init__(self) -> None:
        self._vectors = [
            struct.unpack(f"<{len(raw) // 4}f", raw)
            for raw in (base64.b64decode(v) for v in rec.EMBEDDING_VECTORS_BASE64)
        ]
        self._encoded: dict[tuple[int, bool, int], bytes] = {}

    def _vector(self, which: int, as_base64: bool, dims: int) -> bytes:
        key = (which, as_base64, dims)
        if key not in self._encoded:
            values: Sequence[float] = self._vectors[which]
            if dims < len(values):
                # Shortened embeddings are re-normalized to unit length (OpenAI embeddings guide).
                values = values[:dims]
                norm = math.sqrt(sum(v * v for v in values)) or 1.0
                values = [v / norm for v in values]
            if as_base64:
                packed = struct.pack(f"<{len(values)}f", *values)
                self._encoded[key] = b'"' + base64.b64encode(packed) + b'"'
            else:
                self._encoded[key] = ("[" + ",".join(f"{v:.9g}" for v in values) + "]").encode()
        return self._encoded[key]

    def reply(self, request: RecordedRequest) -> Reply:
        body = request.json
        if not isinstance(body, dict):
            return Reply.error(400, _BAD_JSON)
        raw = body.get("input")
        if raw is None or raw == [] or raw == "":
            return Reply.error(
                400,
                "Missing required parameter: 'input'.",
                param="input",
                code="missing_required_parameter",
            )
        # input: a string, a token array, or a list of either (OpenAI embeddings reference).
        single = isinstance(raw, str) or (
            isinstance(raw, list) and all(isinstance(x, int) for x in raw)
        )
        inputs: list[Any] = [raw] if single else list(raw)
        # No tokenizer here: one token per whitespace-separated word approximates usage.
        tokens = sum(len(x) if isinstance(x, list) else max(1, len(str(x).split())) for x in inputs)
        as_base64 = body.get("encoding_format") == "base64"
        dims = body.get("dimensions")
        width = dims if isinstance(dims, int) and dims > 0 else len(self._vectors[0])
        items = b",".join(
            b'{"object":"embedding","index":%d,"embedding":%s}'
            % (i, self._vector(i % 2, as_base64, width))
            for i in range(len(inputs))
        )
        tail = {
            "model": rec.EMBEDDING_MODEL,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        data = (
            b'{"object":"list","data":['
            + items
            + b"],"
            + json.dumps(tail, separators=(",", ":")).encode()[1:]
        )
        return Reply(headers=[("Content-Type", "application/json")], body=data)


class Routes:
    """Maps a request to its default Reply; the caller holds the server lock."""

    def __init__(
        self, *, stream_chunks: int | None, clock: Callable[[], float], models: Sequence[str]
    ):
        self.openai_chat = _Chat(
            rec.OPENAI_CHAT_COMPLETION,
            rec.OPENAI_CHAT_STREAM,
            [("Content-Type", "application/json"), *rec.OPENAI_CHAT_HEADERS],
            stream_chunks,
        )
        self.azure_chat = _Chat(
            rec.AZURE_CHAT_COMPLETION,
            rec.AZURE_CHAT_STREAM,
            [("Content-Type", "application/json")],
            stream_chunks,
        )
        self.embeddings = _Embeddings()
        self.store = FilesAndJobs(clock)
        model_list = [
            {"id": m, "object": "model", "created": 0, "owned_by": "system"} for m in models
        ]
        self.models = {m["id"]: Reply.json(m) for m in model_list}
        self.model_list = Reply.json({"object": "list", "data": model_list})

    def reply_for(self, request: RecordedRequest) -> Reply:
        method, path = request.method, request.path
        if method == "POST":
            if path == "/v1/chat/completions":
                return self.openai_chat.reply(request)
            if path == "/v1/embeddings":
                return self.embeddings.reply(request)
            if path == "/v1/files":
                return self.store.upload(request)
            if path == "/v1/fine_tuning/jobs":
                return self.store.create_job(request)
            azure = _AZURE.match(path)
            if azure:
                if "api-version" not in request.query:
                    return Reply.error(
                        404, "modelbus WireServer: Azure routes need ?api-version=", code="404"
                    )
                if azure.group(2) == "embeddings":
                    return self.embeddings.reply(request)
                return self.azure_chat.reply(request)
            job = _JOB.match(path)
            if job and job.group(2):
                return self.store.cancel_job(job.group(1))
        elif method == "GET":
            if path == "/v1/models":
                return self.model_list
            if path == "/v1/files":
                return self.store.list_files(request)
            if path == "/v1/fine_tuning/jobs":
                return self.store.list_jobs(request)
            model = _MODEL.match(path)
            if model:
                found = self.models.get(model.group(1))
                return found or Reply.error(
                    404,
                    f"The model `{model.group(1)}` does not exist or you do not have access to it.",
                    code="model_not_found",
                )
            file = _FILE.match(path)
            if file:
                return (
                    self.store.file_content(file.group(1))
                    if file.group(2)
                    else self.store.get_file(file.group(1))
                )
            job = _JOB.match(path)
            if job and not job.group(2):
                return self.store.get_job(job.group(1))
        elif method == "DELETE":
            file = _FILE.match(path)
            if file and not file.group(2):
                return self.store.delete_file(file.group(1))
        # OpenAI's own wording for an unknown route.
        return Reply.error(404, f"Invalid URL ({method} {path})")
