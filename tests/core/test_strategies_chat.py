"""The shipped chat strategies produce values the converter round-trips."""

from __future__ import annotations

from hypothesis import given, settings

from modelbus import ChatRequest, Message
from modelbus._wire.converter import message_from_openai, message_to_openai, request_body
from modelbus.testing._chat_strategies import chat_requests, messages


@given(messages())
def test_messages_round_trip_through_the_wire_shape(m: Message) -> None:
    assert message_from_openai(message_to_openai(m)) == m


@settings(max_examples=50)
@given(chat_requests())
def test_request_bodies_carry_every_set_parameter(req: ChatRequest) -> None:
    body = request_body(req)
    assert body["model"] == req.model
    assert len(body["messages"]) == len(req.messages)
    for name in ("temperature", "top_p", "max_tokens", "seed"):
        assert body.get(name) == getattr(req, name)
    assert "stream" not in body
