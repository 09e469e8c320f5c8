"""The wire helpers of ``modelbus.plugin``: errors from HTTP answers (OpenAI- and
Anthropic-shaped bodies, streams' error events), retry hints from headers (RFC 9110
§10.2.3), and the server-sent-events decoder (WHATWG HTML §9.2.6) under any chunking."""

from __future__ import annotations

import asyncio
import itertools
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelbus.plugin import (
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
    ServerSentEvent,
    SSEDecoder,
    aiter_sse,
    decode_body,
    error_from_http,
    iter_sse,
    read_http_error,
    request_id_from,
    retry_after_seconds,
    should_retry_header,
)

ANTHROPIC_429 = {
    "type": "error",
    "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded"},
}


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (408, APITimeoutError),
        (409, ServerError),
        (418, ProviderError),
        (422, BadRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (529, ServerError),  # Anthropic's "overloaded"
    ],
)
def test_the_class_comes_from_the_status(status: int, cls: type[ProviderError]) -> None:
    err = error_from_http(status, {}, "", provider="p")
    assert type(err) is cls and err.status_code == status and err.provider == "p"
    assert str(err).startswith(f"p {status}: HTTP {status}")


def test_an_anthropic_429_keeps_every_field() -> None:
    headers = {"Retry-After": "7", "request-id": "req_011", "X-Should-Retry": "true"}
    err = error_from_http(429, headers, ANTHROPIC_429, provider="messages")
    assert isinstance(err, RateLimitError) and err.retryable
    assert (err.retry_after_s, err.request_id, err.should_retry) == (7.0, "req_011", True)
    assert err.code == "rate_limit_error" and err.message.startswith("Number of requests")
    assert err.body == ANTHROPIC_429


def test_an_openai_body_gives_code_and_param() -> None:
    body = {"error": {"message": "bad", "type": "invalid_request_error", "param": "temperature",
                      "code": "unsupported_value"}}  # fmt: skip
    info = read_http_error(400, {"x-request-id": "req_1"}, body)
    assert (info.code, info.type, info.param, info.request_id) == (
        "unsupported_value", "invalid_request_error", "temperature", "req_1"
    )  # fmt: skip
    assert error_from_http(400, None, body, provider="p", hint="drop it").hint == "drop it"


@pytest.mark.parametrize(
    ("etype", "cls"),
    [
        ("overloaded_error", ServerError),
        ("api_error", ServerError),
        ("server_error", ServerError),
        ("rate_limit_error", RateLimitError),
        ("invalid_request_error", BadRequestError),
        ("something_new", ProviderError),
    ],
)
def test_without_a_status_the_error_type_decides(etype: str, cls: type[ProviderError]) -> None:
    """An ``error`` event after a stream's 200 has no status of its own."""
    body = {"type": "error", "error": {"type": etype, "message": "mid-stream"}}
    err = error_from_http(None, {"request-id": "r"}, body, provider="p")
    assert type(err) is cls and err.status_code is None and err.request_id == "r"


def test_a_status_inside_the_error_object_is_used_without_an_http_one() -> None:
    err = error_from_http(None, None, {"error": {"status": 503, "message": "x"}}, provider="p")
    assert isinstance(err, ServerError) and err.status_code == 503


def test_bodies_that_are_not_json_or_empty() -> None:
    assert decode_body(b"") == "" and decode_body(b'{"a": 1}') == {"a": 1}
    assert decode_body(b"<html>502 Bad Gateway</html>") == "<html>502 Bad Gateway</html>"
    err = error_from_http(502, {}, decode_body(b"<html>"), provider="p", message="gateway")
    assert isinstance(err, ServerError) and err.message == "gateway" and err.body == "<html>"


def test_request_id_headers_are_tried_in_order_and_any_case() -> None:
    assert request_id_from({"Request-Id": "b", "APIM-Request-Id": "c"}) == "b"
    assert request_id_from({"apim-request-id": "c", "X-Request-ID": "a"}) == "a"
    assert request_id_from({"cf-ray": "z"}, ("cf-ray",)) == "z"
    assert request_id_from(None) is None and request_id_from({"x-request-id": ""}) is None


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": " 1.5 "}, 1.5),
        ({"Retry-After": formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": formatdate(NOW - 30, usegmt=True)}, 0.0),  # a past date: now
        ({"retry-after-ms": "250", "Retry-After": "7"}, 0.25),  # ms wins
        ({"retry-after-ms": "soon", "Retry-After": "7"}, 7.0),  # malformed ms: ignored
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "tomorrow"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers, now=lambda: NOW) == seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("FALSE", False), (" true ", True), ("maybe", None), (None, None)],
)
def test_x_should_retry(value: str | None, expected: bool | None) -> None:
    headers = {} if value is None else {"X-Should-Retry": value}
    assert should_retry_header(headers) is expected


# --- server-sent events ----------------------------------------------------------------
STREAM = (
    b"\xef\xbb\xbf: a comment\r\n"
    b"event: message_start\r\n"
    b'data: {"type":"message_start"}\r\n'
    b"\r\n"
    b"data: first\n"
    b"data:second\n"
    b"id: 42\n"
    b"retry: 1500\n"
    b"unknown: field\n"
    b"\n"
    b"event: ping\r"
    b"\r"
    b"data\r"
    b"\r"
    b"event: content_block_delta\n"
    b"data: caf\xc3\xa9\n"
    b"\n"
    b"data: never dispatched"
)
EXPECTED = [
    ServerSentEvent("message_start", '{"type":"message_start"}'),
    ServerSentEvent("message", "first\nsecond", "42", 1500),
    ServerSentEvent("message", "", "42", 1500),  # "data" alone: an empty data line
    ServerSentEvent("content_block_delta", "café", "42", 1500),
]


def test_the_whatwg_rules() -> None:
    dec = SSEDecoder()
    events = list(iter_sse([STREAM], dec))
    assert events == EXPECTED
    assert events[0].json() == {"type": "message_start"}
    assert dec.pending  # the stream ended inside an event


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert list(iter_sse(chunks)) == EXPECTED


def test_byte_by_byte_and_a_final_lone_cr() -> None:
    body = b"data: x\r\r"
    assert list(iter_sse(body[i : i + 1] for i in range(len(body)))) == [ServerSentEvent(data="x")]
    dec = SSEDecoder()
    assert dec.feed(b"data: y\n\r") == [] and dec.close() == [ServerSentEvent(data="y")]
    assert not dec.pending


def test_the_async_driver() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for i in range(0, len(STREAM), 5):
            yield STREAM[i : i + 5]

    async def collect() -> list[ServerSentEvent]:
        return [e async for e in aiter_sse(chunks())]

    assert asyncio.run(collect()) == EXPECTED
