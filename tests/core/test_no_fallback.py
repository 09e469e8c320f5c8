"""No silent fallback (issue 13): a model name is answered by the provider that serves it
or is an error saying what is missing, never by another model. Providers here are
``FakeProvider`` objects registered under the real names (``openai``, ``azure``,
``local``), so the routing rules are tested apart from any plugin; the real plugins and
the command line are tested in ``tests/plugins/openai/test_no_fallback_cli.py``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from modelbus import Client
from modelbus._plugins.loading import load_plugins
from modelbus._plugins.registry import KINDS, Registration, Registry
from modelbus.errors import ConfigError
from modelbus.testing import FakeProvider


@pytest.fixture(autouse=True)
def no_machine_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith(("MODELBUS_", "OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(k)


class Fakes:
    """Fakes registered as ``local``, ``azure`` and ``openai``; ``openai`` refuses to start
    without a key, as modelbus-openai does."""

    def __init__(self) -> None:
        self.local = FakeProvider("local", model="SmolLM2-135M-Instruct.Q4_1")
        self.azure = FakeProvider("azure", model="gpt-4o")
        self.openai = FakeProvider("openai", model="gpt-4o-mini")
        self.started: list[str] = []
        # the installed caches, counters... without their providers
        self.registry = Registry()
        for kind in KINDS:
            if kind not in ("providers", "catalog"):
                for reg in load_plugins().registry.of_kind(kind):
                    self.registry.add(reg)
        for name in ("openai", "azure", "local"):
            self.registry.add(Registration("providers", name, self._factory(name)))
        self.registry.add(
            Registration(
                "catalog",
                "SmolLM2-135M-Instruct.Q4_1",
                {"provider": "local", "context_window": 8192},
            )
        )

    def _factory(self, name: str) -> Any:
        def make() -> FakeProvider:
            if name == "openai" and not os.environ.get("OPENAI_API_KEY"):
                raise ConfigError(
                    "no OpenAI API key: set OPENAI_API_KEY", key="providers.openai.api_key"
                )
            self.started.append(name)
            return getattr(self, name)  # type: ignore[no-any-return]

        return make

    def client(self, config: dict[str, Any] | None = None) -> Client:
        return Client(config or {}, registry=self.registry)


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    yield Fakes()


def test_an_openai_model_without_a_key_is_an_error_naming_the_key(fakes: Fakes) -> None:
    client = fakes.client()
    assert client.route("gpt-4o-mini").provider == "openai"  # the catalog's provider
    for call in (
        lambda: client.chat("hi", model="gpt-4o-mini"),
        lambda: list(client.stream("hi", model="gpt-4o-mini")),
        lambda: client.embed("hi", model="text-embedding-3-small"),
    ):
        with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
            call()
    assert fakes.local.calls == 0 and fakes.local.embed_requests == []


async def test_async_calls_raise_the_same(fakes: Fakes) -> None:
    client = fakes.client()
    with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
        await client.achat("hi", model="gpt-4o-mini")
    assert fakes.local.calls == 0


def test_with_the_key_the_openai_model_goes_to_openai(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000")
    r = fakes.client().chat("hi", model="gpt-4o-mini")
    assert r.provider == "openai" and fakes.openai.requests[-1].model == "gpt-4o-mini"


def test_an_unknown_provider_prefix_names_the_known_providers(fakes: Fakes) -> None:
    with pytest.raises(ConfigError) as info:
        fakes.client().chat("hi", model="opnai/gpt-4o")
    msg = str(info.value)
    assert "unknown provider 'opnai'" in msg and "did you mean openai/gpt-4o?" in msg
    assert "known providers: azure, local, openai" in msg
    assert fakes.local.calls == 0


def test_a_typo_prefix_is_an_error_even_with_a_provider_configured(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000")
    client = fakes.client()
    with pytest.raises(ConfigError, match="did you mean openai/gpt-4o"):
        client.route("opnai/gpt-4o")
    # a slash that is no provider and no typo of one stays a model name
    r = client.route("meta/llama-3.1")
    assert (r.provider, r.model) == ("openai", "meta/llama-3.1")


def test_a_model_no_provider_serves_suggests_the_closest_names(fakes: Fakes) -> None:
    client = fakes.client({"models": {"fast-chat": {"provider": "local", "model": "x"}}})
    with pytest.raises(ConfigError) as info:
        client.chat("hi", model="gpt-4o-minii")
    msg = str(info.value)
    assert "no installed provider serves model 'gpt-4o-minii'" in msg
    assert "did you mean gpt-4o-mini" in msg and "known providers: azure, local, openai" in msg
    with pytest.raises(ConfigError, match="did you mean fast-chat"):
        client.route("fast-chta")  # configured aliases are suggested too
    with pytest.raises(ConfigError, match="unknown provider 'meta'"):
        client.route("meta/llama-3.1")  # nothing configured serves it
    assert fakes.local.calls == 0 and fakes.started == []


def test_nothing_configured_uses_the_local_default(fakes: Fakes) -> None:
    client = fakes.client()
    r = client.chat("hi")
    assert r.provider == "local" and r.model == "SmolLM2-135M-Instruct.Q4_1"
    # its own model names, and local/<anything>, are asked for explicitly
    assert client.route("SmolLM2-135M-Instruct.Q4_1").provider == "local"
    assert client.route("local/llama3.2").provider == "local"
    assert fakes.started == ["local"]


def test_configured_provider_and_aliases_are_honoured(fakes: Fakes) -> None:
    configured = fakes.client({"modelbus": {"provider": "local"}})
    assert configured.route("my-gguf").provider == "local"
    aliases = fakes.client(
        {
            "models": {
                "mine": {"provider": "local", "model": "anything"},
                "fast": {"model": "gpt-4o-mini"},  # no provider: the catalog's
            }
        }
    )
    assert aliases.route("mine").provider == "local"
    assert aliases.route("fast").provider == "openai"


def test_azure_from_the_environment_serves_openai_model_names(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-000000")
    client = fakes.client()
    r = client.chat("hi", model="gpt-4o-mini")  # a deployment name on Azure
    assert r.provider == "azure" and fakes.azure.requests[-1].model == "gpt-4o-mini"
    assert client.route("my-deployment").provider == "azure"


def test_counting_an_openai_model_needs_no_key(fakes: Fakes) -> None:
    assert fakes.client().count_tokens("hello world", model="gpt-4o") == 9  # tiktoken, exact
