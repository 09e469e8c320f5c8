"""Tests of modelbus-messages against the fake Messages API of ``conftest.py`` (on
modelbus's WireServer): the provider contract with its error paths, then the wire
mapping and the installed plugin."""

import pytest

import modelbus
from modelbus.plugin import (
    APIConnectionError,
    BadRequestError,
    ChatRequest,
    Message,
    Secret,
    ServerError,
    Usage,
)
from modelbus.testing import FakeClock
from modelbus.testing.contracts_provider import ProviderContract
from modelbus.testing.server import Reply
from modelbus_messages import MessagesProvider, MessagesSettings


@pytest.fixture
def provider(messages_server):
    settings = MessagesSettings(
        base_url=messages_server.origin, api_key=Secret("sk-ant-test"), timeout_s=0.25
    )
    p = MessagesProvider(settings)
    yield p
    p.close()


# The contract: behaviour, then the error paths injected in the Messages format.
class TestMessagesContract(ProviderContract):
    @pytest.fixture
    def provider(self, provider):
        return provider

    @pytest.fixture
    def faults(self, messages_faults):
        return messages_faults


def ask(*messages, **options):
    return ChatRequest(model="claude-test", messages=tuple(messages), **options)


def test_the_request_on_the_wire(provider, messages_server):
    req = ask(Message("system", "Be brief."), Message("user", "Hi"), stop="END", temperature=0)
    resp = provider.chat(req)
    sent = messages_server.requests[-1]
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json == {
        "model": "claude-test",
        "max_tokens": 1024,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hi"}],
        "temperature": 0,
        "stop_sequences": ["END"],
    }
    assert resp.content == "Hello from the fake API." and resp.finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (12, 5)


def test_a_stream_adds_up_and_counts_tokens(provider):
    chunks = list(provider.stream(ask(Message("user", "Hi"))))
    assert "".join(c.content or "" for c in chunks) == "Hello from the fake API."
    assert chunks[0].role == "assistant" and chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage.total_tokens == 17


CACHED_USAGE = {
    "input_tokens": 10,  # Anthropic counts the cache's tokens apart from these
    "cache_creation_input_tokens": 200,
    "cache_read_input_tokens": 300,
    "output_tokens": 5,
}


def test_prompt_cache_reads_and_writes_are_counted(provider, messages_server):
    message = {"id": "m", "role": "assistant", "model": "claude-test", "usage": CACHED_USAGE}
    messages_server.enqueue(
        Reply.json({**message, "content": [{"type": "text", "text": "ok"}]}),
        Reply.sse(
            [
                ("message_start", {"type": "message_start", "message": message}),
                (
                    "message_delta",
                    {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 5}},
                ),
                ("message_stop", {"type": "message_stop"}),
            ],
            done=False,
        ),
    )
    expected = Usage(510, 5, 515, cached_tokens=300, cache_write_tokens=200)
    assert provider.chat(ask(Message("user", "Hi"))).usage == expected
    assert list(provider.stream(ask(Message("user", "Hi"))))[-1].usage == expected


def test_an_overloaded_529_is_retried_after_its_retry_after(provider, messages_server):
    messages_server.enqueue(
        Reply.json(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            status=529,
            headers={"retry-after": "3", "request-id": "req_529"},
        )
    )
    clock = FakeClock()
    config = {
        "modelbus": {"provider": "messages", "cache": "none"},
        "providers": {"messages": {"base_url": messages_server.origin, "api_key": "sk-ant-test"}},
    }
    with modelbus.Client(config, clock=clock.as_clock()) as client:
        resp = client.chat("Hi", model="claude-test")
    assert resp.attempts == 2 and clock.sleeps == [3.0]
    assert resp.content == "Hello from the fake API."


def test_errors_keep_the_api_type_and_request_id(provider, messages_server):
    messages_server.enqueue(Reply.sse_cut(3))  # the connection drops after 3 events
    with pytest.raises(APIConnectionError, match="incomplete chunked read"):
        list(provider.stream(ask(Message("user", "Hi"))))
    start = {"type": "message_start", "message": {"id": "m", "model": "m", "usage": {}}}
    messages_server.enqueue(Reply.sse([("message_start", start)], done=False))  # a clean end
    with pytest.raises(APIConnectionError, match="ended before message_stop"):
        list(provider.stream(ask(Message("user", "Hi"))))
    messages_server.enqueue(
        Reply.sse(
            [("error", {"type": "error", "error": {"type": "api_error", "message": "x"}})],
            done=False,
            headers={"request-id": "req_mid"},
        )
    )
    with pytest.raises(ServerError) as info:
        list(provider.stream(ask(Message("user", "Hi"))))
    assert (info.value.status_code, info.value.request_id, info.value.code) == (
        None,
        "req_mid",
        "api_error",
    )
    with pytest.raises(BadRequestError, match="not supported"):
        provider.chat(ask(Message("user", "Hi"), response_format={"type": "json_object"}))


def test_an_async_client_is_closed_as_its_loop_shuts_down(provider):
    # A sync close() cannot reach a finished loop's client: the loop closes it as it
    # shuts down (asyncio.run here, pytest-asyncio in the contract's async tests).
    import asyncio

    async def achat_once():
        await provider.achat(ask(Message("user", "Hi")))
        return provider._aclient()

    assert asyncio.run(achat_once()).is_closed


def test_a_missing_key_is_an_authentication_error(messages_server):
    p = MessagesProvider(MessagesSettings(base_url=messages_server.origin, api_key=None))
    with pytest.raises(modelbus.errors.AuthenticationError, match="x-api-key") as info:
        p.chat(ask(Message("user", "Hi")))
    assert info.value.status_code == 401 and info.value.code == "authentication_error"
    p.close()


@pytest.mark.parametrize("mode", ["chat", "stream", "achat", "astream"])
def test_the_calls_timeout_bounds_each_attempt(messages_server, mode):
    # The provider's own timeout_s is 5 s; the call's timeout=0.3 must bound the attempt
    # that meets a 3 s stall, in sync modes too, where only the provider can enforce it.
    import asyncio
    import time

    messages_server.enqueue(Reply.stall(3.0))
    config = {
        "modelbus": {"provider": "messages", "cache": "none"},
        "providers": {
            "messages": {
                "base_url": messages_server.origin,
                "api_key": "sk-ant-test",
                "timeout_s": 5.0,
            }
        },
    }
    clock = FakeClock()
    t0 = time.monotonic()
    with modelbus.Client(config, clock=clock.as_clock()) as client:
        kw = {"model": "claude-test", "timeout": 0.3}
        if mode == "chat":
            resp = client.chat("Hi", **kw)
        elif mode == "stream":
            s = client.stream("Hi", **kw)
            list(s)
            resp = s.response
        else:

            async def run():
                if mode == "achat":
                    return await client.achat("Hi", **kw)
                s = client.astream("Hi", **kw)
                async for _ in s:
                    pass
                return s.response

            resp = asyncio.run(run())
    assert time.monotonic() - t0 < 2.5  # not the 3 s stall
    assert resp.attempts == 2 and resp.content == "Hello from the fake API."
