"""Prompt-based function calling, for servers or models without native ``tools``.

The long-standing technique of local-LLM wrappers (LangChain's ``OllamaFunctions``,
llama-cpp-python's ``chatml-function-calling`` handler, LocalAI's grammar functions):
describe the tools in the system prompt, ask for a JSON reply, read the tool calls out
of it. Three parts:

- :func:`prompt_request` rewrites a :class:`ChatRequest` with ``tools``: the tool specs
  and the reply format go into the system prompt; earlier assistant ``tool_calls`` and
  ``role: "tool"`` results become plain text turns (many chat templates reject a
  ``tool`` role or ``tool_calls`` they do not know); ``tools``, ``tool_choice`` and
  ``parallel_tool_calls`` are removed from the request.
- :func:`reply_schema` is the JSON Schema of a valid reply, sent as a constraint where the
  server supports one (llama.cpp grammars, Ollama/vLLM/LM Studio structured output), so
  the reply is well-formed even from a model that would never write JSON by itself.
- :func:`parse_tool_reply` reads a reply back into tool calls. It never raises: a reply
  that is not a valid call of a known tool is returned as text.

Reply format (``tool_choice`` ``"auto"`` allows both shapes; ``"required"`` or a named
function only the first)::

    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
    {"content": "the answer in plain text"}
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from attrs import frozen

from modelbus.plugin import ChatRequest, FunctionCall, Message, ToolCall, ToolSpec

__all__ = [
    "ParsedReply",
    "has_tool_turns",
    "new_call_id",
    "parse_tool_reply",
    "prompt_request",
    "repeated_calls",
    "reply_schema",
    "tool_choice_names",
]

# Keys models (and other wrappers' formats) use for the name and the arguments of a call.
_NAME_KEYS = ("name", "function", "tool", "tool_name")
_ARGS_KEYS = ("arguments", "parameters", "args", "tool_input", "input")
_RESULT = "Tool result"
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


def new_call_id() -> str:
    """A fresh tool call id in OpenAI's shape: ``call_`` and 24 hex digits."""
    return "call_" + uuid.uuid4().hex[:24]


def has_tool_turns(messages: Sequence[Message]) -> bool:
    """True when ``messages`` hold an assistant turn with ``tool_calls`` or a ``tool``
    result (prompt mode rewrites them as text even in a request without ``tools``)."""
    return any(m.role == "tool" or m.tool_calls for m in messages)


def _same_call(tc: ToolCall) -> tuple[str, str]:
    try:
        args = json.dumps(json.loads(tc.function.arguments or "{}"), sort_keys=True)
    except (ValueError, RecursionError):  # (nested deeper than the decoder goes)
        args = tc.function.arguments
    return tc.function.name, args


def repeated_calls(calls: Sequence[ToolCall], messages: Sequence[Message]) -> bool:
    """True when ``calls`` is not empty and each repeats, with equal arguments (as JSON),
    a call made in ``messages`` whose ``tool`` result is already there: small models in
    prompt mode tend to call a tool again and again instead of answering from its
    result (SmolLM2-135M does at temperature 0, whatever the prompt says)."""
    answered = {m.tool_call_id for m in messages if m.role == "tool"}
    made = {
        _same_call(tc)
        for m in messages
        if m.role == "assistant"
        for tc in m.tool_calls or ()
        if tc.id in answered
    }
    return bool(calls) and all(_same_call(c) in made for c in calls)


def tool_choice_names(tools: Sequence[ToolSpec], tool_choice: Any) -> tuple[list[str], bool]:
    """The tools the reply may call and whether it must call one, for ``tool_choice``
    (``None``/``"auto"``: any tool or none; ``"required"``: any tool, at least one;
    ``{"type": "function", "function": {"name": N}}``: tool N; ``"none"``: no tool).
    Raises ``ValueError`` for a named function that is not in ``tools``."""
    names = [t.function.name for t in tools]
    if tool_choice is None or tool_choice == "auto":
        return names, False
    if tool_choice == "none":
        return [], False
    if tool_choice == "required":
        return names, True
    if isinstance(tool_choice, Mapping):
        fn = tool_choice.get("function") or {}
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if name not in names:
            raise ValueError(f"tool_choice names function {name!r}, which is not in tools {names}")
        return [str(name)], True
    raise ValueError(
        f"tool_choice must be 'auto', 'none', 'required' or a function, got {tool_choice!r}"
    )


def reply_schema(
    tools: Sequence[ToolSpec], names: Sequence[str], required: bool, parallel: bool = True
) -> dict[str, Any]:
    """The JSON Schema of a valid reply calling ``names`` (a subset of ``tools``): an
    object with ``tool_calls`` (at least one; at most one unless ``parallel``), each
    ``{"name": <one of names>, "arguments": <that tool's parameters schema>}``; unless
    ``required``, alternatively ``{"content": <string>}``."""
    by_name = {t.function.name: t for t in tools}
    calls = []
    for n in names:
        params = dict(by_name[n].function.parameters) or {"type": "object"}
        calls.append(
            {
                "type": "object",
                "properties": {"name": {"const": n}, "arguments": params},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    array: dict[str, Any] = {
        "type": "array",
        "items": calls[0] if len(calls) == 1 else {"anyOf": calls},
        "minItems": 1,
    }
    if not parallel:
        array["maxItems"] = 1
    call_shape = {
        "type": "object",
        "properties": {"tool_calls": array},
        "required": ["tool_calls"],
        "additionalProperties": False,
    }
    if required:
        return call_shape
    text_shape = {
        "type": "object",
        "properties": {"content": {"type": "string"}},
        "required": ["content"],
        "additionalProperties": False,
    }
    return {"anyOf": [call_shape, text_shape]}


def _system_text(tools: Sequence[ToolSpec], names: Sequence[str], required: bool) -> str:
    specs = []
    for t in tools:
        if t.function.name not in names:
            continue
        spec: dict[str, Any] = {"name": t.function.name}
        if t.function.description:
            spec["description"] = t.function.description
        spec["parameters"] = dict(t.function.parameters) or {"type": "object"}
        specs.append(spec)
    lines = [
        "You can call these tools (JSON Schema of each tool's arguments):",
        json.dumps(specs, ensure_ascii=False),
        "",
        "To call tools, reply with only this JSON object and nothing else:",
        '{"tool_calls": [{"name": "<tool name>", "arguments": {<arguments>}}]}',
    ]
    if required:
        which = f"the tool {names[0]!r}" if len(names) == 1 else "at least one tool"
        lines.append(f"You must call {which}.")
    else:
        lines += [
            "To answer without calling a tool, reply with only this JSON object:",
            '{"content": "<your answer>"}',
        ]
    lines.append(f"Tool results come back in a message starting with {_RESULT!r}.")
    return "\n".join(lines)


def _call_text(tc: ToolCall) -> dict[str, Any]:
    try:
        args: Any = json.loads(tc.function.arguments or "{}")
    except (ValueError, RecursionError):
        args = tc.function.arguments
    return {"name": tc.function.name, "arguments": args}


def _rewrite_messages(messages: Sequence[Message], system: str | None) -> tuple[Message, ...]:
    """The conversation with tool turns as text and ``system`` (when given) added to the
    system prompt; consecutive tool results are merged into one user turn (templates that
    require alternating user/assistant turns would reject two in a row)."""
    names: dict[str, str] = {}
    out: list[Message] = []
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            for tc in m.tool_calls:
                names[tc.id] = tc.function.name
            reply = {"tool_calls": [_call_text(tc) for tc in m.tool_calls]}
            out.append(Message("assistant", json.dumps(reply, ensure_ascii=False)))
        elif m.role == "tool":
            name = names.get(m.tool_call_id or "", "?")
            text = f"{_RESULT} of {name} (call {m.tool_call_id}):\n{m.text}"
            if out and out[-1].role == "user" and out[-1].text.startswith(_RESULT):
                text = f"{out[-1].text}\n\n{text}"
                out.pop()
            out.append(Message("user", text))
        else:
            out.append(m)
    if system is None:
        return tuple(out)
    if out and out[0].role in ("system", "developer"):
        first = out[0]
        out[0] = attrs.evolve(first, content=f"{first.text}\n\n{system}" if first.text else system)
    else:
        out.insert(0, Message("system", system))
    return tuple(out)


def prompt_request(
    req: ChatRequest, constraint: Callable[[dict[str, Any]], Mapping[str, Any]] | None
) -> ChatRequest:
    """``req`` rewritten for prompt-based function calling: earlier tool turns as text,
    and unless ``tool_choice`` is ``"none"`` (or there are no ``tools``), the tools and
    reply format in the system prompt.

    ``constraint(schema)`` gives the request fields that constrain the reply to
    :func:`reply_schema` on this server (e.g. ``{"response_format": {...}}``; an
    ``extra_body`` entry is merged into the request's), or ``constraint`` is ``None``
    for a server without one. Raises ``ValueError`` for a ``tool_choice`` naming an
    unknown function."""
    tools = req.tools or ()
    names, required = tool_choice_names(tools, req.tool_choice) if tools else ([], False)
    system = _system_text(tools, names, required) if names else None
    out = attrs.evolve(
        req,
        messages=_rewrite_messages(req.messages, system),
        tools=None,
        tool_choice=None,
        parallel_tool_calls=None,
    )
    if not names or constraint is None:
        return out
    schema = reply_schema(tools, names, required, parallel=req.parallel_tool_calls is not False)
    fields = dict(constraint(schema))
    extra = fields.pop("extra_body", None)
    if extra:
        out = attrs.evolve(out, extra_body={**(out.extra_body or {}), **extra})
    return attrs.evolve(out, **fields)


@frozen
class ParsedReply:
    """A prompt-mode reply read back: ``content`` (text, or ``None`` when the reply is
    only tool calls) and ``tool_calls``."""

    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()


def _json_values(text: str) -> list[Any]:
    """The JSON objects/arrays in ``text``: inside code fences first, then anywhere,
    scanning from each ``{``/``[`` with a raw decoder (models wrap JSON in prose)."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    sources = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for src in sources:
        i = 0
        while i < len(src):
            if src[i] in "{[":
                try:
                    value, end = decoder.raw_decode(src, i)
                except ValueError:
                    i += 1
                    continue
                except RecursionError:  # nested deeper than the decoder goes: a model
                    # stuck repeating "[[[[", skipped as a whole (from each of its
                    # brackets the decoder would go as deep again)
                    while i < len(src) and src[i] in "{[":
                        i += 1
                    continue
                found.append(value)
                i = end
            else:
                i += 1
        if found:
            return found
    return found


def _one_call(item: Any, known: set[str], new_id: Callable[[], str]) -> ToolCall | None:
    if not isinstance(item, Mapping):
        return None
    if isinstance(item.get("function"), Mapping):  # OpenAI's own shape
        return _one_call(item["function"], known, new_id)
    name = next((item[k] for k in _NAME_KEYS if isinstance(item.get(k), str)), None)
    if name not in known:
        return None
    args: Any = next((item[k] for k in _ARGS_KEYS if k in item), {})
    if isinstance(args, str):  # arguments already encoded, as OpenAI sends them
        try:
            decoded = json.loads(args) if args.strip() else {}
        except (ValueError, RecursionError):
            return None
        args = decoded
    if not isinstance(args, Mapping):
        return None
    text = json.dumps(args, ensure_ascii=False)
    call_id = item.get("id") if isinstance(item.get("id"), str) and item.get("id") else new_id()
    return ToolCall(str(call_id), FunctionCall(str(name), text))


def _calls(value: Any, known: set[str], new_id: Callable[[], str]) -> tuple[ToolCall, ...]:
    if isinstance(value, Mapping):
        items = value.get("tool_calls")
        if items is None:
            items = [value]
    else:
        items = value
    if not isinstance(items, list) or not items:
        return ()
    calls = [_one_call(i, known, new_id) for i in items]
    if any(c is None for c in calls):
        return ()  # one bad call makes the reply text: half a plan is worse than none
    return tuple(c for c in calls if c is not None)


def parse_tool_reply(
    text: str | None, tools: Sequence[ToolSpec], new_id: Callable[[], str] = new_call_id
) -> ParsedReply:
    """Read a prompt-mode reply: the first JSON value in ``text`` (code fences and prose
    around it are tolerated) that is ``{"tool_calls": [...]}``, a single call
    ``{"name": ..., "arguments": ...}`` (also ``function``/``tool`` for the name and
    ``parameters``/``args``/``tool_input``/``input`` for the arguments, or OpenAI's
    ``{"function": {...}}``) or a list of calls, where every call names a tool in
    ``tools`` and its arguments are a JSON object (or a string encoding one). Calls get
    ids from ``new_id`` unless they carry one. ``{"content": "..."}`` gives that text.
    Anything else — no JSON, truncated JSON, an unknown tool, arguments that are not an
    object — gives the whole ``text`` as content and no tool calls. Never raises."""
    if not text:
        return ParsedReply(text)
    known = {t.function.name for t in tools}
    for value in _json_values(text):
        calls = _calls(value, known, new_id)
        if calls:
            return ParsedReply(None, calls)
        if isinstance(value, Mapping) and set(value) == {"content"}:
            content = value["content"]
            if isinstance(content, str):
                return ParsedReply(content)
    return ParsedReply(text)
