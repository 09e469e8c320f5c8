"""Fallback models: order, which errors trigger them, which model answered; chat and streams."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from structlog.testing import capture_logs

from modelbus import Client
from modelbus._config.config import Config
from modelbus._engine.fallback import is_availability_error
from modelbus._plugins.loading import load_plugins
from modelbus._plugins.registry import Registration
from modelbus.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthExceededError,
    NotFoundError,
    RateLimitError,
    RetryError,
    ServerError,
)
from modelbus.testing import FakeClock, FakeProvider, FakeReply

MODELS = {
    "main": {
        "provider": "primary",
        "model": "p-model",
        "fallbacks": ["backup/b-model", "third/c-model"],
        "context_window_fallback": "big",
    },
    "big": {"provider": "backup", "model": "big-model"},
}


def _client(
    clock: FakeClock, *providers: FakeProvider, config: Mapping[str, Any] | None = None
) -> Client:
    data = {
        "modelbus": {"provider": "primary", "model": "main", "cache": "none"},
        "models": MODELS,
        **(config or {}),
    }
    reg = load_plugins().registry.copy()
    for p in providers:
        p.clock = clock
        reg.add(Registration("providers", p.name, (lambda p=p: p), plugin="test"))
    return Client(Config.from_dict(data), clock=clock.as_clock(), registry=reg)


@pytest.fixture
def fakes() -> tuple[FakeProvider, FakeProvider, FakeProvider]:
    # Unscripted replies echo with the request's model, so responses name who answered.
    return FakeProvider("primary"), FakeProvider("backup"), FakeProvider("third")


def _down(p: FakeProvider, n: int = 3, status: int = 503) -> None:
    for _ in range(n):
        p.enqueue_error(status)


def test_exhausted_retries_fall_back_to_the_first_fallback(fake_clock, fakes) -> None:
    primary, backup, third = fakes
    _down(primary)
    with _client(fake_clock, *fakes) as c:
        resp = c.chat("hi")
    assert (resp.provider, resp.model) == ("backup", "b-model")
    assert (primary.calls, backup.calls, third.calls) == (3, 1, 0)
    assert backup.requests[0].model == "b-model"
    assert c.usage_totals.requests == 1


async def test_fallbacks_are_tried_in_order_async(fake_clock, fakes) -> None:
    primary, backup, third = fakes
    _down(primary)
    _down(backup)
    async with _client(fake_clock, *fakes) as c:
        resp = await c.achat("hi")
    assert (resp.provider, resp.model) == ("third", "c-model")
    assert (primary.calls, backup.calls, third.calls) == (3, 3, 1)


@pytest.mark.parametrize("status", [429, 500, 503, 408])
def test_availability_errors_fall_back_without_retries(fake_clock, fakes, status) -> None:
    primary = fakes[0]
    primary.enqueue_error(status, headers={"x-should-retry": "false"})
    with _client(fake_clock, *fakes) as c:
        assert c.chat("hi").provider == "backup"
    assert primary.calls == 1


def test_insufficient_quota_falls_back(fake_clock, fakes) -> None:
    primary = fakes[0]
    primary.enqueue_error(429, code="insufficient_quota")
    with _client(fake_clock, *fakes) as c:
        assert c.chat("hi").provider == "backup"
    assert primary.calls == 1


def test_too_long_retry_after_falls_back_at_once(fake_clock, fakes) -> None:
    primary = fakes[0]
    primary.enqueue_error(429, headers={"Retry-After": "3600"})
    with _client(fake_clock, *fakes) as c:
        assert c.chat("hi").provider == "backup"
    assert primary.calls == 1 and fake_clock.sleeps == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (422, BadRequestError),
    ],
)
def test_400_class_errors_never_fall_back(fake_clock, fakes, status, error) -> None:
    primary, backup, third = fakes
    primary.enqueue_error(status)
    with _client(fake_clock, *fakes) as c, pytest.raises(error):
        c.chat("hi")
    assert (backup.calls, third.calls) == (0, 0)


def test_content_filter_never_falls_back(fake_clock, fakes) -> None:
    primary, backup, _ = fakes
    primary.enqueue(FakeReply(error=ContentFilterError("filtered", status_code=400)))
    with _client(fake_clock, *fakes) as c, pytest.raises(ContentFilterError):
        c.chat("hi")
    assert backup.calls == 0


def test_every_fallback_down_raises_the_last_error_chained(fake_clock, fakes) -> None:
    primary, backup, third = fakes
    _down(primary)
    _down(backup)
    third.enqueue_error(401)  # a config error on the last one: raised, not hidden
    with _client(fake_clock, *fakes) as c, pytest.raises(AuthenticationError) as info:
        c.chat("hi")
    chain = []
    e: BaseException | None = info.value
    while e is not None:
        chain.append(type(e).__name__)
        e = e.__context__
    # Each failure is the context of the next: nothing about the earlier ones is lost.
    assert chain[0] == "AuthenticationError" and chain.count("RetryError") == 2


def test_context_length_found_locally_uses_the_context_window_fallback(fake_clock, fakes) -> None:
    primary, backup, _ = fakes
    cfg = {"catalog": {"p-model": {"context_window": 40}}}
    with _client(fake_clock, *fakes, config=cfg) as c:
        resp = c.chat("word " * 100)
    assert (resp.provider, resp.model) == ("backup", "big-model")
    assert primary.calls == 0 and backup.calls == 1


async def test_context_length_from_the_provider_uses_the_fallback_async(fake_clock, fakes) -> None:
    primary = fakes[0]
    primary.enqueue(
        FakeReply(
            error=ContextLengthExceededError(
                "maximum context length is 4097 tokens",
                status_code=400,
                code="context_length_exceeded",
            )
        )
    )
    async with _client(fake_clock, *fakes) as c:
        resp = await c.achat("hi")
    assert (resp.provider, resp.model) == ("backup", "big-model")


def test_context_length_without_a_fallback_is_raised(fake_clock, fakes) -> None:
    backup = fakes[1]
    models = {"solo": {"provider": "primary", "model": "p-model", "fallbacks": ["backup/b-model"]}}
    cfg = {"models": models, "catalog": {"p-model": {"context_window": 40}}}
    with _client(fake_clock, *fakes, config=cfg) as c, pytest.raises(ContextLengthExceededError):
        c.chat("word " * 100, model="solo")
    assert backup.calls == 0


def test_a_fallback_may_be_an_alias(fake_clock, fakes) -> None:
    primary = fakes[0]
    models = {
        "a": {"provider": "primary", "model": "p-model", "fallbacks": ["big"]},
        "big": {"provider": "backup", "model": "big-model"},
    }
    _down(primary)
    with _client(fake_clock, *fakes, config={"models": models}) as c:
        resp = c.chat("hi", model="a")
    assert (resp.provider, resp.model) == ("backup", "big-model")


def test_a_bare_model_name_falls_back_on_the_same_provider(fake_clock, fakes) -> None:
    primary, *_ = fakes
    models = {"a": {"provider": "primary", "model": "p-model", "fallbacks": ["p-mini"]}}
    _down(primary)
    cfg = {"models": models, "modelbus": {"provider": "primary", "cache": "none"}}
    with _client(fake_clock, *fakes, config=cfg) as c:
        resp = c.chat("hi", model="a")
    assert (resp.provider, resp.model) == ("primary", "p-mini")
    assert [r.model for r in primary.requests] == ["p-model"] * 3 + ["p-mini"]


def test_the_fallback_is_logged(fake_clock, fakes) -> None:
    primary, *_ = fakes
    primary.enqueue_error(503, headers={"x-should-retry": "false"})
    with _client(fake_clock, *fakes) as c, capture_logs() as logs:
        c.chat("hi")
    ev = [e for e in logs if e["event"] == "modelbus.fallback"]
    assert len(ev) == 1
    assert (ev[0]["from_provider"], ev[0]["to_provider"], ev[0]["to_model"]) == (
        "primary",
        "backup",
        "b-model",
    )
    assert ev[0]["error_type"] == "ServerError" and ev[0]["reason"] == "unavailable"


def test_fallback_answers_are_cached_under_their_own_key(fake_clock, fakes) -> None:
    primary = fakes[0]
    _down(primary, 1, 503)
    primary.enqueue_text("primary is back")
    cfg = {
        "modelbus": {
            "provider": "primary",
            "model": "main",
            "cache": "memory",
            "retry_policy": "none",
        }
    }
    with _client(fake_clock, *fakes, config=cfg) as c:
        assert c.chat("q").provider == "backup"
        again = c.chat("q")
    # The primary's own key held nothing, so the recovered primary answered.
    assert again.provider == "primary" and again.content == "primary is back"


def test_stream_falls_back_before_the_first_chunk(fake_clock, fakes) -> None:
    primary, backup, _ = fakes
    _down(primary)
    backup.default_text = "from the backup"
    with _client(fake_clock, *fakes) as c:
        s = c.stream("hi")
        text = "".join(ch.content or "" for ch in s)
    assert text == "from the backup"
    assert (s.response.provider, s.response.model) == ("backup", "b-model")


async def test_async_stream_falls_back(fake_clock, fakes) -> None:
    primary, backup, third = fakes
    _down(primary)
    backup.enqueue_error(500, headers={"x-should-retry": "false"})
    third.default_text = "third speaks"
    async with _client(fake_clock, *fakes) as c:
        s = c.astream("hi")
        text = "".join([ch.content or "" async for ch in s])
    assert text == "third speaks" and s.response.provider == "third"


def test_stream_context_window_fallback(fake_clock, fakes) -> None:
    _, backup, _ = fakes
    backup.default_text = "big model"
    cfg = {"catalog": {"p-model": {"context_window": 40}}}
    with _client(fake_clock, *fakes, config=cfg) as c:
        s = c.stream("word " * 100)
        assert "".join(ch.content or "" for ch in s) == "big model"
    assert s.response.model == "big-model"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RetryError("gave up", []), True),
        (RateLimitError("slow", status_code=429), True),
        (ServerError("down", status_code=502), True),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (BadRequestError("bad", status_code=400), False),
        (ContextLengthExceededError("long", status_code=400), False),
        (AuthenticationError("key", status_code=401), False),
        (ValueError("bug"), False),
    ],
)
def test_availability_classification(error, expected) -> None:
    assert is_availability_error(error) is expected


def test_a_fallback_alias_brings_its_params_but_the_call_wins(fake_clock, fakes) -> None:
    primary, backup, _ = fakes
    models = {
        "a": {
            "provider": "primary",
            "model": "p-model",
            "params": {"temperature": 0.2, "max_tokens": 100},
            "fallbacks": ["b"],
        },
        "b": {"provider": "backup", "model": "b-model", "params": {"temperature": 0.9, "seed": 7}},
    }
    cfg = {"models": models, "modelbus": {"provider": "primary", "cache": "none"}}
    with _client(fake_clock, *fakes, config=cfg) as c:
        _down(primary)
        c.chat("hi", model="a")
        sent = backup.requests[-1]
        # the fallback alias's own params replace the primary alias's defaults...
        assert (sent.model, sent.temperature, sent.seed) == ("b-model", 0.9, 7)
        assert sent.max_tokens == 100  # the primary's default it does not override stays
        _down(primary)
        c.chat("hi", model="a", temperature=0.5)
        # ...but a parameter the caller set is kept
        assert backup.requests[-1].temperature == 0.5
