"""Aliases, provider/model strings, defaults, and request building."""

from __future__ import annotations

import pytest

from modelbus import Message, ToolSpec
from modelbus._routing.resolve import build_messages, build_request
from modelbus.errors import ConfigError
from modelbus.testing import FakeProvider, make_client


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    cfg = {
        "models": {
            "fast": {"provider": "fake", "model": "fake-small", "params": {"temperature": 0}},
            "slashy": {"model": "fake/fake-big"},
        }
    }
    return make_client(FakeProvider("fake"), cfg)


def test_alias_routes_with_params(client) -> None:  # type: ignore[no-untyped-def]
    r = client.chat("hi", model="fast")
    sent = client.provider("fake").inner.requests[-1]
    assert sent.model == "fake-small" and sent.temperature == 0
    assert r.provider == "fake"
    # call params override alias params
    client.chat("hi again", model="fast", temperature=0.7)
    assert client.provider("fake").inner.requests[-1].temperature == 0.7


def test_provider_slash_model_only_when_prefix_is_a_provider(client) -> None:  # type: ignore[no-untyped-def]
    assert client.route("fake/abc").model == "abc"
    assert client.route("slashy").model == "fake-big"
    # "meta/llama-3.1" is a model name (no provider called "meta")
    r = client.route("meta/llama-3.1")
    assert (r.provider, r.model) == ("fake", "meta/llama-3.1")


def test_default_model_comes_from_the_provider(client) -> None:  # type: ignore[no-untyped-def]
    assert client.route(None).model == "fake-model"


def test_unknown_parameter_names_it_and_the_accepted_ones(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match="unknown chat parameter 'temprature'.*temperature"):
        client.chat("x", temprature=0)


def test_build_messages_shapes() -> None:
    assert build_messages("hi") == (Message("user", "hi"),)
    msgs = build_messages(
        [{"role": "user", "content": "a"}, Message("assistant", "b")], system="sys"
    )
    assert [m.role for m in msgs] == ["system", "user", "assistant"]
    with pytest.raises(TypeError, match="needs a 'role'"):
        build_messages([{"content": "x"}])
    with pytest.raises(ValueError, match="role must be one of"):
        build_messages([{"role": "robot", "content": "x"}])


def test_build_request_tools_from_openai_dicts() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    req = build_request(build_messages("x"), "m", {"tools": [tool], "stop": ["a", "b"]})
    assert isinstance(req.tools[0], ToolSpec) and req.tools[0].function.name == "f"
    assert req.stop == ("a", "b")


def test_no_provider_configured_names_the_installed_ones(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from modelbus import Client

    for var in ("OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "MODELBUS_PROVIDER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELBUS_PLUGINS", "none-at-all")  # only core built-ins
    from modelbus import reset_plugins

    reset_plugins()
    try:
        with pytest.raises(ConfigError, match="no provider is configured"):
            Client({}).route("gpt-4o")
    finally:
        reset_plugins()


def test_counting_a_named_model_needs_no_provider(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from modelbus import Client, reset_plugins

    monkeypatch.setenv("MODELBUS_PLUGINS", "none-at-all")  # only core built-ins
    reset_plugins()
    try:
        client = Client({})
        assert client.count_tokens("hello world", model="gpt-4o") == 9  # tiktoken, exact
        with pytest.raises(ConfigError, match="no provider is configured"):
            client.count_tokens("hello world")
    finally:
        reset_plugins()
