"""Grammar mode against real llama.cpp: llama-cpp-python's OpenAI-compatible server (the
local plugin's ``llama_server`` fixture) and the embedded backend, both running the tiny
random model. The grammar made from the schema forces even its random replies into a
valid instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import modelbus
from modelbus_structured_output import StructuredOutput, partial_type

from .models import Sentiment, Speaker
from .test_handler import DIALOGUE

SEEDS = [1, 2, 3]


@pytest.fixture(scope="module")
def server_client(llama_server: str, tiny_model_path: Path) -> Iterator[modelbus.Client]:
    cfg = {
        "modelbus": {"provider": "local", "cache": "none"},
        "providers": {
            "local": {
                "server": "llamacpp",
                "base_url": llama_server,
                "model_path": str(tiny_model_path),
            }
        },
    }
    with modelbus.Client(cfg) as c:
        yield c


@pytest.fixture(scope="module")
def embedded_client(tiny_model_path: Path) -> Iterator[modelbus.Client]:
    cfg = {
        "modelbus": {"provider": "local", "cache": "none"},
        "providers": {
            "local": {"backend": "embedded", "model_path": str(tiny_model_path), "n_ctx": 2048}
        },
    }
    with modelbus.Client(cfg) as c:
        yield c


def check(r: modelbus.ChatResponse) -> None:
    assert isinstance(r.parsed, Sentiment)
    assert r.parsed.label in ("positive", "neutral", "negative")
    assert isinstance(r.parsed.loudest, Speaker) and isinstance(r.parsed.confident, bool)
    assert r.attempts == 1  # well formed the first time: no re-ask was needed
    assert r.finish_reason == "stop"  # the grammar ended the reply, not max_tokens


@pytest.mark.parametrize("seed", SEEDS)
def test_server_grammar_mode(server_client: modelbus.Client, llama_server: str, seed: int):
    so = StructuredOutput(Sentiment, mode="grammar", max_reasks=0)
    r = server_client.chat(DIALOGUE, response_format=so, seed=seed, max_tokens=200)
    check(r)
    assert r.provider == "local" and r.usage.completion_tokens > 0


def test_server_auto_mode_is_grammar(server_client: modelbus.Client):
    stream = server_client.stream(DIALOGUE, response_format=Sentiment, seed=4, max_tokens=200)
    values = list(stream)
    assert stream.mode == "grammar"
    assert isinstance(values[-1], Sentiment) and values[-1] == stream.parsed
    assert all(type(v) is partial_type(Sentiment) for v in values[:-1])


async def test_server_grammar_async(server_client: modelbus.Client):
    so = StructuredOutput(list[Sentiment], mode="grammar", max_reasks=0)
    r = await server_client.achat(DIALOGUE, response_format=so, seed=5, max_tokens=400)
    assert isinstance(r.parsed, list) and all(isinstance(s, Sentiment) for s in r.parsed)


@pytest.mark.parametrize("seed", SEEDS)
def test_embedded_grammar_mode(embedded_client: modelbus.Client, seed: int):
    assert embedded_client.stream("x", response_format=Sentiment).mode == "grammar"
    so = StructuredOutput(Sentiment, max_reasks=0)
    check(embedded_client.chat(DIALOGUE, response_format=so, seed=seed, max_tokens=200))


async def test_embedded_stream_async(embedded_client: modelbus.Client):
    stream = embedded_client.astream(DIALOGUE, response_format=Sentiment, seed=6, max_tokens=200)
    values = [v async for v in stream]
    assert isinstance(values[-1], Sentiment) and stream.response.attempts == 1
