"""Loading GGUF models with llama-cpp-python, once per process and settings.

llama-cpp-python is imported here lazily (inside functions), never at module import, so
``import modelbus_local`` works without it. A loaded model is a :class:`LoadedModel`: the
``llama_cpp.Llama`` object, the lock that serialises every call on it (a llama.cpp
context is not thread-safe) and the chat formatter used both to generate and to count.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import field, frozen

from modelbus.errors import ConfigError, PluginError

__all__ = [
    "GGUF_MAGIC",
    "LoadedModel",
    "ModelKey",
    "check_gguf",
    "clear_model_cache",
    "load_model",
    "require_llama_cpp",
]

GGUF_MAGIC = b"GGUF"
INSTALL_HINT = "pip install 'modelbus-local[embedded]'"

# Used when a GGUF file has no tokenizer.chat_template (ChatML, as in tiny_model).
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def require_llama_cpp() -> None:
    """Raise :class:`PluginError` with the install command if llama-cpp-python is missing."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise PluginError(
            "the local provider's embedded backend needs llama-cpp-python, which is not "
            f"installed; install it with: {INSTALL_HINT}",
            plugin="modelbus-local",
        )


def check_gguf(path: str | Path, *, key: str) -> Path:
    """``path`` resolved, after checking that it is a readable GGUF file.

    llama.cpp reports a wrong file with cryptic messages (or crashes), so the 4-byte magic
    ``GGUF`` (GGUF spec, ggml/docs/gguf.md) is checked here first. Raises
    :class:`ConfigError` naming ``key`` and the path when the file is missing, is a
    directory, cannot be read or does not start with the magic.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"model file {str(p)!r} does not exist", key=key)
    if not p.is_file():
        raise ConfigError(f"model path {str(p)!r} is not a file", key=key)
    try:
        with p.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise ConfigError(f"cannot read model file {str(p)!r}: {exc}", key=key) from exc
    if head != GGUF_MAGIC:
        raise ConfigError(
            f"model file {str(p)!r} is not a GGUF file: it starts with {head!r}, expected "
            f"{GGUF_MAGIC!r} (convert it with llama.cpp's convert_hf_to_gguf.py)",
            key=key,
        )
    return p.resolve()


@frozen
class ModelKey:
    """What makes two loads of a model the same: the file (path, size and mtime, so a
    rebuilt file is reloaded), the context size in tokens, threads, seed and mode.
    ``vocab_only`` loads the tokenizer and metadata without the weights (token counting
    for a server that runs the same file)."""

    path: str
    size: int
    mtime_ns: int
    n_ctx: int
    n_threads: int | None
    seed: int | None
    embedding: bool
    vocab_only: bool = False

    @classmethod
    def of(
        cls,
        path: Path,
        *,
        n_ctx: int,
        n_threads: int | None,
        seed: int | None,
        embedding: bool,
        vocab_only: bool = False,
    ) -> ModelKey:
        st = path.stat()
        return cls(
            str(path), st.st_size, st.st_mtime_ns, n_ctx, n_threads, seed, embedding, vocab_only
        )


@frozen(eq=False)
class LoadedModel:
    """A loaded ``llama_cpp.Llama`` (``llama``), the lock every use must hold, and the chat
    formatter (a ``llama_cpp.llama_chat_format.Jinja2ChatFormatter``) built from the
    file's ``tokenizer.chat_template``."""

    key: ModelKey
    llama: Any
    formatter: Any
    lock: threading.Lock = field(factory=threading.Lock)

    @property
    def n_ctx(self) -> int:
        """The context window in tokens."""
        return int(self.llama.n_ctx())

    def tokenize(self, text: str, *, special: bool = False, add_bos: bool = False) -> list[int]:
        """Token ids of ``text`` (caller holds :attr:`lock`)."""
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def prompt_tokens(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Any] | None = None
    ) -> list[int]:
        """The prompt tokens llama-cpp-python's chat handler builds for ``messages``: the
        chat template rendered by :attr:`formatter`, tokenized with special tokens parsed
        and BOS added unless the template added it (``chat_formatter_to_chat_completion_handler``).
        """
        result = self.formatter(messages=list(messages), tools=list(tools) if tools else None)
        return self.tokenize(result.prompt, special=True, add_bos=not result.added_special)

    def grammar(self, gbnf: str) -> Any:
        """A ``llama_cpp.LlamaGrammar`` for the GBNF text ``gbnf`` (start rule ``root``),
        after checking that llama.cpp accepts it: llama-cpp-python hands an unparsable
        grammar's NULL sampler to llama.cpp, which then crashes the process. Raises
        ``ValueError`` naming the problem (llama.cpp prints the parse error to stderr)."""
        import llama_cpp
        from llama_cpp.llama_grammar import LlamaGrammar

        sampler = llama_cpp.llama_sampler_init_grammar(
            llama_cpp.llama_model_get_vocab(self.llama.model), gbnf.encode("utf-8"), b"root"
        )
        if not sampler:
            first = gbnf.strip().splitlines()[0] if gbnf.strip() else ""
            raise ValueError(
                "llama.cpp rejected the GBNF grammar (it needs a 'root' rule and valid "
                f"GBNF syntax; first line: {first[:80]!r})"
            )
        llama_cpp.llama_sampler_free(sampler)
        return LlamaGrammar.from_string(gbnf, verbose=False)


_models: dict[ModelKey, LoadedModel] = {}
_models_lock = threading.Lock()


def load_model(key: ModelKey) -> LoadedModel:
    """The model for ``key``, loaded on first use and then shared by every provider in the
    process. Raises :class:`PluginError` when llama-cpp-python is missing and
    :class:`ConfigError` when llama.cpp cannot load the file."""
    with _models_lock:
        loaded = _models.get(key)
        if loaded is None:
            loaded = _load(key)
            _models[key] = loaded
        return loaded


def clear_model_cache() -> int:
    """Close and forget every loaded model; returns how many were closed. Providers that
    still hold one keep a working object until they drop it."""
    with _models_lock:
        items = list(_models.values())
        _models.clear()
    for m in items:
        with m.lock:
            m.llama.close()
    return len(items)


def _load(key: ModelKey) -> LoadedModel:
    require_llama_cpp()
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    kwargs: dict[str, Any] = {
        "model_path": key.path,
        "n_ctx": key.n_ctx,
        "embedding": key.embedding,
        "vocab_only": key.vocab_only,
        "verbose": False,
    }
    if key.n_threads is not None:
        kwargs["n_threads"] = key.n_threads
        kwargs["n_threads_batch"] = key.n_threads
    if key.seed is not None:
        kwargs["seed"] = key.seed
    try:
        if key.vocab_only:
            # Without weights llama.cpp reads no training context and warns, on the
            # process's stderr, that n_ctx overflows it; nothing is generated here.
            from llama_cpp._utils import suppress_stdout_stderr

            with suppress_stdout_stderr(disable=False):
                llm = llama_cpp.Llama(**kwargs)
        else:
            llm = llama_cpp.Llama(**kwargs)
            if key.embedding and int(llm.pooling_type()) == llama_cpp.LLAMA_POOLING_TYPE_NONE:
                # The file declares no pooling (chat models' GGUFs never do), so llama.cpp
                # would give one vector per token: reloaded with mean pooling, one vector
                # per text (the weights are memory-mapped, so this costs a fraction of a
                # second). A file that declares mean, CLS or last-token pooling keeps it.
                llm.close()
                llm = llama_cpp.Llama(**kwargs, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN)
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"llama.cpp could not load {key.path!r}: {exc}") from exc

    eos, bos = llm.token_eos(), llm.token_bos()
    template = llm.metadata.get("tokenizer.chat_template") or FALLBACK_CHAT_TEMPLATE
    # Built as llama-cpp-python builds its own "chat_template.default" handler, and made
    # the handler, so that counting (prompt_tokens) and generation use one formatter.
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=_token_text(llm, eos),
        bos_token=_token_text(llm, bos),
        stop_token_ids=[eos] if eos >= 0 else None,
    )
    llm.chat_handler = formatter.to_chat_handler()
    return LoadedModel(key, llm, formatter)


def _token_text(llm: Any, token: int) -> str:
    if token < 0:
        return ""
    return bytes(llm.detokenize([token], special=True)).decode("utf-8", errors="replace")
