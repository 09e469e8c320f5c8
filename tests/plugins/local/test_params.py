"""The ``local`` provider declares the request fields it honours (``Capabilities.params``)
so that the client drops or refuses the others by name instead of the backend ignoring
them: the embedded backend (real llama.cpp, tiny model) and each server preset (the
WireServer standing in for the server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import modelbus
from modelbus._wire.types import ChatRequest, Message
from modelbus.errors import BadRequestError
from modelbus.plugin import REQUEST_PARAMS
from modelbus.testing.contracts_provider import DROPPABLE_SAMPLES
from modelbus.testing.server import WireServer
from modelbus_local._llama import ModelKey, load_model
from modelbus_local._presets import PLATFORM_PARAMS, PRESETS
from modelbus_local._requests import EMBEDDED_PARAMS, chat_kwargs
from modelbus_local._settings import LocalSettings

TODAYS = {"service_tier": "flex", "prompt_cache_key": "k", "store": True, "verbosity": "low"}


@pytest.fixture
def srv(wire_server: WireServer) -> WireServer:
    return wire_server


def server_client(srv: WireServer, kind: str, **modelbus_keys: Any) -> modelbus.Client:
    return modelbus.Client(
        {
            "modelbus": {"provider": "local", "cache": "none", **modelbus_keys},
            "providers": {
                "local": {
                    "backend": "server",
                    "server": kind,
                    "base_url": srv.base_url,
                    "model": "m",
                }
            },
        }
    )


def test_the_embedded_declaration_is_what_it_sends(embedded_settings: LocalSettings) -> None:
    """Every declared field changes what llama-cpp-python is called with (or the prompt
    mode reply); every other field would have changed nothing: it was ignored."""
    s = embedded_settings
    m = load_model(
        ModelKey.of(
            Path(s.model_path or ""),
            n_ctx=s.n_ctx,
            n_threads=s.n_threads,
            seed=s.seed,
            embedding=False,
        )
    )
    base = ChatRequest(model="tiny", messages=(Message("user", "hi"),))

    def kwargs(**fields: Any) -> dict[str, Any]:
        req = ChatRequest(model="tiny", messages=base.messages, **fields)
        return chat_kwargs(req, m, model_name="tiny", default_max_tokens=8, provider="local")

    plain = kwargs()
    for name in sorted(REQUEST_PARAMS - EMBEDDED_PARAMS):
        assert kwargs(**{name: DROPPABLE_SAMPLES.get(name, {"x": 1})}) == plain, name
    read_elsewhere = {"parallel_tool_calls", "n", "tools", "tool_choice", "extra_body"}
    samples = {**DROPPABLE_SAMPLES, "stop": ("END",), "response_format": {"type": "json_object"}}
    for name in sorted(EMBEDDED_PARAMS - read_elsewhere):
        assert kwargs(**{name: samples[name]}) != plain, name


def test_the_embedded_backend_drops_or_refuses_todays_platform_fields(
    embedded_settings: LocalSettings,
) -> None:
    cfg: dict[str, Any] = {
        "modelbus": {"provider": "local", "cache": "none"},
        "providers": {"local": {"backend": "embedded", "model_path": embedded_settings.model_path}},
    }
    with modelbus.Client(cfg) as c, capture_logs() as logs:
        r = c.chat("hi", max_tokens=4, seed=1, **TODAYS)
    assert r.provider == "local" and r.usage.completion_tokens <= 4
    notes = sorted(e["detail"] for e in logs if e["event"] == "params_adapted")
    assert notes == sorted(f"{k} dropped (provider 'local' does not support it)" for k in TODAYS)
    cfg["modelbus"]["unsupported_params"] = "error"
    with modelbus.Client(cfg) as c, pytest.raises(BadRequestError) as info:
        c.chat("hi", max_tokens=4, prompt_cache_key="k")
    assert "prompt_cache_key='k' is not supported by provider 'local'" in str(info.value)
    assert info.value.code == "unsupported_parameter"


def test_every_local_server_preset_leaves_out_the_platform_fields() -> None:
    for name, preset in PRESETS.items():
        assert preset.params is not None and not preset.params & PLATFORM_PARAMS, name
    assert EMBEDDED_PARAMS.isdisjoint(PLATFORM_PARAMS)


@pytest.mark.parametrize("kind", ["ollama", "vllm", "lmstudio", "llamacpp"])
async def test_a_server_preset_never_sends_what_it_ignores(srv: WireServer, kind: str) -> None:
    with server_client(srv, kind) as c:
        c.chat("hi", max_completion_tokens=20, reasoning_effort="low", **TODAYS)
        await c.achat("hi", web_search_options=None, safety_identifier="u")
        list(c.stream("hi", metadata={"a": "b"}))
    first, second, third = (r.json for r in srv.requests)
    assert not set(TODAYS) & set(first)
    assert "safety_identifier" not in second and "metadata" not in third
    if kind == "llamacpp":  # llama-cpp-python's server reads max_tokens only
        assert first["max_tokens"] == 20 and "max_completion_tokens" not in first
        assert "reasoning_effort" not in first
    else:
        assert first["max_completion_tokens"] == 20 and first["reasoning_effort"] == "low"


def test_web_search_is_refused_by_name_and_nothing_is_sent(srv: WireServer) -> None:
    with server_client(srv, "ollama") as c, pytest.raises(BadRequestError) as info:
        c.chat("news?", web_search_options={"search_context_size": "low"})
    assert "web_search_options" in str(info.value) and "'local'" in str(info.value)
    assert "provider that honours it" in (info.value.hint or "")
    assert srv.requests == []


def test_a_generic_server_gets_every_field(srv: WireServer) -> None:
    """A server of unknown family (found by ``auto`` at a ``base_url``) may be a proxy to
    OpenAI itself: nothing is dropped."""
    with server_client(srv, "auto") as c:
        c.chat("hi", web_search_options={}, **TODAYS)
        assert c.provider("local").capabilities.params is None
    (body,) = (r.json for r in srv.requests if r.path.endswith("/chat/completions"))
    assert body["web_search_options"] == {} and body["service_tier"] == "flex"


def test_extra_body_is_the_way_to_send_what_a_preset_drops(srv: WireServer) -> None:
    with server_client(srv, "llamacpp") as c:
        c.chat("hi", reasoning_effort="high", extra_body={"reasoning_effort": "low"})
    assert srv.requests[0].json["reasoning_effort"] == "low"
