"""Error mapping details: bodies from other OpenAI-compatible servers, hints, retry
waits stated in messages, and what an error message never contains."""

from __future__ import annotations

import json

import pytest

from modelbus import errors
from modelbus.testing.server import Reply, WireServer
from modelbus_openai import error_from_body
from modelbus_openai._errors import json_object, retry_after_from_message
from tests.plugins.openai.conftest import MakeClient


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Please try again in 20ms.", 0.02),
        ("Please try again in 1.5s. Visit ...", 1.5),
        ("Please try again in 6m0s.", 360.0),
        ("Please try again in 114h18m0s.", 411480.0),
        ("Rate limit is exceeded. Try again in 2 seconds.", 2.0),
        ("Please retry after 86400 seconds.", 86400.0),
        ("Request too large for gpt-4o", None),
    ],
)
def test_retry_after_from_message(message: str, seconds: float | None) -> None:
    got = retry_after_from_message(message)
    if seconds is None:
        assert got is None
    else:
        assert got == pytest.approx(seconds)


def test_context_length_from_a_vllm_style_message() -> None:
    """vLLM answers 400 with OpenAI's sentence but no code; the numbers are kept."""
    e = error_from_body(
        provider="local",
        status=400,
        headers={},
        body={
            "object": "error",
            "message": "This model's maximum context length is 4096 tokens. "
            "However, you requested 5000 tokens (4000 in the messages, 1000 in the completion).",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    )
    assert type(e) is errors.ContextLengthExceededError
    assert e.context_window == 4096 and e.prompt_tokens == 5000


def test_context_length_from_llama_cpp() -> None:
    e = error_from_body(
        provider="local",
        status=400,
        headers={},
        body={
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
            }
        },
    )
    assert type(e) is errors.ContextLengthExceededError


def test_context_length_numbers_from_the_openai_fixture() -> None:
    e = error_from_body(
        provider="openai",
        status=400,
        headers={"x-request-id": "req_1"},
        body={
            "error": {
                "message": "This model's maximum context length is 4097 tokens. "
                "However, your messages resulted in 4294 tokens. Please reduce "
                "the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    )
    assert (e.context_window, e.prompt_tokens, e.request_id) == (4097, 4294, "req_1")
    assert "truncate" in e.hint


def test_stream_error_event_without_status_is_classed_by_code() -> None:
    e = error_from_body(
        provider="openai",
        status=None,
        headers={},
        body={
            "error": {
                "message": "Rate limit reached",
                "type": "requests",
                "code": "rate_limit_exceeded",
            }
        },
    )
    assert type(e) is errors.RateLimitError and e.status_code is None


def test_hints_name_what_to_do() -> None:
    nf = error_from_body(
        provider="openai",
        status=404,
        headers={},
        body={"error": {"message": "The model `gpt-9` does not exist", "code": "model_not_found"}},
    )
    assert "model name" in nf.hint
    dep = error_from_body(
        provider="azure",
        status=404,
        headers={},
        body={
            "error": {
                "code": "DeploymentNotFound",
                "message": "The API deployment for this resource does not exist.",
            }
        },
    )
    assert "deployments" in dep.hint and type(dep) is errors.NotFoundError
    bad = error_from_body(
        provider="openai",
        status=400,
        headers={},
        body={
            "error": {
                "message": "Unsupported parameter",
                "param": "max_tokens",
                "code": "unsupported_parameter",
            }
        },
    )
    assert "'max_tokens'" in bad.hint


def test_html_error_page_keeps_the_text(srv: WireServer, make_client: MakeClient) -> None:
    """A gateway's HTML 502 is a ServerError whose body is the text."""
    srv.enqueue(
        Reply.raw("<html><body>502 Bad Gateway</body></html>", status=502, content_type="text/html")
    )
    with pytest.raises(errors.ServerError) as info:
        make_client(core={"retry_policy": "none"}).chat("hi", model="gpt-4o-mini")
    assert info.value.status_code == 502
    assert "502 Bad Gateway" in info.value.body


def test_error_text_never_contains_the_key(srv: WireServer, make_client: MakeClient) -> None:
    srv.enqueue(Reply.fixture("openai/error_401_invalid_api_key"))
    with pytest.raises(errors.AuthenticationError) as info:
        make_client(api_key="sk-live-secret-123").chat("hi", model="gpt-4o-mini")
    assert "sk-live-secret-123" not in str(info.value)
    assert "sk-live-secret-123" not in repr(info.value.body)
    assert info.value.request_id == "req_1963efc19b3b4865af98403581d580af"


def test_connection_refused(make_client: MakeClient) -> None:
    """Nothing listening: APIConnectionError naming the cause, retried, then RetryError."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(errors.RetryError) as info:
        client.chat("hi", model="gpt-4o-mini")
    assert all(isinstance(a.error, errors.APIConnectionError) for a in info.value.attempts)
    assert "ConnectError" in str(info.value.last_error)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": "c", "n": 1.5e3, "big": 123456789012345678901234567890, "e": "\\u00e9"}',
        b'\xef\xbb\xbf{"id": "bom"}',  # a UTF-8 BOM: jiter refuses it, json.loads not
        '{"id": "utf-16"}'.encode("utf-16"),
        b'{"id": "\\ud800 lone surrogate"}',
        b'{"a": NaN, "b": -Infinity, "a": 2}',
    ],
)
def test_a_2xx_body_decodes_as_json_loads_decodes_it(raw: bytes) -> None:
    """jiter decodes answers (the hot path); whatever it refuses goes to json.loads, so
    no body decodes differently than it did."""
    got = json_object("x", 200, {}, "the response", raw)
    assert repr(got) == repr(json.loads(raw))  # repr: nan != nan


_DEEP = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # past both parsers' depth


@pytest.mark.parametrize("raw", [b"", b"<html>502</html>", b'{"a": 1} x', b"[1, 2]", b'"s"', _DEEP])
def test_a_2xx_body_that_is_not_a_json_object_is_a_retryable_server_error(raw: bytes) -> None:
    with pytest.raises(errors.ServerError, match="the response is not valid JSON") as ei:
        json_object("x", 200, {"x-request-id": "req_1"}, "the response", raw)
    assert ei.value.retryable and ei.value.status_code == 200
    assert ei.value.request_id == "req_1"
