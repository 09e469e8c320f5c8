"""``dumps_body`` (orjson, the standard encoder behind it) against the SDK's serializer,
``openai._utils._json.openapi_dumps``: the same bytes for chat bodies, the same JSON value
for any body, the same error for a body the SDK refuses."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai._utils._json import openapi_dumps

from modelbus_openai._aio import dumps_body

CHAT = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": 'héllo \u2028 "q" \\ \n\t\x01 \x7f 😀'},
    ],
    "temperature": 0.2,
    "max_tokens": 100,
    "stop": ["x"],
    "logit_bias": {"50256": -100},
    "response_format": {"type": "json_schema", "json_schema": {"strict": True}},
}


def test_a_chat_body_is_the_sdks_bytes() -> None:
    assert dumps_body(CHAT) == openapi_dumps(CHAT)


def test_a_null_goes_to_the_standard_encoder_and_is_the_sdks_bytes() -> None:
    body = {**CHAT, "messages": [{"role": "assistant", "content": None, "tool_calls": []}]}
    assert dumps_body(body) == openapi_dumps(body)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_raise_as_the_sdk_does(bad: float) -> None:
    body = {**CHAT, "temperature": bad}
    with pytest.raises(ValueError, match="Out of range float"):
        openapi_dumps(body)
    with pytest.raises(ValueError, match="Out of range float"):
        dumps_body(body)


@pytest.mark.parametrize(
    "extra",
    [
        {"seed": 2**70},  # past 64 bits: orjson refuses, the standard encoder writes it
        {"logit_bias": {1: 5}},  # a non-str key: written as "1"
        {"metadata": {"k": "\ud800"}},  # a lone surrogate: UnicodeEncodeError
        {"extra": {1, 2}},  # not JSON at all: TypeError
    ],
)
def test_what_orjson_refuses_comes_out_as_from_the_sdk(extra: dict[str, Any]) -> None:
    body = {**CHAT, **extra}
    try:
        expected: Any = openapi_dumps(body)
    except Exception as exc:  # the same error type
        with pytest.raises(type(exc)):
            dumps_body(body)
    else:
        assert dumps_body(body) == expected


def test_a_floats_exponent_is_the_same_number() -> None:
    body = {"top_p": 1e-05, "x": 1e300, "y": -2.5e-10}
    assert json.loads(dumps_body(body)) == json.loads(openapi_dumps(body))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), JSON, max_size=6))
def test_any_body_is_the_same_json_or_the_same_error(body: dict[str, Any]) -> None:
    try:
        expected = openapi_dumps(body)
    except Exception as exc:
        with pytest.raises(type(exc)):
            dumps_body(body)
        return
    got = dumps_body(body)
    assert json.loads(got) == json.loads(expected)
    if not any("e" in repr(f) for f in _floats(body)):
        assert got == expected  # no float written with an exponent: the very same bytes


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [f for v in value for f in _floats(v)]
    return []
