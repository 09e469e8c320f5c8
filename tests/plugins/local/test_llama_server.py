"""The real ``openai`` SDK against a real llama-cpp-python server running the tiny model.

These pin down how llama-cpp-python's server (``python -m llama_cpp.server``) speaks the
OpenAI API, which the local provider's server mode must cope with. Quirks it has, each
checked below so that a change in a new release shows up here:

- streams ignore ``stream_options.include_usage``: no chunk carries ``usage``;
- ``response_format`` accepts only ``text`` and ``json_object`` (plus a non-standard
  ``schema`` key); ``json_schema`` is rejected with HTTP **500** (a pydantic literal
  error reported as ``internal_server_error``), not 400;
- an unknown ``model`` is served by the default model, and the reply echoes the name
  that was asked for;
- tokenizing is ``POST /extras/tokenize`` (``{"input": ...}`` → ``{"tokens": [...]}``),
  ``/extras/tokenize/count`` and ``/extras/detokenize``; llama.cpp's own ``llama-server``
  uses ``POST /tokenize`` (``{"content": ...}``) and ``/detokenize`` instead, which are 404
  here;
- embeddings are not normalised (llama.cpp's server normalises them by default);
- an unparsable ``grammar`` kills the whole server process (llama-cpp-python hands
  llama.cpp a NULL grammar sampler), so no test sends one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import httpx
import jsonschema
import openai
import pytest

from modelbus._wire.converter import parse_chat_chunk, parse_chat_response, parse_embedding_response
from modelbus._wire.types import Message
from modelbus_local._embedded import EmbeddedProvider
from modelbus_local._settings import LocalSettings

from .conftest import SERVER_MODEL

MESSAGES = [{"role": "user", "content": "hello world"}]
SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}, "word": {"type": "string", "maxLength": 8}},
    "required": ["ok", "word"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def client(llama_server: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llama_server, api_key="unused", max_retries=0) as c:
        yield c


@pytest.fixture(scope="module")
def http(llama_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=llama_server.removesuffix("/v1"), timeout=30) as c:
        yield c


def test_models_lists_the_alias(client: openai.OpenAI):
    assert [m.id for m in client.models.list()] == [SERVER_MODEL]


def test_chat(client: openai.OpenAI, embedded_settings: LocalSettings):
    r = client.chat.completions.create(model=SERVER_MODEL, messages=MESSAGES, max_tokens=8, seed=3)
    assert r.object == "chat.completion" and r.model == SERVER_MODEL
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.role == "assistant" and r.choices[0].message.content
    assert r.usage is not None and r.usage.completion_tokens == 8
    # the server builds the same prompt as the embedded backend from the same file
    local = EmbeddedProvider(embedded_settings)
    parsed = parse_chat_response(r.model_dump(), provider="local")
    assert parsed.usage.prompt_tokens == local.count_messages([Message("user", "hello world")])


def test_stream_matches_non_stream_and_has_no_usage(client: openai.OpenAI):
    kw = {"model": SERVER_MODEL, "messages": MESSAGES, "max_tokens": 8, "seed": 9}
    whole = client.chat.completions.create(**kw)
    chunks = list(
        client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True})
    )
    parsed = [parse_chat_chunk(c.model_dump()) for c in chunks]
    assert "".join(c.content or "" for c in parsed) == whole.choices[0].message.content
    assert parsed[0].role == "assistant"
    assert parsed[-1].finish_reason == "length"
    assert all(c.usage is None for c in parsed)  # quirk: include_usage is ignored


async def test_async_client(llama_server: str):
    async with openai.AsyncOpenAI(base_url=llama_server, api_key="unused", max_retries=0) as c:
        r = await c.chat.completions.create(
            model=SERVER_MODEL, messages=MESSAGES, max_tokens=4, seed=1
        )
        assert r.usage is not None and r.usage.completion_tokens == 4
        stream = await c.chat.completions.create(
            model=SERVER_MODEL, messages=MESSAGES, max_tokens=4, seed=1, stream=True
        )
        text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
        assert text == r.choices[0].message.content


def test_tokenize_routes(http: httpx.Client, embedded_settings: LocalSettings):
    local = EmbeddedProvider(embedded_settings)
    r = http.post("/extras/tokenize", json={"model": SERVER_MODEL, "input": "hello the world"})
    assert r.status_code == 200
    tokens = r.json()["tokens"]
    assert len(tokens) == local.count_text("hello the world") == 3
    count = http.post("/extras/tokenize/count", json={"input": "hello the world"}).json()
    assert count == {"count": 3}
    text = http.post("/extras/detokenize", json={"tokens": tokens}).json()["text"]
    assert text == " hello the world"  # SentencePiece's space prefix comes back
    # special tokens are parsed in /extras/tokenize
    special = http.post("/extras/tokenize", json={"input": "<|im_start|>"}).json()["tokens"]
    assert len(special) == 1
    # llama.cpp's llama-server routes do not exist here
    assert http.post("/tokenize", json={"content": "hello"}).status_code == 404
    assert http.post("/detokenize", json={"tokens": tokens}).status_code == 404


def test_embeddings_in_the_same_process(client: openai.OpenAI):
    r = client.embeddings.create(model=SERVER_MODEL, input=["hello world", "the model"])
    parsed = parse_embedding_response(r.model_dump(), provider="local")
    assert [len(v) for v in parsed.vectors] == [64, 64]
    assert parsed.usage.prompt_tokens == 4
    norm = math.sqrt(sum(x * x for x in parsed.vectors[0]))
    assert norm != pytest.approx(1.0)  # quirk: not normalised
    # and chat still works in the embedding-enabled process
    c = client.chat.completions.create(model=SERVER_MODEL, messages=MESSAGES, max_tokens=2)
    assert c.usage is not None and c.usage.completion_tokens == 2


def test_json_object_with_schema_is_valid_json(client: openai.OpenAI):
    for seed in (1, 2):
        r = client.chat.completions.create(
            model=SERVER_MODEL,
            messages=MESSAGES,
            max_tokens=80,
            seed=seed,
            response_format={"type": "json_object", "schema": SCHEMA},
        )
        assert r.choices[0].finish_reason == "stop"
        jsonschema.validate(json.loads(r.choices[0].message.content or ""), SCHEMA)


def test_gbnf_grammar_in_extra_body(client: openai.OpenAI):
    r = client.chat.completions.create(
        model=SERVER_MODEL,
        messages=MESSAGES,
        max_tokens=40,
        extra_body={"grammar": 'root ::= "{\\"answer\\": " ("true" | "false") "}"'},
    )
    assert json.loads(r.choices[0].message.content or "") in ({"answer": True}, {"answer": False})


def test_json_schema_response_format_is_a_500(client: openai.OpenAI):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(
            model=SERVER_MODEL,
            messages=MESSAGES,
            max_tokens=10,
            response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}},
        )
    assert info.value.status_code == 500
    assert "json_object" in str(info.value.body)


def test_unknown_model_is_served_by_the_default(client: openai.OpenAI):
    r = client.chat.completions.create(model="no-such-model", messages=MESSAGES, max_tokens=2)
    assert r.model == "no-such-model"  # echoed, though the tiny model answered
    assert r.usage is not None and r.usage.completion_tokens == 2
