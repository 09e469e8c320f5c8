"""Decoded cache hits are shared only when every part is immutable: an ``extra`` of
scalars (OpenAI's ``system_fingerprint``, ``service_tier``) is, a nested value is not."""

from __future__ import annotations

from modelbus import ChatResponse, Message
from modelbus._caching import decoded as pipeline
from modelbus.testing import FakeProvider, make_client


def _response(extra: dict[str, object]) -> ChatResponse:
    return ChatResponse(
        id="x",
        model="fake-model",
        message=Message("assistant", "hi"),
        finish_reason="stop",
        extra=extra,
    )


def test_scalar_extras_are_decoded_once_and_copied_per_caller() -> None:
    fake = FakeProvider()
    fake.enqueue_response(_response({"system_fingerprint": "fp_1", "service_tier": "default"}))
    c = make_client(fake, {"modelbus": {"cache": "memory"}})
    c.chat("q")
    first, second = c.chat("q"), c.chat("q")
    assert first.cached and second.cached
    assert any(r.extra == first.extra for r in pipeline._DECODED.values())  # kept decoded
    first.extra["mine"] = 1
    assert second.extra == {"system_fingerprint": "fp_1", "service_tier": "default"}
    assert c.chat("q").extra == second.extra


def test_nested_extras_are_decoded_afresh() -> None:
    fake = FakeProvider()
    fake.enqueue_response(_response({"nested": {"a": 1}}))
    c = make_client(fake, {"modelbus": {"cache": "memory"}})
    c.chat("q")
    first = c.chat("q")
    first.extra["nested"]["a"] = 2  # type: ignore[index]
    assert c.chat("q").extra == {"nested": {"a": 1}}
    assert not any("nested" in r.extra for r in pipeline._DECODED.values())
