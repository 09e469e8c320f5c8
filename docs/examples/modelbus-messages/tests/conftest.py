"""A fake Messages API on modelbus's WireServer, and its faults in the Messages format.

``messages_server`` answers ``POST /v1/messages`` as the real API shapes it: a
``message`` object, or with ``"stream": true`` the named events ``message_start``,
``content_block_start``, ``ping``, ``content_block_delta`` (one per word),
``content_block_stop``, ``message_delta`` and ``message_stop``; a request without
``x-api-key``, ``anthropic-version`` or ``max_tokens`` gets the API's error envelope.
``messages_faults`` plays ProviderContract's faults in the Messages format.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelbus.testing.faults import WireFaults
from modelbus.testing.server import RecordedRequest, Reply, WireServer

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_reply(status: int, message: str, headers: Any = None) -> Reply:
    """The Messages error envelope: ``{"type": "error", "error": {"type", "message"}}``."""
    kind = ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return Reply.json(body, status=status, headers=headers)


def reply_to(request: RecordedRequest) -> Reply:
    body = request.json or {}
    if "x-api-key" not in request.headers:
        return error_reply(401, "x-api-key header is required")
    if "anthropic-version" not in request.headers:
        return error_reply(400, "anthropic-version: header is required")
    if not isinstance(body.get("max_tokens"), int):
        return error_reply(400, "max_tokens: Field required")
    words = ["Hello", " from", " the", " fake", " API."]
    msg_id, model = "msg_01fake", body.get("model", "")
    headers = {"request-id": "req_fake_01"}
    if not body.get("stream"):
        return Reply.json(
            {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": "".join(words)}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 5},
            },
            headers=headers,
        )
    start = {
        "type": "message_start",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 12, "output_tokens": 1},
        },
    }
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    deltas = [
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
        )
        for w in words
    ]
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 5},
    }
    return Reply.sse(
        [
            ("message_start", start),
            ("content_block_start", block),
            ("ping", {"type": "ping"}),
            *deltas,
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", end),
            ("message_stop", {"type": "message_stop"}),
        ],
        done=False,  # no OpenAI "data: [DONE]": message_stop ends a Messages stream
        headers=headers,
    )


@pytest.fixture
def messages_server(wire_server: WireServer) -> WireServer:
    wire_server.route("POST", "/v1/messages", reply_to)
    return wire_server


class MessagesFaults(WireFaults):
    """The contract's faults in the Messages wire format."""

    request_id_header = "request-id"

    def error_reply(self, status: int, message: str, headers: Any) -> Reply:
        return error_reply(status, message, headers)

    def role_event(self) -> Any:
        message = {"id": "msg_f", "role": "assistant", "model": "m", "usage": {"input_tokens": 3}}
        return ("message_start", {"type": "message_start", "message": message})

    def content_event(self, text: str) -> Any:
        delta = {"type": "text_delta", "text": text}
        return ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})

    def error_event(self, message: str) -> Any:
        return (
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": message}},
        )


@pytest.fixture
def messages_faults(messages_server: WireServer) -> MessagesFaults:
    return MessagesFaults(messages_server)
