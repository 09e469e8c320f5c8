"""The server backend's choices, against the WireServer: prompt-mode tool calling and
when it is used, the tokenizer routes of each server, model listing, ``server = "auto"``
probing and its fallback, and the errors for a server that is down or a bad model file.

Scripted replies use the shapes the servers document: llama.cpp's ``/tokenize`` and
``/apply-template`` (tools/server/README.md), vLLM's ``TokenizeResponse``
(vllm/entrypoints/serve/tokenize/protocol.py), Ollama's ``/api/tags`` (docs.ollama.com
api/tags OpenAPI example) and its 400 for a model without tools
(ollama/ollama#6027).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import modelbus
from modelbus._wire.types import (
    ChatRequest,
    FunctionCall,
    FunctionSpec,
    Message,
    ToolCall,
    ToolSpec,
)
from modelbus.errors import APIConnectionError, BadRequestError, ConfigError
from modelbus.testing.server import Reply, WireServer, find_fixture
from modelbus_local import plugin
from modelbus_local._embedded import EmbeddedProvider
from modelbus_local._probe import probe_servers
from modelbus_local._server import LocalServerProvider
from modelbus_local._settings import LocalSettings

WEATHER = ToolSpec(
    FunctionSpec(
        "get_weather",
        "Weather of a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
)
OLLAMA_NO_TOOLS = {
    "error": {
        "message": "stablelm2:latest does not support tools",
        "type": "api_error",
        "param": None,
        "code": None,
    }
}


@pytest.fixture
def srv(wire_server: WireServer) -> WireServer:
    """The shared WireServer of modelbus's pytest plugin, reset for this test."""
    return wire_server


def provider(srv: WireServer | str, kind: str, **kw: Any) -> LocalServerProvider:
    base = srv if isinstance(srv, str) else srv.base_url
    kw.setdefault("model", "m")
    return LocalServerProvider(LocalSettings(server=kind, base_url=base, **kw))


def completion(content: str, **usage: int) -> dict[str, Any]:
    """The recorded Ollama completion with another content (and usage)."""
    body = json.loads(find_fixture("ollama/chat_completion").read_bytes())
    body["choices"][0]["message"]["content"] = content
    if usage:
        body["usage"] = usage
    return body


def models(owner: str, *ids: str) -> Reply:
    return Reply.json(
        {"object": "list", "data": [{"id": i, "object": "model", "owned_by": owner} for i in ids]}
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(**kw: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", "weather in Paris?"),), **kw)


# -- prompt-mode tool calling ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "want_format"),
    [("llamacpp", "json_object"), ("ollama", "json_schema"), ("vllm", "json_schema")],
)
def test_prompt_mode_constrains_the_reply_the_way_each_server_can(
    srv: WireServer, kind: str, want_format: str
):
    call = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
    srv.enqueue(Reply.json(completion(json.dumps(call))))
    with provider(srv, kind, tool_calling="prompt") as p:
        r = p.chat(ask(tools=(WEATHER,), tool_choice="required"))
    body = srv.requests[0].json
    assert "tools" not in body and "tool_choice" not in body
    assert (
        body["messages"][0]["role"] == "system" and "get_weather" in body["messages"][0]["content"]
    )
    rf = body["response_format"]
    assert rf["type"] == want_format
    schema = rf["schema"] if want_format == "json_object" else rf["json_schema"]["schema"]
    assert schema["required"] == ["tool_calls"]  # "required": no text alternative
    assert r.finish_reason == "tool_calls" and r.content is None
    assert [(c.function.name, json.loads(c.function.arguments)) for c in r.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]


def test_prompt_mode_text_answer_and_stream(srv: WireServer):
    srv.enqueue(Reply.json(completion('{"content": "It is sunny."}')))
    call = json.dumps({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    pieces = [call[:10], call[10:25], call[25:]]
    chunks = [
        {
            "id": "s",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}],
        }
        for t in pieces
    ]
    chunks[-1]["choices"][0]["finish_reason"] = "stop"
    chunks.append(
        {
            "id": "s",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
        }
    )
    srv.enqueue(Reply.sse(chunks))
    with provider(srv, "ollama", tool_calling="prompt") as p:
        text = p.chat(ask(tools=(WEATHER,)))
        out = list(p.stream(ask(tools=(WEATHER,))))
    assert text.content == "It is sunny." and not text.tool_calls
    # the JSON is not passed on as text; the parsed call comes at the end
    assert not any(c.content for c in out)
    [delta] = [d for c in out for d in c.tool_calls]
    assert delta.name == "get_weather" and json.loads(delta.arguments or "") == {"city": "Oslo"}
    assert out[-1].finish_reason == "tool_calls" and out[-1].usage is not None
    assert out[-1].usage.total_tokens == 70


def test_prompt_mode_sends_the_history_as_text(srv: WireServer):
    srv.enqueue(Reply.json(completion('{"content": "Sunny."}')))
    history = (
        Message("user", "weather in Paris?"),
        Message(
            "assistant",
            None,
            tool_calls=(ToolCall("c1", FunctionCall("get_weather", '{"city":"Paris"}')),),
        ),
        Message("tool", "sunny, 21 C", tool_call_id="c1"),
    )
    with provider(srv, "llamacpp", tool_calling="prompt") as p:
        p.chat(ChatRequest(model="m", messages=history, tools=(WEATHER,)))
    sent = srv.requests[0].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert "tool_calls" not in sent[2] and "get_weather" in sent[2]["content"]
    assert sent[3]["content"] == "Tool result of get_weather (call c1):\nsunny, 21 C"


def test_auto_switches_to_prompt_mode_when_the_server_refuses_tools(srv: WireServer):
    call = json.dumps({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]})
    srv.enqueue(
        Reply.json(OLLAMA_NO_TOOLS, status=400),
        Reply.json(completion(call)),
        Reply.json(completion(call)),
    )
    with provider(srv, "ollama") as p, capture_logs() as logs:
        first = p.chat(ask(tools=(WEATHER,)))
        second = p.chat(ask(tools=(WEATHER,)))
    native, fallback, again = (q.json for q in srv.requests)
    assert native["tools"][0]["function"]["name"] == "get_weather"
    assert "tools" not in fallback and "tools" not in again  # remembered for the model
    assert first.tool_calls[0].function.name == second.tool_calls[0].function.name
    assert [e["event"] for e in logs] == ["local.prompt_tools"]


async def test_async_fallback_and_prompt_mode_stream(srv: WireServer):
    call = json.dumps({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    chunks = [
        {
            "id": "s",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": call}, "finish_reason": "stop"}],
        }
    ]
    srv.enqueue(
        Reply.json(OLLAMA_NO_TOOLS, status=400),
        Reply.json(completion(call)),
        Reply.sse(chunks),
    )
    with provider(srv, "ollama") as p:
        r = await p.achat(ask(tools=(WEATHER,)))
        out = [c async for c in p.astream(ask(tools=(WEATHER,)))]
        await p.aclose()
    assert r.tool_calls[0].function.name == "get_weather" and r.finish_reason == "tool_calls"
    [delta] = [d for c in out for d in c.tool_calls]
    assert json.loads(delta.arguments or "") == {"city": "Oslo"}
    assert [c.finish_reason for c in out if c.finish_reason] == ["tool_calls"]
    # no usage in that stream: counted (approximately: Ollama has no tokenizer route)
    assert out[-1].extra == {"usage_counted_by": "approximation"}
    assert out[-1].usage is not None and out[-1].usage.estimated
    assert "tools" not in srv.requests[2].json


def test_native_mode_keeps_the_refusal(srv: WireServer):
    srv.enqueue(Reply.json(OLLAMA_NO_TOOLS, status=400))
    with (
        provider(srv, "ollama", tool_calling="native") as p,
        pytest.raises(BadRequestError, match="does not support tools"),
    ):
        p.chat(ask(tools=(WEATHER,)))
    assert len(srv.requests) == 1


def test_auto_uses_prompt_mode_on_llama_cpp_python_and_native_on_llama_server(srv: WireServer):
    srv.set_default(Reply.json(completion("{}")), path="/v1/chat/completions")
    for owner, native in (("me", False), ("llamacpp", True)):
        srv.clear()
        srv.set_default(models(owner, "m"), path="/v1/models")
        with provider(srv, "llamacpp") as p:
            p.chat(ask(tools=(WEATHER,)))
        assert ("tools" in srv.requests[-1].json) is native, owner


def test_unknown_named_tool_is_a_bad_request(srv: WireServer):
    named = {"type": "function", "function": {"name": "nope"}}
    with (
        provider(srv, "ollama", tool_calling="prompt") as p,
        pytest.raises(BadRequestError, match="not in tools"),
    ):
        p.chat(ask(tools=(WEATHER,), tool_choice=named))
    assert srv.requests == []


# -- tokenizer routes --------------------------------------------------------------------------


def test_llama_server_routes_are_exact(srv: WireServer):
    srv.set_default(Reply.json({"tokens": [1, 2, 3]}), path="/tokenize")
    srv.set_default(Reply.json({"prompt": "<|user|>hi<|assistant|>"}), path="/apply-template")
    with provider(srv, "llamacpp") as p:
        c = p.token_counter
        assert c.exact
        assert c.count_text("hello there") == 3
        assert c.count_messages([Message("user", "hi")]) == 3
    tok = [q.json for q in srv.requests if q.path == "/tokenize"]
    assert tok[1] == {"content": "hello there", "add_special": False, "parse_special": False}
    assert tok[2] == {
        "content": "<|user|>hi<|assistant|>",
        "add_special": True,
        "parse_special": True,
    }
    [tmpl] = [q.json for q in srv.requests if q.path == "/apply-template"]
    assert tmpl == {"messages": [{"role": "user", "content": "hi"}]}


def test_llama_cpp_python_route_subtracts_bos_and_estimates_framing(srv: WireServer):
    srv.set_default(Reply.json({"tokens": [1]}), path="/extras/tokenize")  # "" → [BOS]
    with provider(srv, "llamacpp") as p:
        c = p.token_counter
        assert c.route() == "llama-cpp-python"
        srv.set_default(Reply.json({"tokens": [1, 7, 8, 9]}), path="/extras/tokenize")
        assert c.count_text("the world") == 3
        assert not c.exact  # no template route and no model_path
        assert c.count_messages([Message("user", "x"), Message("user", "y")]) == 3 + 2 * (3 + 3)
    assert [q.path for q in srv.requests][:2] == ["/tokenize", "/extras/tokenize"]  # 404, then


def test_vllm_route(srv: WireServer):
    srv.set_default(
        Reply.json(
            {"count": 7, "max_model_len": 4096, "tokens": list(range(7)), "token_strs": None}
        ),
        path="/tokenize",
    )
    with provider(srv, "vllm") as p:
        c = p.token_counter
        assert c.exact and c.count_text("abc") == 7
        assert c.count_messages([Message("user", "hi")], tools=[WEATHER]) == 7
    last = srv.requests[-1].json
    assert last["messages"] == [{"role": "user", "content": "hi"}]
    assert last["add_generation_prompt"] is True and last["model"] == "m"
    assert last["tools"][0]["function"]["name"] == "get_weather"


def test_servers_without_a_tokenizer_use_the_approximation(srv: WireServer):
    with provider(srv, "ollama") as p:
        c = p.token_counter
        assert not c.exact and c.count_text("12345678") == 2
    assert srv.requests == []  # nothing asked: Ollama has no tokenizer route


def test_client_counts_through_the_server(srv: WireServer):
    srv.set_default(
        Reply.json({"count": 11, "max_model_len": 4096, "tokens": [0] * 11, "token_strs": None}),
        path="/tokenize",
    )
    cfg = {
        "modelbus": {"provider": "local", "cache": "none"},
        "providers": {"local": {"server": "vllm", "base_url": srv.base_url, "model": "m"}},
    }
    with modelbus.Client(cfg) as client:
        assert client.count_tokens("hello", model="m") == 11
        assert client.token_counter("m", "local").exact


# -- models --------------------------------------------------------------------------------------


def test_ollama_models_come_from_api_tags(srv: WireServer):
    tags = {
        "models": [
            {
                "name": "gemma3",
                "model": "gemma3",
                "modified_at": "2025-10-03T23:34:03.409490317-07:00",
                "size": 3338801804,
                "digest": "a2af6cc3eb7f",
                "details": {
                    "format": "gguf",
                    "family": "gemma",
                    "families": ["gemma"],
                    "parameter_size": "4.3B",
                    "quantization_level": "Q4_K_M",
                },
            }
        ]
    }
    srv.set_default(Reply.json(tags), path="/api/tags")
    with provider(srv, "ollama") as p:
        [m] = p.list_models()
    assert m["id"] == "gemma3" and m["size"] == 3338801804
    assert m["details"]["quantization_level"] == "Q4_K_M"


def test_models_fall_back_to_v1_models_without_api_tags(srv: WireServer):
    srv.set_default(models("library", "llama3.2"), path="/v1/models")
    with provider(srv, "ollama") as p:
        assert [m["id"] for m in p.list_models()] == ["llama3.2"]
    assert [q.path for q in srv.requests] == ["/api/tags", "/v1/models"]


def test_default_model_is_the_servers_first(srv: WireServer):
    srv.set_default(models("vllm", "a", "b"), path="/v1/models")
    with provider(srv, "vllm", model=None) as p, capture_logs() as logs:
        assert p.default_model == "a"
    assert logs[0]["event"] == "local.model_picked" and logs[0]["available"] == ["a", "b"]
    srv.set_default(models("library"), path="/v1/models")
    with (
        provider(srv, "ollama", model=None) as p,
        pytest.raises(ConfigError, match="lists no models"),
    ):
        _ = p.default_model


# -- auto --------------------------------------------------------------------------------------


def test_probe_prefers_candidates_in_order(srv: WireServer):
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    with WireServer() as other:
        r = probe_servers([("vllm", dead), ("ollama", srv.base_url), ("x", other.base_url)], 2.0)
        assert r.found is not None and r.found.base_url == srv.base_url
        assert r.tried[0].error == "connection refused"
        r2 = probe_servers([("a", other.base_url), ("b", srv.base_url)], 2.0)
        assert r2.found is not None and r2.found.base_url == other.base_url


def test_probe_reports_why_a_server_did_not_count(srv: WireServer):
    srv.set_default(Reply.error(401, "no key"), path="/v1/models")
    r = probe_servers([("vllm", srv.base_url)], 2.0)
    assert r.found is None and r.tried[0].error == "HTTP 401; it needs an api_key"
    srv.set_default(Reply.raw("<html>", content_type="text/html"), path="/v1/models")
    assert probe_servers([("vllm", srv.base_url)], 2.0).tried[0].error == (
        "answered, but not with JSON"
    )


def test_auto_uses_the_server_that_answers_and_says_which(
    srv: WireServer, monkeypatch: pytest.MonkeyPatch
):
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    monkeypatch.setattr(
        plugin, "preset_candidates", lambda: [("ollama", dead), ("llamacpp", srv.base_url)]
    )
    srv.set_default(models("me", "tiny"), path="/v1/models")
    with capture_logs() as logs:
        p = plugin.make_provider(LocalSettings())
    assert isinstance(p, LocalServerProvider)
    assert (p.kind, p.flavour, p.base_url, p.default_model) == (
        "llamacpp",
        "llama-cpp-python",
        srv.base_url,
        "tiny",
    )
    assert [e["event"] for e in logs] == ["local.server"]
    assert srv.base_url in logs[0]["detail"]
    assert [q.path for q in srv.requests] == ["/v1/models"]  # the probe's answer is reused
    p.close()


def test_auto_detects_the_family_behind_a_base_url(srv: WireServer):
    srv.set_default(models("vllm", "meta-llama/Llama-3.1-8B-Instruct"), path="/v1/models")
    p = plugin.make_provider(LocalSettings(base_url=srv.base_url))
    assert isinstance(p, LocalServerProvider) and p.kind == "vllm"
    srv.set_default(models("system", "x"), path="/v1/models")
    q = plugin.make_provider(LocalSettings(base_url=srv.base_url))
    assert isinstance(q, LocalServerProvider) and q.kind == "generic"


def test_auto_falls_back_to_the_embedded_model_saying_so(
    monkeypatch: pytest.MonkeyPatch, tiny_model_path: Path
):
    dead = [(n, f"http://127.0.0.1:{closed_port()}/v1") for n in ("ollama", "llamacpp")]
    monkeypatch.setattr(plugin, "preset_candidates", lambda: dead)
    with capture_logs() as logs:
        p = plugin.make_provider(LocalSettings(model_path=str(tiny_model_path), n_ctx=256))
    assert isinstance(p, EmbeddedProvider) and p.model_path == tiny_model_path.resolve()
    [warning] = warnings(logs)  # short: which servers, which model
    assert warning["event"] == "local.no_server"
    assert warning["detail"] == (
        f"no local server answered (ollama, llamacpp); using the embedded {tiny_model_path.stem}"
    )
    [probed] = [e for e in logs if e["event"] == "local.probed"]  # the details: debug level
    assert probed["log_level"] == "debug"
    for _, url in dead:
        assert f"{url} (connection refused)" in probed["probed"]
    with capture_logs() as again:
        plugin.make_provider(LocalSettings(model_path=str(tiny_model_path), n_ctx=256))
    assert warnings(again) == []  # said once per process


def warnings(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["log_level"] == "warning"]


def test_auto_fallback_without_model_path_runs_the_bundled_model(monkeypatch: pytest.MonkeyPatch):
    from modelbus_local._default_model import bundled_model

    monkeypatch.setattr(
        plugin, "preset_candidates", lambda: [("ollama", f"http://127.0.0.1:{closed_port()}/v1")]
    )
    with capture_logs() as logs:
        p = plugin.make_provider(LocalSettings(n_ctx=256))
    assert isinstance(p, EmbeddedProvider) and p.model_path == bundled_model()
    [warning] = warnings(logs)  # one line: no server answered, and which file runs instead
    assert "noise" not in warning["detail"] and "no local server answered" in warning["detail"]


def test_auto_fallback_without_model_path_says_the_output_is_noise(
    monkeypatch: pytest.MonkeyPatch, tiny_model_path: Path, no_bundled_model: None
):
    monkeypatch.setattr(
        plugin, "preset_candidates", lambda: [("ollama", f"http://127.0.0.1:{closed_port()}/v1")]
    )
    import modelbus_local.tiny_model as tm

    monkeypatch.setattr(tm, "ensure_tiny_model", lambda: tiny_model_path)
    with capture_logs() as logs:
        p = plugin.make_provider(LocalSettings(n_ctx=256))
    assert isinstance(p, EmbeddedProvider) and p.model_path == tiny_model_path.resolve()
    [warning] = warnings(logs)  # one line: no server, and the model is noise
    assert "noise" in warning["detail"] and "no local server answered" in warning["detail"]


def test_auto_with_an_unreachable_base_url_names_it():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(APIConnectionError) as info:
        plugin.make_provider(LocalSettings(base_url=url))
    assert f"GET {url}/models" in str(info.value) and "connection refused" in str(info.value)


# -- bad input -------------------------------------------------------------------------------


def test_a_preset_server_that_is_down_is_named_with_how_to_start_it():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with provider(url, "ollama", model=None) as p:
        for call in (
            lambda: p.chat(ask()),
            lambda: list(p.stream(ask())),
            p.list_models,
            lambda: p.default_model,
        ):
            with pytest.raises(APIConnectionError) as info:
                call()
            assert url in str(info.value) and "ollama serve" in info.value.hint
            assert info.value.retryable


async def test_async_calls_name_the_server_too():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with provider(url, "vllm") as p:
        with pytest.raises(APIConnectionError, match=url):
            await p.achat(ask())
        with pytest.raises(APIConnectionError, match=url):
            async for _ in p.astream(ask()):
                pass
        await p.aclose()


def test_model_path_is_checked_in_server_mode_too(tmp_path: Path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError, match="does not exist") as info:
        LocalServerProvider(LocalSettings(server="llamacpp", model_path=str(missing)))
    assert info.value.key == "providers.local.model_path"
    text = tmp_path / "model.bin"
    text.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(ConfigError, match="is not a GGUF file"):
        plugin.make_provider(LocalSettings(server="ollama", model_path=str(text)))


def test_cache_identity_carries_a_fingerprint_of_a_configured_key():
    """issue 15: only a configured key is fingerprinted, never the placeholder."""

    def ident(key: str | None) -> str:
        settings = LocalSettings(
            server="vllm",
            base_url="http://127.0.0.1:1/v1",
            api_key=None if key is None else modelbus.Secret(key),
        )
        return LocalServerProvider(settings).cache_identity

    assert ident(None) == "vllm:http://127.0.0.1:1/v1"
    one, two = ident("local-key-planted-1"), ident("local-key-planted-2")
    assert one != two and one.startswith("vllm:http://127.0.0.1:1/v1|credential=")
    assert "planted" not in one + two


def test_settings_from_config(srv: WireServer):
    cfg = {
        "modelbus": {"provider": "local", "cache": "none"},
        "providers": {
            "local": {
                "server": "lmstudio",
                "base_url": srv.base_url,
                "model": "qwen",
                "tool_calling": "prompt",
                "api_key": {"env": "LMSTUDIO_TEST_KEY_UNSET"},
            }
        },
    }
    with pytest.raises(ConfigError, match="LMSTUDIO_TEST_KEY_UNSET"):
        modelbus.Client(cfg).provider("local")
    del cfg["providers"]["local"]["api_key"]
    with modelbus.Client(cfg) as client:
        inner = client.provider("local").inner
        assert isinstance(inner, LocalServerProvider)
        assert (inner.kind, inner.settings.tool_calling, inner.default_model) == (
            "lmstudio",
            "prompt",
            "qwen",
        )
        assert client.provider("local").cache_identity == f"lmstudio:{srv.base_url}"
