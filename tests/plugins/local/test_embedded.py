"""The embedded backend against real llama.cpp (llama-cpp-python) running the tiny model."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path

import attrs
import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

import modelbus
from modelbus._config.settings import structure_settings
from modelbus._wire.types import (
    ChatChunk,
    ChatRequest,
    EmbeddingRequest,
    ImagePart,
    ImageURL,
    Message,
    TextPart,
)
from modelbus.errors import (
    BadRequestError,
    ConfigError,
    ContextLengthExceededError,
    PluginError,
)
from modelbus_local._embedded import EmbeddedProvider
from modelbus_local._llama import LoadedModel, ModelKey, load_model
from modelbus_local._requests import StopScanner
from modelbus_local._settings import LocalSettings
from modelbus_local.plugin import make_provider

MESSAGES = (Message("system", "be brief"), Message("user", "hello world"))
SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer"}},
    "required": ["ok", "n"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def provider(embedded_settings: LocalSettings) -> EmbeddedProvider:
    return EmbeddedProvider(embedded_settings)


def _req(**kw: object) -> ChatRequest:
    base: dict[str, object] = {"model": "tiny", "messages": MESSAGES, "max_tokens": 10, "seed": 4}
    base.update(kw)
    return ChatRequest(**base)


def _text(chunks: list[ChatChunk]) -> str:
    return "".join(c.content or "" for c in chunks)


def _loaded(provider: EmbeddedProvider) -> LoadedModel:
    s = provider.settings
    key = ModelKey.of(
        provider.model_path, n_ctx=s.n_ctx, n_threads=s.n_threads, seed=s.seed, embedding=False
    )
    return load_model(key)


def _lock_of(provider: EmbeddedProvider) -> threading.Lock:
    return _loaded(provider).lock


# -- chat ------------------------------------------------------------------------------


def test_chat_reply_shape_and_exact_usage(provider: EmbeddedProvider):
    r = provider.chat(_req())
    assert r.provider == "local" and r.model == "tiny"  # the file stem
    assert r.message.role == "assistant" and isinstance(r.content, str) and r.content
    assert r.finish_reason == "length"
    assert r.usage.completion_tokens == 10
    assert r.usage.prompt_tokens == provider.count_messages(MESSAGES)
    assert r.usage.total_tokens == r.usage.prompt_tokens + 10


def test_same_seed_same_reply_other_seed_other_reply(provider: EmbeddedProvider):
    assert provider.chat(_req()).content == provider.chat(_req()).content
    assert provider.chat(_req()).content != provider.chat(_req(seed=5)).content


def test_max_completion_tokens_and_settings_default(
    provider: EmbeddedProvider, embedded_settings: LocalSettings
):
    assert (
        provider.chat(_req(max_tokens=None, max_completion_tokens=3)).usage.completion_tokens == 3
    )
    small = EmbeddedProvider(attrs.evolve(embedded_settings, max_tokens=2))
    assert small.chat(_req(max_tokens=None)).usage.completion_tokens == 2


def test_stream_matches_chat_and_carries_usage_last(provider: EmbeddedProvider):
    whole = provider.chat(_req())
    chunks = list(provider.stream(_req()))
    assert _text(chunks) == whole.content
    assert [c.finish_reason for c in chunks].count("length") == 1
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage == whole.usage
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[0].role == "assistant"


@pytest.mark.parametrize("stop", [("e",), (" ",), ("wh", "zz"), ("day", "a"), ("\u2603",)])
def test_stream_stop_strings_match_chat(provider: EmbeddedProvider, stop: tuple[str, ...]):
    req = _req(max_tokens=40, stop=stop)
    whole = provider.chat(req)
    chunks = list(provider.stream(req))
    assert _text(chunks) == whole.content
    assert chunks[-1].finish_reason == whole.finish_reason
    assert chunks[-1].usage == whole.usage


def test_json_schema_reply_parses_and_validates(provider: EmbeddedProvider):
    rf = {"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}}
    for seed in (1, 2, 3):
        r = provider.chat(_req(max_tokens=60, seed=seed, response_format=rf))
        assert r.finish_reason == "stop"  # the grammar ended it, not max_tokens
        jsonschema.validate(json.loads(r.content or ""), SCHEMA)
        chunks = list(provider.stream(_req(max_tokens=60, seed=seed, response_format=rf)))
        assert _text(chunks) == r.content and chunks[-1].usage == r.usage


def test_json_object_and_llama_cpp_json_schema_body(provider: EmbeddedProvider):
    # Plain JSON mode constrains the syntax only: a random model may write one long string,
    # so check that the grammar applied (an object starts) rather than that it ended.
    free = provider.chat(_req(max_tokens=20))
    r = provider.chat(_req(max_tokens=20, response_format={"type": "json_object"}))
    assert not (free.content or "").lstrip().startswith("{")
    assert (r.content or "").lstrip().startswith("{")
    # llama-cpp-python's json_object + schema, and llama.cpp server's json_schema body key
    rf = {"type": "json_object", "schema": SCHEMA}
    r = provider.chat(_req(max_tokens=60, response_format=rf))
    jsonschema.validate(json.loads(r.content or ""), SCHEMA)
    r = provider.chat(_req(max_tokens=60, extra_body={"json_schema": SCHEMA}))
    jsonschema.validate(json.loads(r.content or ""), SCHEMA)


def test_gbnf_grammar(provider: EmbeddedProvider):
    for seed in range(4):
        r = provider.chat(_req(seed=seed, extra_body={"grammar": 'root ::= "yes" | "no"'}))
        assert r.content in ("yes", "no") and r.finish_reason == "stop"


def test_invalid_grammar_is_a_bad_request_not_a_crash(provider: EmbeddedProvider):
    with pytest.raises(BadRequestError, match="rejected the GBNF grammar") as info:
        provider.chat(_req(extra_body={"grammar": "root ::= ("}))
    assert info.value.code == "invalid_grammar"
    with pytest.raises(BadRequestError, match="'root' rule"):
        provider.chat(_req(extra_body={"grammar": 'answer ::= "x"'}))
    assert provider.chat(_req()).content  # the process and the model still work


def test_sampling_extras_and_logit_bias(provider: EmbeddedProvider):
    the = provider.count_text("the")
    assert the == 1
    tid = _loaded(provider).tokenize("the")[0]
    req = _req(logit_bias={str(tid): 100.0}, extra_body={"top_k": 1})
    r = provider.chat(req)
    assert r.content == " the" * 10
    chunks = list(provider.stream(req))
    assert _text(chunks) == r.content and chunks[-1].usage == r.usage


def test_unsupported_requests_are_named(provider: EmbeddedProvider):
    with pytest.raises(BadRequestError, match="'frobnicate'"):
        provider.chat(_req(extra_body={"frobnicate": 1}))
    with pytest.raises(BadRequestError, match="n=2"):
        provider.chat(_req(n=2))
    image = Message("user", (TextPart("x"), ImagePart(ImageURL("https://x/y.png"))))
    with pytest.raises(BadRequestError, match="image parts"):
        provider.chat(_req(messages=(image,)))
    with pytest.raises(BadRequestError, match="'xml'"):
        provider.chat(_req(response_format={"type": "xml"}))


def test_logit_bias_keys_must_be_token_ids(provider: EmbeddedProvider):
    with pytest.raises(BadRequestError, match="'999999' is not a token id"):
        provider.chat(_req(logit_bias={"999999": 1.0}))
    with pytest.raises(BadRequestError, match="'the' is not a token id"):
        list(provider.stream(_req(logit_bias={"the": 1.0})))


def test_text_parts_are_joined(provider: EmbeddedProvider):
    parts = Message("user", (TextPart("hello "), TextPart("world")))
    plain = Message("user", "hello world")
    assert provider.count_messages([parts]) == provider.count_messages([plain])
    assert (
        provider.chat(_req(messages=(parts,))).content
        == provider.chat(_req(messages=(plain,))).content
    )


def test_prompt_longer_than_context_raises(provider: EmbeddedProvider):
    long = Message("user", "hello world " * 400)
    with pytest.raises(ContextLengthExceededError) as info:
        provider.chat(_req(messages=(long,)))
    assert info.value.context_window == 512
    assert info.value.prompt_tokens == provider.count_messages([long])
    with pytest.raises(ContextLengthExceededError):
        list(provider.stream(_req(messages=(long,))))
    assert not _lock_of(provider).locked()


# -- token counting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "messages",
    [
        (Message("user", "hi"),),
        MESSAGES,
        (Message("user", "q"), Message("assistant", "a"), Message("user", "caf\u00e9 \u2603")),
        (Message("user", "<|im_start|> is text here"),),
    ],
)
def test_count_messages_equals_billed_prompt_tokens(
    provider: EmbeddedProvider, messages: tuple[Message, ...]
):
    r = provider.chat(_req(messages=messages, max_tokens=1))
    assert provider.count_messages(messages, "tiny") == r.usage.prompt_tokens


def test_count_text(provider: EmbeddedProvider):
    assert provider.count_text("") == 0
    assert provider.count_text("hello the world", "tiny") == 3
    assert provider.count_text("caf\u00e9") > 3  # byte fallback for é
    assert provider.exact is True
    assert provider.serves("tiny") and provider.serves(str(provider.model_path))
    assert not provider.serves("gpt-4o")


# -- streams: closing, async ---------------------------------------------------------------


def test_closing_a_stream_early_releases_the_model(provider: EmbeddedProvider):
    it = provider.stream(_req(max_tokens=50))
    next(it)
    assert _lock_of(provider).locked()
    it.close()
    assert not _lock_of(provider).locked()
    assert provider.chat(_req()).content


async def test_async_chat_and_stream_match_sync(provider: EmbeddedProvider):
    whole = provider.chat(_req())
    assert (await provider.achat(_req())).content == whole.content
    chunks = [c async for c in provider.astream(_req())]
    assert _text(chunks) == whole.content and chunks[-1].usage == whole.usage


async def test_async_stream_closed_early_releases_the_model(provider: EmbeddedProvider):
    agen = provider.astream(_req(max_tokens=200))
    first = await agen.__anext__()
    assert first.role == "assistant"
    await agen.aclose()
    lock = _lock_of(provider)
    # the producer thread stops at its next chunk; bounded wait, not a sleep
    acquired = await asyncio.to_thread(lock.acquire, True, 10.0)
    assert acquired
    lock.release()


async def test_async_stream_errors_reach_the_consumer(provider: EmbeddedProvider):
    with pytest.raises(BadRequestError, match="rejected the GBNF grammar"):
        async for _ in provider.astream(_req(extra_body={"grammar": "root ::= ("})):
            pass


def test_concurrent_calls_from_four_threads_match_sequential(provider: EmbeddedProvider):
    seeds = [21, 22, 23, 24]
    expected = {s: provider.chat(_req(seed=s)).content for s in seeds}
    got: dict[int, str | None] = {}
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for _ in range(3):
                if seed % 2:
                    got[seed] = _text(list(provider.stream(_req(seed=seed))))
                else:
                    got[seed] = provider.chat(_req(seed=seed)).content
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert got == expected


# -- embeddings ----------------------------------------------------------------------------


def test_embeddings(provider: EmbeddedProvider):
    r = provider.embed(EmbeddingRequest(model="tiny", input=("hello world", "the model")))
    assert r.provider == "local" and r.model == "tiny"
    assert [len(v) for v in r.vectors] == [64, 64]
    for v in r.vectors:
        assert sum(x * x for x in v) == pytest.approx(1.0)
    assert r.vectors[0] != r.vectors[1]
    assert r.usage.prompt_tokens == provider.count_text("hello world") + provider.count_text(
        "the model"
    )
    again = provider.embed(EmbeddingRequest(model="tiny", input=("the model",)))
    assert again.vectors[0] == pytest.approx(r.vectors[1])


async def test_async_embeddings_match(provider: EmbeddedProvider):
    req = EmbeddingRequest(model="tiny", input=("hello",))
    assert (await provider.aembed(req)).vectors == provider.embed(req).vectors


def test_embedding_input_longer_than_the_batch_raises_instead_of_truncating(
    provider: EmbeddedProvider,
):
    text = "hello world " * 400
    with pytest.raises(ContextLengthExceededError) as info:
        provider.embed(EmbeddingRequest(model="t", input=(text,)))
    assert info.value.prompt_tokens == provider.count_text(text) > 512
    assert info.value.context_window == 512


def test_embedding_dimensions_other_than_the_model_width(provider: EmbeddedProvider):
    assert provider.embed(EmbeddingRequest(model="t", input=("x",), dimensions=64)).vectors
    with pytest.raises(BadRequestError, match="64-dimensional"):
        provider.embed(EmbeddingRequest(model="t", input=("x",), dimensions=32))


def test_separate_embedding_model(embedded_settings: LocalSettings, tmp_path: Path):
    from modelbus_local import build_tiny_model

    other = build_tiny_model(tmp_path / "embedder.gguf", seed=9)
    p = EmbeddedProvider(attrs.evolve(embedded_settings, embedding_model_path=str(other)))
    r = p.embed(EmbeddingRequest(model="embedder", input=("hello",)))
    assert r.model == "embedder"
    base = EmbeddedProvider(embedded_settings).embed(EmbeddingRequest(model="t", input=("hello",)))
    assert r.vectors != base.vectors


# -- construction errors ---------------------------------------------------------------------


def test_no_model_path_runs_the_bundled_smollm2_quietly(embedded_settings: LocalSettings):
    from modelbus_local._default_model import bundled_model

    with capture_logs() as logs:
        p = EmbeddedProvider(attrs.evolve(embedded_settings, model_path=None))
    assert p.model_path == bundled_model()
    assert p.default_model == "SmolLM2-135M-Instruct.Q4_1"
    assert not [e for e in logs if e["event"] == "local.tiny_model"]


def test_no_model_path_without_the_bundled_model_falls_back_to_the_tiny_model_loudly(
    embedded_settings: LocalSettings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    no_bundled_model: None,
):
    from modelbus_local import default_model_path

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    with capture_logs() as logs:
        p = EmbeddedProvider(attrs.evolve(embedded_settings, model_path=None))
    assert p.model_path == default_model_path() and p.model_path.is_file()
    assert p.default_model == "modelbus-tiny-random"
    [warning] = [e for e in logs if e["event"] == "local.tiny_model"]
    assert warning["log_level"] == "warning" and warning["path"] == str(p.model_path)
    assert "replies are noise" in warning["detail"]
    assert p.chat(_req(max_tokens=2)).usage.completion_tokens == 2


def test_missing_file_is_named(embedded_settings: LocalSettings, tmp_path: Path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError, match="does not exist") as info:
        EmbeddedProvider(attrs.evolve(embedded_settings, model_path=str(missing)))
    assert str(missing) in str(info.value)
    assert info.value.key == "providers.local.model_path"
    with pytest.raises(ConfigError, match="not a file"):
        EmbeddedProvider(attrs.evolve(embedded_settings, model_path=str(tmp_path)))
    with pytest.raises(ConfigError, match="embedding_model_path"):
        EmbeddedProvider(attrs.evolve(embedded_settings, embedding_model_path=str(missing)))


def test_non_gguf_file_is_named_with_what_was_found(
    embedded_settings: LocalSettings, tmp_path: Path
):
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"PK\x03\x04rest of a zip")
    with pytest.raises(ConfigError) as info:
        EmbeddedProvider(attrs.evolve(embedded_settings, model_path=str(fake)))
    msg = str(info.value)
    assert str(fake) in msg and "b'PK\\x03\\x04'" in msg and "GGUF" in msg


def test_truncated_gguf_is_a_config_error(
    embedded_settings: LocalSettings, tmp_path: Path, tiny_model_path: Path
):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_model_path.read_bytes()[:5000])
    p = EmbeddedProvider(attrs.evolve(embedded_settings, model_path=str(cut)))
    with pytest.raises(ConfigError, match="could not load"):
        p.chat(_req())


def test_missing_llama_cpp_python_says_how_to_install(
    embedded_settings: LocalSettings, monkeypatch: pytest.MonkeyPatch
):
    # None in sys.modules is how Python marks a module as not importable.
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(PluginError, match=r"pip install 'modelbus-local\[embedded\]'"):
        EmbeddedProvider(embedded_settings)


# -- settings, plugin, client ---------------------------------------------------------------


def test_settings_from_config_section(tiny_model_path: Path):
    s = structure_settings(
        LocalSettings,
        {"backend": "embedded", "model_path": str(tiny_model_path), "n_ctx": 256},
        dotted="providers.local",
        source="<dict>",
    )
    assert s.backend == "embedded" and s.n_ctx == 256 and s.timeout_s == 60.0
    with pytest.raises(ConfigError, match="backend"):
        structure_settings(
            LocalSettings, {"backend": "gpu"}, dotted="providers.local", source="<dict>"
        )
    with pytest.raises(ConfigError, match="n_ctx must be > 0"):
        structure_settings(LocalSettings, {"n_ctx": 0}, dotted="providers.local", source="<dict>")
    with pytest.raises(ConfigError, match="'models_path'"):
        structure_settings(
            LocalSettings, {"models_path": "x"}, dotted="providers.local", source="<dict>"
        )


def test_plugin_factory(embedded_settings: LocalSettings):
    # the server backend and server = "auto" are covered in test_server_modes.py
    assert isinstance(make_provider(embedded_settings), EmbeddedProvider)


def test_through_the_modelbus_client(tiny_model_path: Path):
    cfg = {
        "modelbus": {"provider": "local", "cache": "none"},
        "providers": {
            "local": {
                "backend": "embedded",
                "model_path": str(tiny_model_path),
                "n_ctx": 512,
                "model": "tiny-alias",
            }
        },
    }
    with modelbus.Client(cfg) as client:
        r = client.chat("hello world", max_tokens=5, seed=3)
        assert r.provider == "local" and r.model == "tiny-alias"
        assert r.usage.completion_tokens == 5
        assert client.count_tokens("hello world", model="tiny-alias") == r.usage.prompt_tokens
        assert client.token_counter("tiny-alias", "local").exact
        e = client.embed(["hello"], model="tiny-alias")
        assert len(e.vectors[0]) == 64


# -- the stop-string scanner -------------------------------------------------------------------


def _reference_stop(pieces: list[str], stops: list[str]) -> str:
    """llama-cpp-python's rule: after each piece, the first stop (in list order) found in
    all the text so far cuts it."""
    text = ""
    for p in pieces:
        text += p
        hit = [s for s in stops if s in text]
        if hit:
            return text[: text.index(hit[0])]
    return text


@given(
    pieces=st.lists(st.text(alphabet="abc ", max_size=4), max_size=12),
    stops=st.lists(st.text(alphabet="abc ", min_size=1, max_size=3), max_size=3),
)
def test_stop_scanner_matches_llama_cpp_python(pieces: list[str], stops: list[str]):
    scanner = StopScanner(stops)
    out = ""
    for p in pieces:
        text, hit = scanner.feed(p)
        out += text
        if hit:
            break
    else:
        out += scanner.flush()
    assert out == _reference_stop(pieces, stops)
