"""The cache key's fast path (``modelbus._caching.key.cache_key``) against the plain recipe
on one hand-picked request per branch (each parameter type, each message shape,
``extra_body``), and the canonical JSON written out: fast, explicit examples next to the
property tests of ``test_cache_key.py``."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from modelbus import ChatRequest, FunctionCall, FunctionSpec, Message, TextPart, ToolCall, ToolSpec
from modelbus._caching.key import cache_key, canonical_json, key_document

IDENT = {"provider": "openai", "endpoint": "https://api.openai.com/v1", "namespace": "app"}
Q = (Message("user", "q"),)


def reference(req: ChatRequest) -> str:
    return hashlib.sha256(canonical_json(key_document(req, **IDENT)).encode()).hexdigest()


def req(**kw: Any) -> ChatRequest:
    return ChatRequest(**{"model": "m", "messages": Q, **kw})


def test_canonical_json_written_out() -> None:
    doc = {"b": 1.0, "a": -0.0, 5: [0.1, 1e-07, 2.5], "c": True, "d": None, "\u00e9": "\u00e9"}
    assert canonical_json(doc) == (
        '{"5":[0.1,1e-07,2.5],"a":0,"b":1,"c":true,"d":null,"\u00e9":"\u00e9"}'
    )
    assert canonical_json((1, "x", [2.0])) == '[1,"x",[2]]'
    assert canonical_json(3) == "3" and canonical_json(3.5) == "3.5"


def test_the_document_drops_what_does_not_change_the_reply() -> None:
    r = req(stream=True, user="u", service_tier="flex", prompt_cache_key="p", store=True,
            metadata={"a": "b"}, safety_identifier="s", stop="END", seed=3)  # fmt: skip
    assert key_document(r, **IDENT) == {
        "v": 1, "ns": "app", "provider": "openai", "endpoint": "https://api.openai.com/v1",
        "request": {"model": "m", "messages": [{"role": "user", "content": "q"}],
                    "stop": ["END"], "seed": 3},
    }  # fmt: skip
    assert cache_key(r, **IDENT) == cache_key(req(stop=("END",), seed=3), **IDENT)


@pytest.mark.parametrize(
    "kw",
    [
        {"temperature": 1.0},
        {"temperature": 0.7},
        {"temperature": -0.0},
        {"top_p": 1},
        {"max_tokens": 10},
        {"stop": "END"},
        {"stop": ("a", "b")},
        {"seed": 0},
        {"parallel_tool_calls": True},
        {"logprobs": False},
        {"tool_choice": "auto"},
        {"tool_choice": {"type": "function", "function": {"name": "f"}}},
        {"logit_bias": {50256: -100.0, "7": 1.5}},
        {"response_format": {"type": "json_schema", "json_schema": {"strict": True}}},
        {"modalities": ("text",)},
        {"tools": (ToolSpec(FunctionSpec("f", "Does f.", {"type": "object"})),)},
        {"messages": (Message("user", "q", name="bob"),)},
        {"messages": (Message("user", (TextPart("a"), TextPart("b"))),)},
        {"messages": (Message("assistant", None,
                              tool_calls=(ToolCall("c1", FunctionCall("f", "{}")),)),
                      Message("tool", "42", tool_call_id="c1"))},
        {"messages": (Message("assistant", None, refusal="no"),)},
        {"messages": (Message("assistant", "let me look",
                              tool_calls=(ToolCall("c2", FunctionCall("g", "{}")),)),)},
        {"extra_body": {"top_k": 5, "user": "ignored", "stream": True}},
        {"extra_body": {"temperature": 0.5}, "temperature": 1.0},
        {"extra_body": {"a": "x", "stop": "S"}},
        {"extra_body": {"zz": [1.0, {"k": 2.0}], "aa": False}},
    ],
)  # fmt: skip
def test_the_fast_key_equals_the_recipe(kw: dict[str, Any]) -> None:
    r = req(**kw)
    assert cache_key(r, **IDENT) == reference(r)
    assert cache_key(r, **IDENT) != cache_key(req(), **IDENT)


def test_extra_body_overrides_a_field_as_on_the_wire() -> None:
    assert cache_key(req(temperature=1.0, extra_body={"temperature": 0.5}), **IDENT) == (
        cache_key(req(temperature=0.5), **IDENT)
    )
    assert cache_key(req(extra_body={"user": "x", "store": True}), **IDENT) == (
        cache_key(req(), **IDENT)
    )


def test_integral_floats_share_a_key_with_integers() -> None:
    assert cache_key(req(temperature=1.0), **IDENT) == cache_key(req(temperature=1), **IDENT)
    assert cache_key(req(temperature=-0.0), **IDENT) == cache_key(req(temperature=0), **IDENT)
    assert cache_key(req(temperature=0.5), **IDENT) != cache_key(req(temperature=1), **IDENT)
