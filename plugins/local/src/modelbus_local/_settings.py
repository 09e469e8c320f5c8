"""Settings of the ``local`` provider (the ``[providers.local]`` config section)."""

from __future__ import annotations

from typing import Any, Literal

import attrs
from attrs import field, frozen, validators

__all__ = ["SERVER_PRESETS", "LocalSettings"]

# Names accepted by ``server``; what each preset means (default base URL, quirks) lives in
# the server-mode module.
SERVER_PRESETS = ("auto", "ollama", "llamacpp", "vllm", "lmstudio")


def _positive(_inst: object, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attr.name} must be > 0, got {value!r}")


@frozen(kw_only=True)
class LocalSettings:
    """How to reach a local model.

    - ``backend``: ``"server"`` talks HTTP to a running OpenAI-compatible server (Ollama,
      llama.cpp's ``llama-server``, vLLM, LM Studio); ``"embedded"`` runs a GGUF file in
      this process through llama-cpp-python (``pip install 'modelbus-local[embedded]'``).
    - ``server``: which server ``base_url`` points at, one of ``auto`` (detect), ``ollama``,
      ``llamacpp``, ``vllm``, ``lmstudio``; used by the server backend only.
    - ``base_url``: the server's OpenAI-compatible base URL (``http://127.0.0.1:8080/v1``);
      ``None`` uses the preset's default. Server backend only.
    - ``model_path``: the ``.gguf`` file to load (embedded backend). ``None`` uses the tiny
      random-weights test model (``modelbus_local.ensure_tiny_model``), with a warning.
    - ``model``: the model name to report (and to send to a server); ``None`` means the
      GGUF file's stem (embedded) or the server's only model (server).
    - ``n_ctx``: context window in tokens (prompt + reply) of the embedded model.
    - ``n_threads``: CPU threads llama.cpp uses for the embedded model; ``None`` lets
      llama-cpp-python pick (about half the cores).
    - ``seed``: sampling seed of the embedded model when a request sets none; ``None`` uses
      llama.cpp's default seed. A request's ``seed`` always wins.
    - ``max_tokens``: reply length in tokens when a request sets neither ``max_tokens`` nor
      ``max_completion_tokens`` (llama-cpp-python would otherwise fill the whole context).
    - ``tool_calling``: ``native`` sends ``tools`` to the model, ``prompt`` describes them in
      the prompt and parses the reply, ``auto`` picks by what the server supports.
    - ``timeout_s``: seconds to wait for a server's answer (server backend only).
    - ``embedding_model_path``: the ``.gguf`` file for embeddings (embedded backend);
      ``None`` uses ``model_path`` in embedding mode.
    """

    backend: Literal["server", "embedded"] = field(
        default="server", validator=validators.in_(("server", "embedded"))
    )
    server: str = field(default="auto", validator=validators.in_(SERVER_PRESETS))
    base_url: str | None = None
    model_path: str | None = None
    model: str | None = None
    n_ctx: int = field(default=2048, validator=_positive)
    n_threads: int | None = field(default=None, validator=_positive)
    seed: int | None = None
    max_tokens: int = field(default=256, validator=_positive)
    tool_calling: Literal["native", "prompt", "auto"] = field(
        default="auto", validator=validators.in_(("native", "prompt", "auto"))
    )
    timeout_s: float = field(default=60.0, validator=_positive)
    embedding_model_path: str | None = None
