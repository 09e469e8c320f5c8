"""The cache key recipe (core/modelbus/_cache_key.py): the fast function equals the plain
recipe, and the key changes exactly when something that changes the output changes."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelbus import ChatRequest, FunctionSpec, Message, ToolSpec
from modelbus._caching.key import KEY_VERSION, cache_key, canonical_json, key_document
from modelbus._routing.resolve import build_messages, build_request
from modelbus.testing.strategies import chat_requests

IDENT = {"provider": "openai", "endpoint": "https://api.openai.com/v1", "namespace": "app"}


def reference(req: ChatRequest, **ident: str) -> str:
    return hashlib.sha256(canonical_json(key_document(req, **ident)).encode()).hexdigest()


_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_extras = st.fixed_dictionaries(
    {},
    optional={
        "stop": st.text(max_size=5),
        "n": st.integers(1, 4),
        "user": st.text(max_size=8),
        "stream": st.booleans(),
        "logprobs": st.booleans(),
        "top_logprobs": st.integers(0, 5),
        "presence_penalty": st.floats(-2, 2),
        "frequency_penalty": st.sampled_from([0.0, -0.0, 1.0, 0.5]),
        "logit_bias": st.dictionaries(
            st.integers(0, 100_000).map(str), st.floats(-100, 100), max_size=3
        ),
        "tool_choice": st.one_of(
            st.sampled_from(["auto", "none", "required"]),
            st.just({"type": "function", "function": {"name": "f"}}),
        ),
        "parallel_tool_calls": st.booleans(),
        "response_format": st.one_of(
            st.just({"type": "json_object"}),
            st.builds(
                lambda s: {"type": "json_schema", "json_schema": {"name": "x", "schema": s}}, _json
            ),
        ),
        "reasoning_effort": st.sampled_from(["low", "high"]),
        "max_completion_tokens": st.integers(1, 1000),
        "extra_body": st.dictionaries(
            st.sampled_from(
                [
                    "top_k",
                    "grammar",
                    "temperature",
                    "stream",
                    "user",
                    "stop",
                    "min_p",
                    "cache_prompt",
                ]
            ),
            _json,
            max_size=3,
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(chat_requests(), _extras, st.text(max_size=10), st.text(max_size=10))
def test_fast_key_equals_the_plain_recipe(
    req: ChatRequest, extras: dict[str, Any], provider: str, endpoint: str
) -> None:
    req = attrs.evolve(req, **extras)
    ident = {"provider": provider, "endpoint": endpoint, "namespace": "ns"}
    assert cache_key(req, **ident) == reference(req, **ident)


def test_the_recipe_spelled_out() -> None:
    req = ChatRequest(
        model="gpt-4o-mini",
        messages=(Message("user", "Hi \u00e9"),),
        temperature=1.0,
        max_tokens=100,
        stop="END",
        stream=True,
        user="u-1",
    )
    text = canonical_json(key_document(req, **IDENT))
    assert text == (
        '{"endpoint":"https://api.openai.com/v1","ns":"app","provider":"openai",'
        '"request":{"max_tokens":100,"messages":[{"content":"Hi \u00e9","role":"user"}],'
        '"model":"gpt-4o-mini","stop":["END"],"temperature":1},"v":1}'
    )
    key = cache_key(req, **IDENT)
    assert key == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert len(key) == 64 and set(key) <= set("0123456789abcdef") and KEY_VERSION == 1


@settings(max_examples=100, deadline=None)
@given(
    st.permutations(
        ["temperature", "top_p", "max_tokens", "seed", "response_format", "logit_bias", "tools"]
    ),
    st.randoms(),
)
def test_argument_and_mapping_order_do_not_matter(order: list[str], rnd: random.Random) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "number", "minimum": 1.5}, "b": {"type": "string"}},
        "required": ["a"],
    }

    def shuffled(d: dict[str, Any]) -> dict[str, Any]:
        items = list(d.items())
        rnd.shuffle(items)
        return {k: shuffled(v) if isinstance(v, dict) else v for k, v in items}

    params: dict[str, Any] = {
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 50,
        "seed": 3,
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
        "logit_bias": {"50256": -100, "11": 2.5},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
    }
    msgs = build_messages("hello", system="be brief")
    base = cache_key(build_request(msgs, "m", params), **IDENT)
    permuted = {k: shuffled(params[k]) if isinstance(params[k], dict) else params[k] for k in order}
    assert cache_key(build_request(msgs, "m", permuted), **IDENT) == base


def _req(**params: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", "q"),), **params)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"temperature": 1}, {"temperature": 1.0}),
        ({"temperature": 0.0}, {"temperature": -0.0}),
        ({"max_tokens": 100}, {"max_tokens": 100.0}),
        ({"logit_bias": {"5": -100}}, {"logit_bias": {"5": -100.0}}),
        ({"extra_body": {"top_k": 40}}, {"extra_body": {"top_k": 40.0}}),
        ({"stop": "END"}, {"stop": ("END",)}),
        ({}, {"stream": True}),
        ({}, {"user": "end-user-42"}),
        ({}, {"extra_body": {"stream_options": {"include_usage": True}}}),
    ],
)
def test_same_output_same_key(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert cache_key(_req(**a), **IDENT) == cache_key(_req(**b), **IDENT)


# One changed value per ChatRequest field: a field added later without an entry here
# fails test_every_output_parameter_is_in_the_key, so the key cannot silently miss it.
CHANGES: dict[str, tuple[Any, Any]] = {
    "model": ("m", "m2"),
    "messages": ((Message("user", "q"),), (Message("user", "q2"),)),
    "temperature": (0.1, 0.10000000000000002),
    "top_p": (0.5, 0.6),
    "max_tokens": (10, 11),
    "max_completion_tokens": (10, 11),
    "stop": ("a", "b"),
    "seed": (1, 2),
    "n": (1, 2),
    "tools": ((ToolSpec(FunctionSpec("f")),), (ToolSpec(FunctionSpec("g")),)),
    "tool_choice": ("auto", "required"),
    "parallel_tool_calls": (True, False),
    "response_format": ({"type": "text"}, {"type": "json_object"}),
    "logit_bias": ({"1": 1}, {"1": 2}),
    "presence_penalty": (0.0, 0.5),
    "frequency_penalty": (0.0, 0.5),
    "logprobs": (True, False),
    "top_logprobs": (1, 2),
    "reasoning_effort": ("low", "high"),
    "verbosity": ("low", "high"),
    "modalities": (("text",), ("text", "audio")),
    "prediction": (
        {"type": "content", "content": "a"},
        {"type": "content", "content": "b"},
    ),
    "web_search_options": ({"search_context_size": "low"}, {"search_context_size": "high"}),
    "extra_body": ({"top_k": 1}, {"top_k": 2}),
}
# Billing, storage and tracking: the same reply whatever their value.
NOT_OUTPUT_CHANGES = {
    "user": ("u1", "u2"),
    "service_tier": ("flex", "priority"),
    "prompt_cache_key": ("k1", "k2"),
    "store": (True, False),
    "metadata": ({"app": "a"}, {"app": "b"}),
    "safety_identifier": ("s1", "s2"),
}
NOT_OUTPUT = {"stream", *NOT_OUTPUT_CHANGES}


def test_parameters_that_do_not_change_the_reply_share_a_key() -> None:
    base = {"model": "m", "messages": (Message("user", "q"),)}
    plain = cache_key(ChatRequest(**base), **IDENT)
    for name, (x, y) in NOT_OUTPUT_CHANGES.items():
        assert cache_key(ChatRequest(**{**base, name: x}), **IDENT) == plain, name
        assert cache_key(ChatRequest(**{**base, name: y}), **IDENT) == plain, name


def test_every_output_parameter_is_in_the_key() -> None:
    fields = {a.name for a in attrs.fields(ChatRequest)} - NOT_OUTPUT
    assert fields == set(CHANGES), "add the new ChatRequest field to CHANGES"
    for name, (x, y) in CHANGES.items():
        base = {"model": "m", "messages": (Message("user", "q"),)}
        a = ChatRequest(**{**base, name: x})
        b = ChatRequest(**{**base, name: y})
        assert cache_key(a, **IDENT) != cache_key(b, **IDENT), name


def test_identity_and_message_order_are_in_the_key() -> None:
    req = _req()
    keys = {cache_key(req, **IDENT)}
    for k, v in (
        ("provider", "azure"),
        ("endpoint", "https://x.openai.azure.com|gpt4|2024"),
        ("namespace", "other-app"),
    ):
        keys.add(cache_key(req, **{**IDENT, k: v}))
    two = (Message("system", "a"), Message("user", "b"))
    keys.add(cache_key(ChatRequest(model="m", messages=two), **IDENT))
    keys.add(cache_key(ChatRequest(model="m", messages=two[::-1]), **IDENT))
    assert len(keys) == 6


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="not a JSON number"):
        cache_key(_req(temperature=bad), **IDENT)
    with pytest.raises(ValueError, match="not a JSON number"):
        cache_key(_req(extra_body={"x": [bad]}), **IDENT)
