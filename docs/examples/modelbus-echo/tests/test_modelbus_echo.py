"""Tests of modelbus-echo: the provider contract, then the installed plugin through the
entry point, as an application would use it."""

import json

import pytest
from click.testing import CliRunner
from modelbus_echo import EchoProvider, EchoSettings

import modelbus
from modelbus.cli import cli
from modelbus.errors import ConfigError
from modelbus.testing import FakeClock
from modelbus.testing.contracts_provider import ProviderContract


# Every check a provider must pass: sync and async, streaming, caching through a Client.
class TestEchoContract(ProviderContract):
    @pytest.fixture
    def provider(self):
        return EchoProvider(EchoSettings())

    # The error paths inject network faults; echo does no I/O, so the contract checks
    # that it answers with every socket connection refused.
    @pytest.fixture
    def faults(self):
        return None


def test_settings_come_from_the_config():
    config = {
        "modelbus": {"provider": "echo"},
        "providers": {"echo": {"prefix": ">> ", "upper": True}},
    }
    with modelbus.Client(config, clock=FakeClock().as_clock()) as client:
        resp = client.chat("hello there", model="any-model")
        assert resp.content == ">> HELLO THERE"
        assert (resp.provider, resp.model, resp.cached) == ("echo", "any-model", False)
        assert client.chat("hello there", model="any-model").cached


def test_stream_through_the_client():
    with modelbus.Client({"modelbus": {"provider": "echo"}}) as client:
        stream = client.stream("one two three", model="m")
        assert [c.content for c in stream if c.content] == ["echo: ", "one ", "two ", "three"]
        assert stream.response.content == "echo: one two three"


def test_a_misspelled_key_names_the_section_and_the_accepted_keys():
    config = {"modelbus": {"provider": "echo"}, "providers": {"echo": {"prefx": "> "}}}
    with pytest.raises(ConfigError) as info, modelbus.Client(config) as client:
        client.chat("hi", model="m")
    assert info.value.key == "providers.echo.prefx"
    assert "prefix" in str(info.value) and "upper" in str(info.value)


def test_the_plugin_is_listed_by_its_distribution():
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    echo = next(p for p in json.loads(result.output) if p["name"] == "echo")
    assert echo["distribution"] == "modelbus-echo"
    assert echo["registered"] == {"providers": ["echo"]} and echo["error"] is None
