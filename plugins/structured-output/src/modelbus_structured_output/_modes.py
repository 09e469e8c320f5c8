"""The five ways of asking for JSON, and of reading it back.

=============  ==============================================================================
mode           what is sent / where the JSON is read from
=============  ==============================================================================
json_schema    ``response_format = {"type": "json_schema", "json_schema": {name, schema,
               strict}}`` (OpenAI Structured Outputs) / ``message.content``
tools          one function whose ``parameters`` is the schema, forced with ``tool_choice``
               / that tool call's ``arguments``
json           ``response_format = {"type": "json_object"}`` and the schema in the system
               prompt (OpenAI's JSON mode needs the word JSON in a message) / ``content``
md_json        the schema in the system prompt, nothing else / the first fenced code block
               of ``content`` (or the whole content when it is bare JSON)
grammar        ``response_format = {"type": "json_object", "schema": S}`` and the schema in
               the system prompt: llama.cpp's server, llama-cpp-python's server (which
               answers ``json_schema`` with HTTP 500) and the embedded backend all turn
               that into a grammar, so even a weak model's reply is well formed /
               ``content``
=============  ==============================================================================

``auto`` picks, from the provider's :class:`~modelbus.protocols.Capabilities`: grammar,
then json_schema, then tools (not when the request already carries tools, as in a tool
loop), then json, then md_json.

Re-asks (see :func:`reask`) append the model's reply and one message with the errors: a
``role: "tool"`` answer to each call in tools mode, a user message otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from modelbus.errors import RefusalError
from modelbus.plugin import ChatRequest, ChatResponse, FunctionSpec, Message, ToolSpec
from modelbus.protocols import Capabilities

from ._target import Invalid, Mode, Target

__all__ = ["choose_mode", "extract", "reask", "shape"]

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|json5)?[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)

_PROMPT = {
    "json": "Reply with one JSON object and nothing else. It must match this JSON Schema:\n{s}",
    "md_json": (
        "Reply with one JSON object inside a fenced ```json code block. It must match this "
        "JSON Schema:\n{s}"
    ),
    "grammar": "Reply with one JSON object matching this JSON Schema:\n{s}",
}


def choose_mode(mode: Mode, caps: Capabilities, request: ChatRequest) -> str:
    """The mode to use for ``mode`` (``auto`` resolved from ``caps``)."""
    if mode != "auto":
        return mode
    if caps.grammar:
        return "grammar"
    if caps.json_schema:
        return "json_schema"
    if caps.tools and not request.tools:
        return "tools"
    if caps.json_object:
        return "json"
    return "md_json"


def _with_system(messages: tuple[Message, ...], text: str) -> tuple[Message, ...]:
    """``text`` appended to a leading plain-text system message, else a new one first
    (several system messages confuse some chat templates)."""
    if messages and messages[0].role in ("system", "developer"):
        head = messages[0]
        if isinstance(head.content, str):
            joined = f"{head.content}\n\n{text}" if head.content else text
            return (attrs.evolve(head, content=joined), *messages[1:])
    return (Message("system", text), *messages)


def _tool_choice(target: Target) -> dict[str, Any]:
    return {"type": "function", "function": {"name": target.name}}


def shape(request: ChatRequest, target: Target, mode: str, strict_tools: bool) -> ChatRequest:
    """``request`` (built without ``response_format``) as sent in ``mode``."""
    if mode == "json_schema":
        spec: dict[str, Any] = {"name": target.name, "schema": target.schema}
        if target.description:
            spec["description"] = target.description
        spec["strict"] = target.strict
        return attrs.evolve(request, response_format={"type": "json_schema", "json_schema": spec})
    if mode == "tools":
        tool = ToolSpec(
            FunctionSpec(
                target.name,
                target.description,
                target.schema,
                target.strict if strict_tools else None,
            )
        )
        # Alongside the caller's tools (a tool loop), the model chooses; alone, it is forced.
        others = tuple(t for t in request.tools or () if t.function.name != target.name)
        choice = request.tool_choice if others else _tool_choice(target)
        return attrs.evolve(
            request, tools=(*others, tool), tool_choice=choice, response_format=None
        )
    prompt = _PROMPT[mode].format(s=target.schema_text())
    msgs = _with_system(request.messages, prompt)
    if mode == "json":
        rf: Mapping[str, Any] | None = {"type": "json_object"}
    elif mode == "grammar":
        rf = {"type": "json_object", "schema": target.schema}
    else:
        rf = None
    return attrs.evolve(request, messages=msgs, response_format=rf)


def _check_refusal(resp: ChatResponse) -> None:
    if resp.message.refusal:
        raise RefusalError(resp.message.refusal, response=resp)


def target_call(resp: ChatResponse, target: Target) -> Any:
    """The tool call to ``target`` in ``resp`` (``None`` when there is none)."""
    return next((c for c in resp.tool_calls if c.function.name == target.name), None)


def fenced(text: str) -> str:
    """The first fenced code block of ``text`` (an unclosed one counts: streams), else
    ``text`` itself."""
    m = _FENCE.search(text)
    return m.group(1) if m else text


def extract(resp: ChatResponse, target: Target, mode: str) -> str:
    """The JSON text of ``resp`` in ``mode``. Raises :class:`RefusalError` for a refusal
    and :class:`Invalid` when the reply holds no JSON where ``mode`` expects it."""
    _check_refusal(resp)
    if mode == "tools":
        call = target_call(resp, target)
        if call is None:
            raise Invalid(f"the reply did not call the function {target.name}")
        return str(call.function.arguments)
    text = resp.message.text
    if not text.strip():
        raise Invalid("the reply is empty; a JSON object was expected")
    if mode == "md_json":
        return fenced(text)
    return text


def passes_through(resp: ChatResponse, request: ChatRequest, target: Target, mode: str) -> bool:
    """A reply calling the caller's own tools (a tool-loop round): returned unparsed."""
    if not resp.tool_calls or not request.tools:
        return False
    if mode == "tools":
        return target_call(resp, target) is None
    return True


def _feedback(errors: str, resp: ChatResponse) -> str:
    cut = " (it was cut off at max_tokens)" if resp.finish_reason == "length" else ""
    return f"The reply{cut} does not match the required format: {errors}"


def reask(
    request: ChatRequest, resp: ChatResponse, errors: str, target: Target, mode: str
) -> ChatRequest:
    """The next request: ``request``'s messages, the model's reply, and the errors."""
    if mode == "tools":
        calls = resp.tool_calls
        if calls:
            note = _feedback(errors, resp) + f". Call {target.name} again with corrected arguments."
            answers = tuple(
                Message(
                    "tool",
                    note if c.function.name == target.name else f"Not run: call {target.name}.",
                    tool_call_id=c.id,
                )
                for c in calls
            )
            reply = Message("assistant", resp.message.content, tool_calls=calls)
            msgs = (*request.messages, reply, *answers)
        else:
            text = f"{_feedback(errors, resp)}. Call the function {target.name}."
            msgs = (
                *request.messages,
                Message("assistant", resp.message.text),
                Message("user", text),
            )
        return attrs.evolve(request, messages=msgs, tool_choice=_tool_choice(target))
    text = f"{_feedback(errors, resp)}. Reply again with the corrected JSON only."
    msgs = (*request.messages, Message("assistant", resp.message.text), Message("user", text))
    return attrs.evolve(request, messages=msgs)
