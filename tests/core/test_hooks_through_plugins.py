"""The hooks no other test drives through a third-party plugin: a stand-in distribution
``modelbus-hookcheck`` (found through its entry point only) registers a retry policy, a
token counter, catalog entries, a prompt template and a response-format handler, and a
client configured by a plain config dict uses each of them."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelbus
from modelbus.testing import FakeClock, FakeProvider, make_client
from tests.core.plugin_kit import standin_dist

HOOKCHECK = '''
import attrs
import modelbus
from pathlib import Path

HERE = Path(__file__).parent


@attrs.frozen
class FixedSettings:
    """``delay_s``: seconds between attempts; ``max_attempts``: attempts in total."""

    delay_s: float = 2.0
    max_attempts: int = 3


class FixedDelay:
    def __init__(self, settings):
        self.settings = settings

    def next_delay(self, attempt, error, elapsed_s, previous_delay_s=None):
        if attempt >= self.settings.max_attempts or not modelbus.is_retryable(error):
            return None
        return self.settings.delay_s


class CharCounter:
    """One token per character, for the hc- models."""

    exact = True

    def serves(self, model):
        return model.startswith("hc-")

    def count_text(self, text, model):
        return len(text)

    def count_messages(self, messages, model, tools=None):
        return sum(len(m.text) for m in messages)


class Shout:
    """A response format: the reply in capitals, in ``parsed``."""


class ShoutHandler:
    def matches(self, response_format):
        return response_format is Shout

    def run(self, request, response_format, call, capabilities):
        resp = call(request)
        return attrs.evolve(resp, parsed=resp.content.upper())

    async def arun(self, request, response_format, call, capabilities):
        resp = await call(request)
        return attrs.evolve(resp, parsed=resp.content.upper())

    def stream(self, request, response_format, open_stream, capabilities):
        return open_stream(request)

    def astream(self, request, response_format, open_stream, capabilities):
        return open_stream(request)


@modelbus.hookimpl
def modelbus_register_retry_policies(register):
    register("hc-fixed", FixedDelay, settings=FixedSettings, description="fixed delay")


@modelbus.hookimpl
def modelbus_register_token_counters(register):
    register("hc-chars", CharCounter)


@modelbus.hookimpl
def modelbus_register_catalog(register):
    register("hc-model", {"provider": "fake", "mode": "chat", "context_window": 50,
                          "input_per_1m": 1000000.0, "output_per_1m": 2000000.0})


@modelbus.hookimpl
def modelbus_register_templates(register):
    register("hc-greet", HERE / "greet.toml")


@modelbus.hookimpl
def modelbus_register_response_formats(register):
    register("hc-shout", ShoutHandler)
'''

GREET = """
description = "Greet someone"
system = "You greet people."
user = "Say hello to {{ name }} in {{ words }} words."

[variables]
words = 3
"""


@pytest.fixture
def hookcheck(fresh_plugins: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> object:
    pkg = tmp_path / "pkg" / "mb_hookcheck"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(HOOKCHECK)
    (pkg / "greet.toml").write_text(GREET)
    root = standin_dist(
        tmp_path / "site",
        "modelbus-hookcheck",
        "1.0",
        {"hookcheck": "mb_hookcheck"},
        packages={"mb_hookcheck": pkg},
    )
    monkeypatch.syspath_prepend(str(root))
    import importlib

    return importlib.import_module("mb_hookcheck")


def test_everything_is_registered_by_the_distribution(hookcheck: object) -> None:
    loaded = modelbus.load_plugins()
    info = next(p for p in loaded.plugins if p.name == "hookcheck")
    assert info.distribution == "modelbus-hookcheck" and info.error is None
    assert info.registered == {
        "retry_policies": ["hc-fixed"],
        "token_counters": ["hc-chars"],
        "response_formats": ["hc-shout"],
        "catalog": ["hc-model"],
        "templates": ["hc-greet"],
    }


def test_a_plugin_retry_policy_drives_the_retries(hookcheck: object) -> None:
    clock = FakeClock()
    provider = FakeProvider(clock=clock)
    provider.enqueue_error(503).enqueue_error(500).enqueue_text("third time")
    config = {
        "modelbus": {"retry_policy": "hc-fixed", "cache": "none"},
        "retry_policies": {"hc-fixed": {"delay_s": 1.25}},
    }
    with make_client(provider, config, clock=clock) as client:
        resp = client.chat("hi")
    assert (resp.content, resp.attempts, clock.sleeps) == ("third time", 3, [1.25, 1.25])


def test_a_plugin_token_counter_and_catalog_entry_are_used(hookcheck: object) -> None:
    provider = FakeProvider()
    with make_client(provider, {"modelbus": {"cache": "none"}}) as client:
        assert type(client.token_counter("hc-model")).__name__ == "CharCounter"
        assert client.count_tokens("abcde", model="hc-model") == 5
        entry = client.catalog.get("hc-model")
        assert entry is not None and entry.context_window == 50
        resp = client.chat("hi", model="hc-model")  # usage 10 prompt + 5 completion tokens
        assert resp.cost_usd == pytest.approx(10 * 1.0 + 5 * 2.0)
        with pytest.raises(modelbus.errors.ContextLengthExceededError):
            client.chat("x" * 60, model="hc-model", truncate=False)


def test_a_plugin_template_renders_into_the_request(hookcheck: object) -> None:
    provider = FakeProvider()
    with make_client(provider) as client:
        client.chat(template="hc-greet", variables={"name": "Ada"})
    sent = provider.requests[0].messages
    assert [(m.role, m.content) for m in sent] == [
        ("system", "You greet people."),
        ("user", "Say hello to Ada in 3 words."),
    ]


async def test_a_plugin_response_format_handler_parses_the_reply(hookcheck: object) -> None:
    shout = hookcheck.Shout  # type: ignore[attr-defined]
    provider = FakeProvider()
    provider.enqueue_text("quiet words").enqueue_text("more words")
    with make_client(provider) as client:
        assert client.chat("hi", response_format=shout).parsed == "QUIET WORDS"
        assert (await client.achat("again", response_format=shout)).parsed == "MORE WORDS"
