"""The tiny random GGUF model: deterministic bytes, a valid llama GGUF, and llama.cpp runs it."""

from __future__ import annotations

import hashlib
import string
from pathlib import Path

import gguf
import llama_cpp
import pytest

from modelbus_local import tiny_model
from modelbus_local.tiny_model import (
    CHAT_TEMPLATE,
    build_tiny_model,
    default_model_path,
    ensure_tiny_model,
    main,
)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def llm(tiny_model_path: Path) -> llama_cpp.Llama:
    return llama_cpp.Llama(str(tiny_model_path), n_ctx=256, n_threads=1, verbose=False)


def _field(reader: gguf.GGUFReader, key: str) -> object:
    f = reader.fields[key]
    return f.contents()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, tiny_model_path: Path):
    again = build_tiny_model(tmp_path / "again.gguf", seed=0)
    other = build_tiny_model(tmp_path / "other.gguf", seed=1)
    assert _sha(again) == _sha(tiny_model_path)
    assert _sha(other) != _sha(tiny_model_path)
    assert again.stat().st_size == other.stat().st_size  # only the weights differ


def test_file_is_small_gguf_with_magic(tiny_model_path: Path):
    data = tiny_model_path.read_bytes()
    assert data[:4] == b"GGUF"
    assert 300_000 < len(data) < 1_000_000
    assert not list(tiny_model_path.parent.glob("*.tmp"))  # the temp file was renamed


def test_metadata_and_tensors_are_those_of_a_llama_model(tiny_model_path: Path):
    r = gguf.GGUFReader(tiny_model_path)
    assert _field(r, "general.architecture") == "llama"
    assert _field(r, "llama.block_count") == tiny_model.N_LAYER == 2
    assert _field(r, "llama.embedding_length") == 64
    assert _field(r, "llama.attention.head_count") == 4
    assert _field(r, "llama.attention.head_count_kv") == 2
    assert _field(r, "llama.feed_forward_length") == tiny_model.N_FF
    assert _field(r, "llama.rope.dimension_count") == 16
    assert _field(r, "tokenizer.ggml.model") == "llama"
    assert _field(r, "tokenizer.chat_template") == CHAT_TEMPLATE
    tokens = _field(r, "tokenizer.ggml.tokens")
    assert isinstance(tokens, list)
    assert tokens[:3] == ["<unk>", "<s>", "</s>"]
    assert tokens[3:259] == [f"<0x{b:02X}>" for b in range(256)]
    assert "\u2581the" in tokens and "<|im_start|>" in tokens
    assert _field(r, "tokenizer.ggml.eos_token_id") == tokens.index("<|im_end|>")
    assert len(_field(r, "tokenizer.ggml.scores")) == len(tokens)
    names = {t.name for t in r.tensors}
    per_block = [
        "attn_norm",
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_norm",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
    ]
    expected = {"token_embd.weight", "output_norm.weight", "output.weight"} | {
        f"blk.{b}.{n}.weight" for b in range(2) for n in per_block
    }
    assert names == expected
    assert all(t.tensor_type == gguf.GGMLQuantizationType.F32 for t in r.tensors)


def test_llama_cpp_loads_it_and_reads_the_shape(llm: llama_cpp.Llama):
    assert llm.n_embd() == 64
    assert llm.n_vocab() == len(tiny_model._vocabulary()[0])
    assert llm.n_ctx() == 256
    assert llm.metadata["tokenizer.chat_template"] == CHAT_TEMPLATE


def test_tokenizer_merges_pieces_and_falls_back_to_bytes(llm: llama_cpp.Llama):
    ids = llm.tokenize(b"hello the world", add_bos=False)
    assert [llm.detokenize([i]) for i in ids] == [b" hello", b" the", b" world"]
    accented = "caf\u00e9 \u2603".encode()
    ids = llm.tokenize(accented, add_bos=False)
    assert llm.detokenize(ids) == b" " + accented  # SentencePiece's leading space
    assert len(ids) > len("café ☃")  # é and ☃ went through byte tokens
    special = llm.tokenize(b"<|im_start|>user", add_bos=False, special=True)
    assert special[0] == llm.tokenize(b"<|im_start|>", add_bos=False, special=True)[0]
    assert len(special) == 2


def test_generates_exactly_n_tokens_of_printable_text(llm: llama_cpp.Llama):
    out = llm.create_completion("the", max_tokens=24, temperature=1.0, seed=11)
    choice = out["choices"][0]
    assert out["usage"]["completion_tokens"] == 24
    assert choice["finish_reason"] == "length"
    # control tokens and non-ASCII bytes are never sampled (see tiny_model's docstring)
    assert set(choice["text"]) <= set(string.printable)


def test_chat_template_frames_the_prompt(llm: llama_cpp.Llama):
    out = llm.create_chat_completion(
        [{"role": "system", "content": "s"}, {"role": "user", "content": "hello"}],
        max_tokens=4,
        seed=3,
    )
    prompt = "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n"
    prompt += "<|im_start|>assistant\n"
    expected = len(llm.tokenize(prompt.encode(), add_bos=False, special=True))
    assert out["usage"]["prompt_tokens"] == expected
    assert out["choices"][0]["message"]["role"] == "assistant"


def test_same_seed_same_reply(llm: llama_cpp.Llama):
    def reply(seed: int) -> str:
        out = llm.create_completion("hello", max_tokens=12, seed=seed)
        return str(out["choices"][0]["text"])

    assert reply(5) == reply(5)
    assert reply(5) != reply(6)


def test_embedding_mode_returns_one_pooled_vector_per_input(tiny_model_path: Path):
    emb = llama_cpp.Llama(str(tiny_model_path), embedding=True, n_ctx=128, verbose=False)
    try:
        out = emb.create_embedding(["hello world", "the model"])
        vectors = [d["embedding"] for d in out["data"]]
        assert [len(v) for v in vectors] == [64, 64]  # mean pooling from the GGUF metadata
        assert vectors[0] != vectors[1]
    finally:
        emb.close()


def test_default_path_is_in_the_user_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_model_path() == tmp_path / "modelbus" / "models" / "modelbus-tiny-random.gguf"


def test_ensure_builds_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_model_path: Path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    built = ensure_tiny_model()
    assert built == default_model_path() and _sha(built) == _sha(tiny_model_path)
    stamp = built.stat().st_mtime_ns
    assert ensure_tiny_model() == built
    assert built.stat().st_mtime_ns == stamp  # not rebuilt
    explicit = ensure_tiny_model(tmp_path / "x" / "m.gguf", seed=2)
    assert explicit.is_file() and _sha(explicit) != _sha(built)


def test_command_line_writes_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_model_path: Path
):
    out = tmp_path / "cli.gguf"
    assert main([str(out)]) == 0
    assert _sha(out) == _sha(tiny_model_path)
    assert str(out) in capsys.readouterr().out
    assert main([str(tmp_path / "s3.gguf"), "--seed", "3"]) == 0
    assert _sha(tmp_path / "s3.gguf") != _sha(out)
