"""A tiny random-weights llama model in GGUF, for tests, examples and ``modelbus doctor``.

The model is a real llama-architecture network (2 layers, width 64, 4 query heads over
2 key/value heads, SwiGLU feed-forward) with a byte-fallback SentencePiece vocabulary
(``tokenizer.ggml.model = "llama"``) of 618 tokens and a ChatML chat template. Its
weights are seeded noise, so it "answers" with random text, but everything around the
weights is exercised for real by llama.cpp: tokenizer, chat template, sampling,
grammars, streaming, usage and embeddings. The file is 628 KB (float32), builds in
about 6 ms and loads in about 4 ms.

Three choices make the noise convenient for tests:

- Dimension 0 of every token embedding is 1.0 and no layer writes to it, so after the
  final RMS norm it is always positive. The output rows of the control tokens
  (``<s>``, ``</s>``, ``<|im_start|>``, ``<|im_end|>``, ``<unk>``) and of the byte
  tokens other than printable ASCII and newline carry a large negative weight on that dimension: the
  model never samples them on its own. Replies are therefore valid UTF-8 text and always
  run to ``max_tokens`` (``finish_reason="length"``) unless a stop sequence or a grammar
  ends them; a grammar that is complete still ends the reply with ``<|im_end|>``, because
  llama.cpp's grammar sampler leaves it as the only candidate.
- ``<|im_end|>`` is the end-of-sequence token and no BOS is added, as in ChatML models
  (Qwen...): the chat template alone frames the prompt, whichever tokenize call
  (with or without special tokens added) a server uses.
- ``llama.pooling_type`` is mean pooling, so llama.cpp's embedding mode returns one
  vector per input.

Tensor names, shapes and metadata keys are those written by llama.cpp's
``convert_hf_to_gguf.py`` for ``LlamaForCausalLM`` (names from ``gguf.TENSOR_NAMES``;
numpy arrays in PyTorch ``(out_features, in_features)`` order, which GGUF stores
reversed as ggml expects). The bytes are a function of ``seed`` alone (for given numpy
and gguf versions): numpy's ``default_rng`` (PCG64) draws the weights and
:class:`gguf.GGUFWriter` writes metadata in insertion order with no timestamp.

Command line: ``python -m modelbus_local.tiny_model OUT.gguf [--seed N]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "CHAT_TEMPLATE",
    "MODEL_NAME",
    "build_tiny_model",
    "default_model_path",
    "ensure_tiny_model",
    "main",
]

MODEL_NAME = "modelbus-tiny-random"

# ChatML, as Qwen and many llama.cpp models use it; rendered by llama-cpp-python's
# Jinja2ChatFormatter (and by any HF-compatible renderer).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Shape of the network. head_dim = N_EMBD / N_HEAD = 16.
N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
N_CTX_TRAIN = 2048
RMS_EPS = 1e-5
ROPE_THETA = 10000.0

_SPACE = "\u2581"  # SentencePiece's "▁", which stands for a space
_WORD_TEXT = (
    "the of and to in is you that it he was for on are as with his they at be this have "
    "from or one had by word but not what all were we when your can said there use an "
    "each which she do how their if will up other about out many then them these so some "
    "her would make like him into time has look two more write go see number no way "
    "could people my than first water been call who its now find long down day did get "
    "come made may part hello world model bus token user assistant system json true "
    "false null yes name value answer test"
)
_WORDS = _WORD_TEXT.split()

_SUPPRESS = -40.0  # weight on dimension 0 of the output rows the model must never pick


def _vocabulary() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types (``gguf.TokenType`` values), in id order."""
    from gguf import TokenType

    tokens: list[str] = ["<unk>", "<s>", "</s>"]
    types: list[int] = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    tokens += ["<|im_start|>", "<|im_end|>"]
    types += [TokenType.CONTROL, TokenType.CONTROL]
    scores = [0.0] * len(tokens)

    # Normal pieces, most "frequent" first as SentencePiece orders them; the score is the
    # negated rank. llama.cpp's SPM tokenizer merges adjacent symbols only when the merged
    # text is itself a piece, so every prefix of a word piece is a piece too.
    pieces: list[str] = [_SPACE]
    pieces += [chr(c) for c in range(0x21, 0x7F)]
    for word in _WORDS:
        for end in range(2, len(word) + 2):
            pieces.append((_SPACE + word)[:end])
    seen: set[str] = set(tokens)
    for piece in pieces:
        if piece in seen:
            continue
        seen.add(piece)
        tokens.append(piece)
        scores.append(-float(len(scores)))
        types.append(TokenType.NORMAL)
    return tokens, scores, types


def _suppressed(tokens: Sequence[str], types: Sequence[int]) -> np.ndarray:
    """Boolean mask of the ids the model must not sample on its own."""
    from gguf import TokenType

    mask = np.zeros(len(tokens), dtype=bool)
    for i, (tok, ty) in enumerate(zip(tokens, types, strict=True)):
        if ty in (TokenType.CONTROL, TokenType.UNKNOWN):
            mask[i] = True
        elif ty == TokenType.BYTE:
            b = int(tok[3:5], 16)
            mask[i] = not (b == 0x0A or 0x20 <= b <= 0x7E)
    return mask


def _tensors(n_vocab: int, suppressed: np.ndarray, seed: int) -> list[tuple[str, np.ndarray]]:
    """The named float32 tensors of the model, in file order."""
    import gguf

    rng = np.random.default_rng(seed)
    names = gguf.TENSOR_NAMES
    T = gguf.MODEL_TENSOR
    head_dim = N_EMBD // N_HEAD

    def normal(shape: tuple[int, ...], std: float) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    embd = normal((n_vocab, N_EMBD), 0.5)
    embd[:, 0] = 1.0  # the always-positive channel (see module docstring)
    out: list[tuple[str, np.ndarray]] = [(names[T.TOKEN_EMBD] + ".weight", embd)]
    for bid in range(N_LAYER):

        def name(t: gguf.MODEL_TENSOR, b: int = bid) -> str:
            return names[t].format(bid=b) + ".weight"

        attn_out = normal((N_EMBD, N_EMBD), 0.05)
        ffn_down = normal((N_EMBD, N_FF), 0.05)
        attn_out[0, :] = 0.0  # layers never write the always-positive channel
        ffn_down[0, :] = 0.0
        out += [
            (name(T.ATTN_NORM), np.ones(N_EMBD, dtype=np.float32)),
            (name(T.ATTN_Q), normal((N_HEAD * head_dim, N_EMBD), 0.2)),
            (name(T.ATTN_K), normal((N_HEAD_KV * head_dim, N_EMBD), 0.2)),
            (name(T.ATTN_V), normal((N_HEAD_KV * head_dim, N_EMBD), 0.2)),
            (name(T.ATTN_OUT), attn_out),
            (name(T.FFN_NORM), np.ones(N_EMBD, dtype=np.float32)),
            (name(T.FFN_GATE), normal((N_FF, N_EMBD), 0.2)),
            (name(T.FFN_UP), normal((N_FF, N_EMBD), 0.2)),
            (name(T.FFN_DOWN), ffn_down),
        ]
    output = normal((n_vocab, N_EMBD), 0.3)
    output[:, 0] = np.where(suppressed, _SUPPRESS, 0.0)
    out.append((names[T.OUTPUT_NORM] + ".weight", np.ones(N_EMBD, dtype=np.float32)))
    out.append((names[T.OUTPUT] + ".weight", output))
    return out


def build_tiny_model(path: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Write the tiny random model to ``path`` (a ``.gguf`` file) and return it as a Path.

    The same ``seed`` gives the same bytes. The file is written to a temporary name in the
    same directory and renamed into place, so a concurrent reader never sees half a file.
    Raises ``OSError`` if the directory cannot be created or written.
    """
    import gguf

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tokens, scores, types = _vocabulary()
    eos = tokens.index("<|im_end|>")

    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        w = gguf.GGUFWriter(tmp_name, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
        w.add_name(MODEL_NAME)
        w.add_description("random weights; for tests only (modelbus-local)")
        w.add_file_type(gguf.LlamaFileType.ALL_F32)
        w.add_vocab_size(len(tokens))
        w.add_context_length(N_CTX_TRAIN)
        w.add_embedding_length(N_EMBD)
        w.add_block_count(N_LAYER)
        w.add_feed_forward_length(N_FF)
        w.add_head_count(N_HEAD)
        w.add_head_count_kv(N_HEAD_KV)
        w.add_rope_dimension_count(N_EMBD // N_HEAD)
        w.add_rope_freq_base(ROPE_THETA)
        w.add_layer_norm_rms_eps(RMS_EPS)
        w.add_pooling_type(gguf.PoolingType.MEAN)
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_unk_token_id(0)
        w.add_bos_token_id(1)
        w.add_eos_token_id(eos)
        w.add_add_bos_token(False)
        w.add_add_eos_token(False)
        w.add_add_space_prefix(True)
        w.add_chat_template(CHAT_TEMPLATE)
        for name, data in _tensors(len(tokens), _suppressed(tokens, types), seed):
            w.add_tensor(name, data)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def default_model_path() -> Path:
    """Where :func:`ensure_tiny_model` keeps the model: ``<user data dir>/models/
    modelbus-tiny-random.gguf`` (platformdirs; ``~/.local/share/modelbus`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("modelbus")) / "models" / f"{MODEL_NAME}.gguf"


def ensure_tiny_model(path: str | os.PathLike[str] | None = None, *, seed: int = 0) -> Path:
    """The tiny model at ``path`` (default :func:`default_model_path`), built if missing."""
    target = Path(path) if path is not None else default_model_path()
    if not target.is_file():
        build_tiny_model(target, seed=seed)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m modelbus_local.tiny_model OUT.gguf [--seed N]``: build and print the path."""
    parser = argparse.ArgumentParser(
        prog="python -m modelbus_local.tiny_model",
        description="Write the tiny random-weights llama GGUF model used by modelbus tests.",
    )
    parser.add_argument(
        "out",
        nargs="?",
        help="output file (default: %(default)s)",
        default=str(default_model_path()),
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    path = build_tiny_model(args.out, seed=args.seed)
    print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
