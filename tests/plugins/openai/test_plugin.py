"""modelbus-openai and modelbus-azure as installed plugins: found through their entry
points, light to import, settings checked strictly."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

import modelbus
from modelbus.errors import ConfigError
from modelbus.testing.server import WireServer


def test_discovered_through_entry_points() -> None:
    loaded = modelbus.load_plugins()
    by_name = {p.name: p for p in loaded.plugins}
    openai_p, azure_p = by_name["openai"], by_name["azure"]
    assert openai_p.distribution == "modelbus-openai" and openai_p.error is None
    assert azure_p.distribution == "modelbus-azure" and azure_p.error is None
    assert openai_p.registered["providers"] == ["openai"]
    assert openai_p.registered["doctor_checks"] == ["openai"]
    assert azure_p.registered == {"providers": ["azure"], "doctor_checks": ["azure"]}
    assert "modelbus_register_commands" in openai_p.hooks


def test_plugin_import_does_not_import_the_sdk() -> None:
    """Discovery imports the plugin modules; the openai SDK (and its httpx2) and
    azure-identity stay unloaded until a provider is used."""
    code = (
        "import sys, modelbus; lp = modelbus.load_plugins(); "
        "assert {p.name for p in lp.plugins} >= {'openai', 'azure'}; "
        "print(sorted(m for m in ('openai', 'httpx2', 'azure.identity') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_commands_hook_adds_finetune() -> None:
    cli = click.Group("modelbus")
    modelbus.load_plugins().pm.hook.modelbus_register_commands(cli=cli)
    assert "finetune" in cli.commands
    assert set(cli.commands["finetune"].commands) == {  # type: ignore[attr-defined]
        "validate",
        "create",
        "status",
        "list",
        "cancel",
    }


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("api_kye", "x", "unknown key 'api_kye'"),
        ("async_transport", "curl", "async_transport"),
        ("embedding_batch_size", 4096, "embedding_batch_size"),
        ("timeout_s", "10", "timeout_s"),
    ],
)
def test_bad_settings_name_the_key(key: str, value: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        modelbus.Client({"providers": {"openai": {"api_key": "k", key: value}}})
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("settings", "key", "fragment"),
    [
        # a key pasted with a no-break or zero-width space: refused with the config
        ({"api_key": "sk-live-abc\u00a0def"}, "providers.openai.api_key", "U+00A0 at position 11"),
        ({"api_key": "\u200bsk-live-abc"}, "providers.openai.api_key", "U+200B at position 0"),
        ({"organization": "org-\u2026"}, "providers.openai.organization", "U+2026"),
        (
            {"default_headers": {"X-Team": "caf\u00e9"}},
            "providers.openai.default_headers",
            "X-Team",
        ),
        ({"default_headers": {"X Team": "a"}}, "providers.openai.default_headers", "header name"),
        ({"base_url": "not a url"}, "providers.openai.base_url", "http:// or https://"),
        ({"base_url": "ftp://example.com/v1"}, "providers.openai.base_url", "http://"),
    ],
)
def test_settings_http_cannot_send_are_refused_with_the_config(
    settings: dict[str, object], key: str, fragment: str
) -> None:
    # They used to pass `modelbus config check` and fail at the first call: a
    # UnicodeEncodeError traceback from the HTTP client, or three retried "could not
    # connect" errors. The key's value is never shown.
    config = {
        "modelbus": {"provider": "openai"},
        "providers": {"openai": {"api_key": "k", **settings}},
    }
    with pytest.raises(ConfigError) as info:
        modelbus.Client(config).provider("openai")
    assert info.value.key == key and fragment in str(info.value)
    assert "sk-live-abc" not in str(info.value)


def test_default_model_from_settings(srv: WireServer) -> None:
    client = modelbus.Client(
        {
            "modelbus": {"provider": "openai", "cache": "none"},
            "providers": {
                "openai": {"base_url": srv.base_url, "api_key": "k", "default_model": "gpt-4o"}
            },
        }
    )
    client.chat("hi")
    assert srv.requests[0].json["model"] == "gpt-4o"
    client.close()


def test_default_provider_from_environment(
    srv: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
    client = modelbus.Client({"modelbus": {"cache": "none"}})
    assert client.default_provider == "openai"
    assert client.chat("hi", model="gpt-4o-mini").provider == "openai"
    client.close()


def test_a_key_from_the_environment_http_cannot_send_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abc\u00a0def")
    with pytest.raises(ConfigError) as info:
        modelbus.Client({"modelbus": {"provider": "openai"}}).provider("openai")
    assert "api_key (from env:OPENAI_API_KEY)" in str(info.value)
    assert "sk-live-abc" not in str(info.value)
