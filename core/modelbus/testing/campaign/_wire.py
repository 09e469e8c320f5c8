"""The campaign's routes on a :class:`~modelbus.testing.server.WireServer`: chat
completions (JSON and SSE) that draw faults from a :class:`FaultPlan` per request id,
and a log of every request the campaign reads back over HTTP.

A request's id is ``rid=ID`` in its last message (``[A-Za-z0-9_.-]+``). Besides the
plan's faults, an id's prefix asks for a scripted behaviour:

- ``stall-``: no byte, ever (until the server stops): a stalled server;
- ``idle-``: a stream that sends two events and then goes silent;
- ``secret-``: a 401 whose message echoes the ``Authorization`` header (a server that
  leaks the key back: modelbus must not repeat it anywhere).

Control routes: ``POST /campaign/setup`` (a :class:`FaultPlan` as JSON, plus
``stall_s``, ``latency_s``; forgets the log) and ``GET /campaign/log`` (``{"requests":
[[rid, attempt, kind, unix_time], ...]}``, kind ``"ok"`` or a fault).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from ..server import RecordedRequest, Reply, WireServer
from ._plan import FaultPlan

__all__ = ["FOREVER_S", "CampaignRoutes"]

FOREVER_S = 3600.0  # a "stall forever": the server's stop interrupts it
_RID = re.compile(r"\brid=([A-Za-z0-9_.-]+)")


def _last_text(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content") if isinstance(messages[-1], dict) else None
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def _ok(body: dict[str, Any], rid: str, attempt: int) -> Reply:
    model = str(body.get("model") or "gpt-4o-mini")
    # Completion tokens = max_tokens: each call costs exactly its budget reservation's
    # output part, so budget checks compare like with like.
    out = int(body.get("max_tokens") or body.get("max_completion_tokens") or 8)
    usage = {"prompt_tokens": 1, "completion_tokens": out, "total_tokens": out + 1}
    cid = f"chatcmpl-{rid}-{attempt}"
    text = f"ok {rid}"
    if body.get("stream") is not True:
        message = {"role": "assistant", "content": text, "refusal": None}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        return Reply.json(
            {
                "id": cid,
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [choice],
                "usage": usage,
            }
        )
    head = {"id": cid, "object": "chat.completion.chunk", "created": 0, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks: list[Any] = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "ok "}),
        chunk({"content": rid}),
        chunk({}, "stop"),
    ]
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        chunks.append({**head, "choices": [], "usage": usage})
    return Reply.sse(chunks)


class CampaignRoutes:
    """The campaign's state on the server: the plan, per-id attempt counts and the log.
    Handlers run on the server's loop thread and never block."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.plan = FaultPlan()
        self.stall_s = 30.0
        self.latency_s = 0.0
        self.attempts: dict[str, int] = {}
        self.log: list[tuple[str, int, str, float]] = []

    def install(self, server: WireServer) -> None:
        server.route("POST", "/v1/chat/completions", self.chat)
        server.route("POST", "/campaign/setup", self.setup)
        server.route("GET", "/campaign/log", self.read_log)

    def setup(self, request: RecordedRequest) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        with self._lock:
            self.plan = FaultPlan(
                seed=int(body.get("seed", 0)),
                rate=float(body.get("rate", 0.0)),
                **({"weights": body["weights"]} if body.get("weights") else {}),
            )
            self.stall_s = float(body.get("stall_s", 30.0))
            self.latency_s = float(body.get("latency_s", 0.0))
            self.attempts.clear()
            self.log.clear()
        return Reply.json({"ok": True})

    def read_log(self, request: RecordedRequest) -> Reply:
        with self._lock:
            return Reply.json({"requests": list(self.log)})

    def chat(self, request: RecordedRequest) -> Reply:
        body = request.json
        if not isinstance(body, dict):
            return Reply.error(400, "campaign server: the body is not a JSON object")
        found = _RID.search(_last_text(body))
        rid = found.group(1) if found else "-"
        with self._lock:
            attempt = self.attempts.get(rid, 0)
            self.attempts[rid] = attempt + 1
            kind = self.plan.draw(rid, attempt) if found else None
            stall_s, latency = self.stall_s, self.latency_s
            if rid.startswith("stall-"):
                kind = "stall"
                stall_s = FOREVER_S
            self.log.append((rid, attempt, kind or "ok", time.time()))
        if rid.startswith("secret-"):
            key = request.headers.get("authorization", "")
            return Reply.error(401, f"Incorrect API key provided: {key}.", code="invalid_api_key")
        if kind == "500":
            return Reply.error(500, "campaign fault: server error").with_latency(latency)
        if kind == "429":
            # OpenAI sends both; retry-after-ms (milliseconds) wins (see _retry_after).
            hint = {"retry-after-ms": "20", "Retry-After": "1"}
            return Reply.error(429, "campaign fault: rate limit", headers=hint)
        if kind == "reset":
            return Reply.reset(latency=latency)
        ok = _ok(body, rid, attempt)
        if kind == "stall":
            return Reply.stall(stall_s, then=ok)
        if rid.startswith("idle-") and body.get("stream") is True:
            return Reply.stall_after(2, FOREVER_S, source=ok)
        return ok.with_latency(latency) if latency else ok
