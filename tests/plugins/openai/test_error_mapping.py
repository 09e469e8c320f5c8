"""``error_from_body`` branch by branch: which class, which retry wait, which hint, for
each kind of OpenAI / Azure / llama.cpp / vLLM error answer (the bodies are the shapes
those servers send; the recorded ones are in ``test_errors.py`` and ``test_wire.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from modelbus import errors
from modelbus_openai._errors import error_from_body, invalid_body_error


def body(message: str = "boom", **fields: Any) -> dict[str, Any]:
    return {"error": {"message": message, **fields}}


def mapped(status: int | None, b: Any, headers: dict[str, str] | None = None) -> Any:
    return error_from_body(provider="openai", status=status, headers=headers or {}, body=b)


@pytest.mark.parametrize(
    ("status", "fields", "cls"),
    [
        (None, {"type": "server_error"}, errors.ServerError),
        (None, {"code": "server_error"}, errors.ServerError),
        (None, {"code": "rate_limit_exceeded"}, errors.RateLimitError),
        (None, {"code": "429"}, errors.RateLimitError),
        (None, {"code": "other"}, errors.ProviderError),
        (500, {}, errors.ServerError),
        (404, {}, errors.NotFoundError),
        (400, {}, errors.BadRequestError),
    ],
)
def test_the_class_by_status_then_by_code(status: int | None, fields: dict, cls: type) -> None:
    e = mapped(status, body(**fields))
    assert type(e) is cls
    assert e.status_code == status


def test_a_429_without_headers_waits_what_its_message_says() -> None:
    e = mapped(429, body("Rate limit reached. Please try again in 1.5s."))
    assert type(e) is errors.RateLimitError and e.retry_after_s == 1.5 and e.retryable
    e = mapped(None, body("Please try again in 2s.", code="rate_limit_exceeded"))
    assert e.retry_after_s == 2.0
    e = mapped(None, body("Please try again in 3s.", code="429"))
    assert e.retry_after_s == 3.0
    e = mapped(429, body("Please try again in 1.5s."), {"Retry-After": "7"})
    assert e.retry_after_s == 7.0  # the header wins
    assert mapped(500, body("Please try again in 1.5s.")).retry_after_s is None


@pytest.mark.parametrize(
    ("status", "fields"),
    [
        (400, {"code": "context_length_exceeded"}),
        (400, {"type": "exceed_context_size_error"}),
        (400, {}),
        (None, {}),
    ],
)
def test_context_length_with_its_numbers(status: int | None, fields: dict) -> None:
    msg = ("This model's maximum context length is 4097 tokens. However, your messages "
           "resulted in 4294 tokens.")  # fmt: skip
    e = mapped(status, body(msg, **fields))
    assert type(e) is errors.ContextLengthExceededError
    assert (e.context_window, e.prompt_tokens) == (4097, 4294)


def test_context_length_by_code_without_numbers_and_not_on_a_500() -> None:
    e = mapped(400, body("too long", code="context_length_exceeded"))
    assert type(e) is errors.ContextLengthExceededError
    assert (e.context_window, e.prompt_tokens) == (None, None)
    msg = "maximum context length is 10 tokens, you requested 20 tokens"
    assert type(mapped(500, body(msg))) is errors.ServerError
    assert mapped(400, body(msg)).prompt_tokens == 20


def test_content_filter_carries_the_categories() -> None:
    cats = {"hate": {"filtered": True, "severity": "high"}}
    e = mapped(400, body("filtered", code="content_filter",
                         innererror={"content_filter_result": cats}))  # fmt: skip
    assert type(e) is errors.ContentFilterError and e.categories == cats
    e = mapped(400, body("filtered", code="x", content_filter_result=cats,
                         innererror={"code": "ResponsibleAIPolicyViolation"}))  # fmt: skip
    assert type(e) is errors.ContentFilterError and e.categories == cats
    e = mapped(400, body("bad", innererror="not a mapping"))
    assert type(e) is errors.BadRequestError


@pytest.mark.parametrize("fields", [{"code": "insufficient_quota"}, {"type": "insufficient_quota"}])
def test_insufficient_quota_is_not_retryable(fields: dict) -> None:
    e = mapped(429, body("You exceeded your current quota", **fields))
    assert type(e) is errors.RateLimitError and e.retryable is False
    assert "out of credits" in e.hint


def test_a_request_too_large_is_not_retryable_and_other_429s_are() -> None:
    e = mapped(429, body("Request too large for gpt-4o on tokens per min (TPM)"))
    assert type(e) is errors.RateLimitError and e.retryable is False
    assert "over the tokens-per-minute limit" in e.hint
    assert mapped(429, body("Rate limit reached")).retryable is True
    assert mapped(400, body("Request too large")).retryable is False


@pytest.mark.parametrize("status", [300, 301, 307, 399])
def test_a_redirect_names_its_location_and_is_not_followed(status: int) -> None:
    e = mapped(status, body("moved"), {"LOCATION": "https://api.example.com/v1"})
    assert type(e) is errors.ProviderError and e.retryable is False
    assert e.message == "moved: the server redirected to https://api.example.com/v1"
    assert "set base_url to the final URL (https://api.example.com/v1)" in e.hint
    e = mapped(status, body("moved"))
    assert e.message == "moved: the server redirected to (no Location header)"


def test_statuses_next_to_the_redirect_range_are_not_redirects() -> None:
    assert "redirected" not in mapped(400, body("x")).message
    assert "redirected" not in mapped(299, body("x")).message


@pytest.mark.parametrize(
    ("fields", "hint"),
    [
        ({"code": "model_not_found"}, "the model does not exist or this key has no access"),
        ({"code": "DeploymentNotFound"}, "no Azure deployment of that name"),
        ({"code": "deployment_not_found"}, "no Azure deployment of that name"),
        ({"code": "unsupported_parameter", "param": "temperature"},
         "remove or change the parameter 'temperature' for this model"),
        ({"code": "unsupported_value", "param": "n"}, "remove or change the parameter 'n'"),
        ({"code": "invalid_api_key"}, "the API key is wrong or revoked"),
        ({"code": "other", "param": "messages"}, "fix the parameter 'messages'"),
    ],
)  # fmt: skip
def test_hints_say_what_to_do(fields: dict, hint: str) -> None:
    assert mapped(400, body(**fields)).hint.startswith(hint)


def test_without_a_known_code_or_param_the_class_hint_stays() -> None:
    e = mapped(400, body(code="unsupported_value"))
    assert e.hint == errors.BadRequestError.default_hint


def test_an_invalid_body_is_a_retryable_server_error_with_its_start() -> None:
    text = "<html>" + "x" * 300
    e = invalid_body_error("openai", 200, {"X-Request-Id": "req_7"}, "the response",
                           text.encode())  # fmt: skip
    assert type(e) is errors.ServerError and e.retryable
    assert e.message == f"the response is not valid JSON: {text[:200]!r}"
    assert (e.status_code, e.request_id, e.body) == (200, "req_7", text)
    assert invalid_body_error("p", 200, {}, "w", b"\xff").body == "\ufffd"


# --- SDK exceptions (map_openai_error) -----------------------------------------------------
def _request() -> Any:
    import httpx2

    return httpx2.Request("POST", "https://api.openai.com/v1/chat/completions")


def _caused(exc: BaseException, cause: BaseException, *, context: bool = False) -> BaseException:
    if context:
        exc.__context__ = cause
    else:
        exc.__cause__ = cause
    return exc


@pytest.mark.parametrize("context", [False, True])
def test_a_timeout_caused_by_a_dropped_connection_is_a_connection_error(context: bool) -> None:
    import openai

    from modelbus_openai._errors import map_openai_error

    exc = _caused(openai.APITimeoutError(_request()), ConnectionResetError("reset by peer"),
                  context=context)  # fmt: skip
    e = map_openai_error(exc, "openai")
    assert type(e) is errors.APIConnectionError
    assert e.message == "connection failed (ConnectionResetError: reset by peer)"


def test_a_timeout_is_a_timeout_naming_its_cause() -> None:
    import openai

    from modelbus_openai._errors import map_openai_error

    e = map_openai_error(openai.APITimeoutError(_request()), "openai")
    assert type(e) is errors.APITimeoutError and e.provider == "openai"
    assert e.message == "no response within the timeout"
    exc = _caused(openai.APITimeoutError(_request()), TimeoutError("read timed out"))
    e = map_openai_error(exc, "openai")
    assert type(e) is errors.APITimeoutError
    assert e.message == "no response within the timeout (TimeoutError: read timed out)"


def test_a_status_error_keeps_the_decoded_body() -> None:
    import httpx2
    import openai

    from modelbus_openai._errors import map_openai_error

    raw = b'{"error": {"message": "Invalid model", "code": "model_not_found"}}'
    resp = httpx2.Response(404, content=raw, request=_request(),
                           headers={"x-request-id": "req_4"})  # fmt: skip
    exc = openai.NotFoundError("Invalid model", response=resp, body=None)
    e = map_openai_error(exc, "openai")
    assert type(e) is errors.NotFoundError
    assert (e.status_code, e.request_id, e.code) == (404, "req_4", "model_not_found")
    assert e.body == {"error": {"message": "Invalid model", "code": "model_not_found"}}
    assert e.hint.startswith("the model does not exist")


def _aiohttp(name: str) -> type[Exception]:
    # Matched by name and module, as the SDK's vendored aiohttp transport raises them.
    return type(name, (Exception,), {"__module__": "aiohttp.client_exceptions"})


def test_only_aiohttp_connection_errors_count_as_a_dropped_connection() -> None:
    import openai

    from modelbus_openai._errors import map_openai_error

    gone = _aiohttp("ClientConnectionError")
    disconnected = type("ServerDisconnectedError", (gone,), {"__module__": gone.__module__})
    exc = _caused(openai.APITimeoutError(_request()), disconnected("closed"))
    assert type(map_openai_error(exc, "openai")) is errors.APIConnectionError
    exc = _caused(openai.APITimeoutError(_request()), _aiohttp("ClientPayloadError")("x"))
    assert type(map_openai_error(exc, "openai")) is errors.APITimeoutError


def test_a_transport_error_while_reading_is_a_connection_error() -> None:
    import httpx2

    from modelbus_openai._errors import map_openai_error

    e = map_openai_error(httpx2.ReadError("peer closed", request=_request()), "openai")
    assert type(e) is errors.APIConnectionError
    assert e.message == "connection failed while reading the response: ReadError: peer closed"
