"""The local provider's promises on a real model: SmolLM2-135M-Instruct (the embedded
default), run both in-process and behind ``python -m llama_cpp.server --embedding
true``. Chat, streams and their usage, embeddings, a prompt-mode tool call and the tool
loop, grammar-mode structured output into an attrs class, and the refusals that keep a
request with tools from being answered as if it had none.

Replies are made deterministic by temperature 0 and a fixed seed, and kept short
(``max_tokens``): a 135M model on two cores answers in about a second."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

import modelbus
from modelbus._wire.stream_accumulator import StreamAccumulator
from modelbus._wire.types import (
    ChatRequest,
    EmbeddingRequest,
    FunctionSpec,
    Message,
    ToolSpec,
)
from modelbus.errors import BadRequestError
from modelbus_local._embedded import EmbeddedProvider
from modelbus_local._server import LocalServerProvider
from modelbus_local._settings import LocalSettings
from modelbus_structured_output import StructuredOutput

from .conftest import SMOLLM2

BACKENDS = ["embedded", "server"]
FRANCE = (Message("user", "What is the capital of France? Answer in one word."),)
WEATHER = ToolSpec(
    FunctionSpec(
        "get_weather",
        "Get the current weather in a city.",
        {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    )
)
SIMILAR = ("The cat sat on the mat.", "A kitten is sitting on a rug.")
OTHER = "Quarterly tax filing deadlines for corporations."
N_EMBD = 576  # SmolLM2-135M's hidden size (GGUF llama.embedding_length)


def _settings(backend: str, path: Path, server: str) -> LocalSettings:
    if backend == "embedded":
        return LocalSettings(backend="embedded", model_path=str(path), n_ctx=2048, seed=1)
    # model_path: the file the server runs, so prompt token counts are exact
    return LocalSettings(server="llamacpp", base_url=server, model_path=str(path))


def _config(settings: LocalSettings) -> dict:
    section = {
        k: v
        for k, v in attrs.asdict(settings).items()
        if v is not None and k in ("backend", "server", "base_url", "model_path", "n_ctx", "seed")
    }
    return {"modelbus": {"provider": "local", "cache": "none"}, "providers": {"local": section}}


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def settings(backend: str, smollm2_path: Path, request: pytest.FixtureRequest) -> LocalSettings:
    server = request.getfixturevalue("smollm2_server") if backend == "server" else ""
    return _settings(backend, smollm2_path, server)


@pytest.fixture(scope="module")
def provider(backend: str, settings: LocalSettings) -> Iterator[Any]:
    if backend == "embedded":
        yield EmbeddedProvider(settings)
    else:
        with LocalServerProvider(settings) as p:
            yield p


@pytest.fixture(scope="module")
def client(settings: LocalSettings) -> Iterator[modelbus.Client]:
    with modelbus.Client(_config(settings)) as c:
        yield c


def ask(messages: tuple[Message, ...] = FRANCE, **kw: Any) -> ChatRequest:
    kw.setdefault("max_tokens", 8)
    return ChatRequest(model=SMOLLM2, messages=messages, temperature=0.0, seed=1, **kw)


def test_chat_answers_with_the_servers_or_the_models_usage(provider: Any):
    r = provider.chat(ask())
    assert "Paris" in (r.content or "")
    assert r.usage.estimated is False  # llama.cpp counted it, in-process or in the server
    assert r.usage.prompt_tokens == provider.token_counter.count_messages(FRANCE)
    assert 0 < r.usage.completion_tokens <= 8


def test_stream_matches_chat_and_says_when_usage_was_counted(provider: Any, backend: str):
    whole = provider.chat(ask())
    chunks = list(provider.stream(ask()))
    acc = StreamAccumulator()
    for c in chunks:
        acc.add(c)
    r = acc.response()
    assert r.content == whole.content and "Paris" in (r.content or "")
    assert chunks[-1].usage is not None
    # embedded: counted exactly from the sampling steps; llama-cpp-python's server sends
    # no usage in streams, so modelbus counts it and says so
    assert r.usage.estimated is (backend == "server")
    assert r.usage.prompt_tokens == whole.usage.prompt_tokens  # model_path: exact prompt
    if backend == "embedded":
        assert r.usage == whole.usage


def test_embeddings_one_normalised_vector_per_text(provider: Any):
    r = provider.embed(EmbeddingRequest(model=SMOLLM2, input=(*SIMILAR, OTHER)))
    v = np.array(r.vectors)
    assert v.shape == (3, N_EMBD)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)
    sim = v @ v.T
    assert sim[0, 1] > sim[0, 2] and sim[0, 1] > sim[1, 2]  # similar texts are closer
    assert r.usage.prompt_tokens > 0 and not r.usage.estimated


async def test_async_embeddings_match(provider: Any):
    one = provider.embed(EmbeddingRequest(model=SMOLLM2, input=SIMILAR))
    again = await provider.aembed(EmbeddingRequest(model=SMOLLM2, input=SIMILAR))
    assert np.allclose(one.vectors, again.vectors, atol=1e-6)


def test_server_vectors_are_pooled_as_the_embedded_ones(smollm2_path: Path, smollm2_server: str):
    """llama-cpp-python's server sends token vectors (and wrong ones past the first input
    of a request): pooled by modelbus, they equal the embedded backend's mean pooling."""
    texts = EmbeddingRequest(model=SMOLLM2, input=(*SIMILAR, OTHER))
    local = EmbeddedProvider(_settings("embedded", smollm2_path, "")).embed(texts)
    with LocalServerProvider(_settings("server", smollm2_path, smollm2_server)) as p:
        served = p.embed(texts)
        assert p._token_models == {SMOLLM2}  # found once; one input per request from then
        again = p.embed(texts)
    assert np.allclose(local.vectors, served.vectors, atol=1e-4)
    assert np.allclose(served.vectors, again.vectors, atol=1e-6)
    assert served.usage.prompt_tokens == local.usage.prompt_tokens == again.usage.prompt_tokens


def test_prompt_mode_tool_call(provider: Any):
    q = (Message("user", "What is the weather in Paris?"),)
    r = provider.chat(ask(q, tools=(WEATHER,), max_tokens=40))
    [call] = r.tool_calls
    assert r.finish_reason == "tool_calls" and r.content is None
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_prompt_mode_tool_call_streamed(provider: Any):
    q = (Message("user", "What is the weather in Paris?"),)
    chunks = list(provider.stream(ask(q, tools=(WEATHER,), max_tokens=40)))
    acc = StreamAccumulator()
    for c in chunks:
        acc.add(c)
    r = acc.response()
    assert not r.content  # the JSON reply is never passed on as text
    [call] = r.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Paris"},
    )
    assert r.finish_reason == "tool_calls" and r.usage.prompt_tokens > 0


def test_tool_loop_through_the_client(client: modelbus.Client):
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Get the current weather in a city.

        Args:
            city: the city.
        """
        calls.append(city)
        return f"It is sunny and 21 degrees in {city}."

    r = client.chat(
        "What is the weather in Paris?",
        tools=[get_weather],
        tool_choice="required",
        max_tokens=60,
        temperature=0,
        seed=1,
    )
    assert calls[0] == "Paris"
    roles = [m.role for m in r.transcript]
    assert roles[:3] == ["user", "assistant", "tool"] and roles[-1] == "assistant"
    assert not r.tool_calls and r.content  # the loop ended on an answer
    # SmolLM2 calls again with equal arguments, so it was asked again for an answer (held
    # to {"content": ...}, unwrapped): no JSON, no call written out as text. (What a
    # 135M model answers from the result is not reliable: once "Bordeaux".)
    assert "tool_calls" not in r.content and not r.content.startswith("{"), r.content


@attrs.frozen
class Capital:
    """A country and its capital city."""

    country: str
    capital: str


def test_grammar_mode_structured_output(client: modelbus.Client):
    so = StructuredOutput(Capital, mode="grammar", max_reasks=0)
    r = client.chat(
        "What is the capital of France?",
        response_format=so,
        max_tokens=40,
        temperature=0,
        seed=1,
    )
    assert isinstance(r.parsed, Capital)
    assert r.parsed.capital == "Paris" and r.parsed.country == "France"
    assert r.attempts == 1 and r.finish_reason == "stop"  # the grammar ended the reply


# -- never answered as if it had no tools -------------------------------------------------


def test_native_tools_are_refused_where_they_would_be_ignored(
    smollm2_path: Path, smollm2_server: str
):
    req = ask((Message("user", "weather in Paris?"),), tools=(WEATHER,))
    embedded = EmbeddedProvider(
        attrs.evolve(_settings("embedded", smollm2_path, ""), tool_calling="native")
    )
    with pytest.raises(BadRequestError, match='tool_calling = "prompt"'):
        embedded.chat(req)
    native = attrs.evolve(_settings("server", smollm2_path, smollm2_server), tool_calling="native")
    with LocalServerProvider(native) as p:
        with pytest.raises(BadRequestError, match="llama-cpp-python's server ignores tools"):
            p.chat(req)
        with pytest.raises(BadRequestError, match='tool_calling = "prompt"'):
            list(p.stream(req))
        # a tool_choice naming the function: its chat handler makes the call natively
        forced = attrs.evolve(
            req,
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            max_tokens=30,
        )
        [call] = p.chat(forced).tool_calls
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments)["city"] == "Paris"


def test_cli_status_line_marks_the_counted_usage(smollm2_path: Path, smollm2_server: str, tmp_path):
    cfg = tmp_path / "modelbus.toml"
    cfg.write_text(
        '[modelbus]\nprovider = "local"\ncache = "none"\n\n[providers.local]\n'
        f'server = "llamacpp"\nbase_url = "{smollm2_server}"\nmodel_path = "{smollm2_path}"\n'
    )
    cmd = [
        sys.executable,
        "-m",
        "modelbus.cli",
        "chat",
        "--config",
        str(cfg),
        "-o",
        "temperature=0",
    ]
    args = ["-o", "max_tokens=8", "What is the capital of France? Answer in one word."]
    env = {**os.environ, "NO_PROXY": "*"}
    streamed = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=120)
    assert streamed.returncode == 0, streamed.stderr
    assert "Paris" in streamed.stdout
    assert " · ~" in streamed.stderr and " tokens (estimated) · " in streamed.stderr
    whole = subprocess.run(
        [*cmd, "--no-stream", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert whole.returncode == 0, whole.stderr
    assert "(estimated)" not in whole.stderr and " tokens · " in whole.stderr
