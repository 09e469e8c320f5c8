"""Hypothesis strategies for chat messages and requests (``modelbus.testing.strategies``)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .._wire.types import (
    ChatRequest,
    FunctionCall,
    FunctionSpec,
    ImagePart,
    ImageURL,
    Message,
    TextPart,
    ToolCall,
    ToolSpec,
)

__all__ = ["chat_requests", "messages", "tool_specs"]

_text = st.text(st.characters(codec="utf-8"), max_size=200)
_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)


def _parts() -> st.SearchStrategy[tuple[Any, ...]]:
    part = st.one_of(
        st.builds(TextPart, _text),
        st.builds(
            ImagePart,
            st.builds(
                ImageURL,
                st.sampled_from(
                    ["https://example.com/a.png", "data:image/png;base64,iVBORw0KGgo="]
                ),
                st.sampled_from([None, "low", "high", "auto"]),
            ),
        ),
    )
    return st.lists(part, min_size=1, max_size=3).map(tuple)


def _tool_calls() -> st.SearchStrategy[tuple[ToolCall, ...]]:
    call = st.builds(
        ToolCall,
        _names.map(lambda n: "call_" + n),
        st.builds(FunctionCall, _names, st.just('{"x": 1}')),
    )
    return st.lists(call, min_size=1, max_size=3, unique_by=lambda c: c.id).map(tuple)


def messages(
    *, roles: tuple[str, ...] = ("system", "user", "assistant", "tool"), images: bool = True
) -> st.SearchStrategy[Message]:
    """Single messages of the given roles, in valid OpenAI shapes: user content as text or
    parts (images when ``images``), assistant text or tool calls, tool results with a
    ``tool_call_id``."""
    options = []
    if "system" in roles:
        options.append(st.builds(Message, st.just("system"), _text))
    if "user" in roles:
        content = st.one_of(_text, _parts()) if images else _text
        options.append(st.builds(Message, st.just("user"), content, st.one_of(st.none(), _names)))
    if "assistant" in roles:
        options.append(st.builds(Message, st.just("assistant"), _text))
        options.append(
            st.builds(Message, st.just("assistant"), st.none(), tool_calls=_tool_calls())
        )
    if "tool" in roles:
        options.append(
            st.builds(
                Message, st.just("tool"), _text, tool_call_id=_names.map(lambda n: "call_" + n)
            )
        )
    return st.one_of(*options)


def tool_specs() -> st.SearchStrategy[ToolSpec]:
    """Function tools with a small object schema."""
    params = st.fixed_dictionaries(
        {
            "type": st.just("object"),
            "properties": st.dictionaries(
                _names,
                st.sampled_from([{"type": "string"}, {"type": "integer"}, {"type": "boolean"}]),
                max_size=3,
            ),
        }
    )
    return st.builds(ToolSpec, st.builds(FunctionSpec, _names, st.one_of(st.none(), _text), params))


def chat_requests(*, model: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[ChatRequest]:
    """ChatRequests with 1-8 messages and a random subset of output-changing parameters."""
    return st.builds(
        ChatRequest,
        model=model or st.sampled_from(["gpt-4o-mini", "gpt-4o", "local-model"]),
        messages=st.lists(messages(), min_size=1, max_size=8).map(tuple),
        temperature=st.one_of(st.none(), st.floats(0, 2, allow_nan=False)),
        top_p=st.one_of(st.none(), st.floats(0, 1, allow_nan=False)),
        max_tokens=st.one_of(st.none(), st.integers(1, 4096)),
        seed=st.one_of(st.none(), st.integers(0, 2**31 - 1)),
        stop=st.one_of(st.none(), st.lists(_names, min_size=1, max_size=3).map(tuple)),
        tools=st.one_of(st.none(), st.lists(tool_specs(), min_size=1, max_size=2).map(tuple)),
    )
