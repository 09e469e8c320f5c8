"""Message content in the shapes of the GenAI conventions' opt-in attributes.

``gen_ai.input.messages`` / ``gen_ai.output.messages`` are lists of
``{"role", "parts": [...], "finish_reason"?}`` and ``gen_ai.system_instructions`` a list
of parts (semantic conventions v1.41.0, ``gen-ai-spans.md`` and the JSON schemas it links).
A span attribute cannot hold a structure, so each is recorded as its JSON text, as the
conventions allow for "any"-typed attributes on spans.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from modelbus import ChatResponse, Message

__all__ = ["input_messages", "output_messages", "system_instructions"]


def _parts(m: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if m.role == "tool":
        return [{"type": "tool_call_response", "id": m.tool_call_id, "response": m.text}]
    if m.text:
        parts.append({"type": "text", "content": m.text})
    for tc in m.tool_calls or ():
        parts.append(
            {
                "type": "tool_call",
                "id": tc.id,
                "name": tc.function.name,
                "arguments": tc.function.arguments,
            }
        )
    return parts


def input_messages(messages: Iterable[Message]) -> str:
    """The chat history without system messages, as ``gen_ai.input.messages`` JSON."""
    return json.dumps(
        [
            {"role": m.role, "parts": _parts(m)}
            for m in messages
            if m.role not in ("system", "developer")
        ]
    )


def system_instructions(messages: Iterable[Message]) -> str | None:
    """System (and developer) messages as ``gen_ai.system_instructions`` JSON, or None."""
    parts = [
        {"type": "text", "content": m.text} for m in messages if m.role in ("system", "developer")
    ]
    return json.dumps(parts) if parts else None


def output_messages(resp: ChatResponse) -> str:
    """The reply as ``gen_ai.output.messages`` JSON."""
    return json.dumps(
        [{"role": "assistant", "parts": _parts(resp.message), "finish_reason": resp.finish_reason}]
    )
