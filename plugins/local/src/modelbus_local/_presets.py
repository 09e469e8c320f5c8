"""The local OpenAI-compatible servers the ``local`` provider knows, and how they differ.

Each preset is a server family with its default base URL and the ways it departs from the
OpenAI API that the server backend has to handle (sources: each project's server docs,
and the recorded payloads in ``tests/fixtures/wire``, see PROVENANCE.md there):

- **ollama** (``http://127.0.0.1:11434/v1``): models also listed by ``GET /api/tags``
  (name, size, family, quantization); no tokenizer route; reasoning models put their
  reasoning in ``message.reasoning``; native ``tools`` on models whose template has them
  (400 "does not support tools" otherwise); ``response_format`` ``json_schema``.
- **llamacpp** (``http://127.0.0.1:8080/v1``): llama.cpp's ``llama-server``
  (``POST /tokenize``, ``POST /apply-template``, ``timings``, ``reasoning_content``,
  native tools with ``--jinja``) and llama-cpp-python's server (``POST /extras/tokenize``,
  no usage in streams, no native tools with plain chat templates, ``response_format``
  ``json_schema`` answered with HTTP 500). Both accept ``response_format``
  ``{"type": "json_object", "schema": ...}`` and a GBNF ``grammar``, which is how JSON is
  constrained here.
- **vllm** (``http://127.0.0.1:8000/v1``): ``POST /tokenize`` (text or chat messages),
  tool call ids ``chatcmpl-tool-<hex>``, ``stop_reason`` per choice, usage on every
  stream chunk with continuous usage stats; native tools only when started with
  ``--enable-auto-tool-choice --tool-call-parser ...`` (400 otherwise).
- **lmstudio** (``http://127.0.0.1:1234/v1``): OpenAI-shaped; no tokenizer route.

None of them implements the features of OpenAI's hosted platform
(:data:`PLATFORM_PARAMS`: service tiers, prompt-cache routing, stored completions,
predicted outputs, web search, audio output, ``verbosity``, ``safety_identifier``), and
each ignores such body keys in silence (llama-cpp-python's and vLLM's request models drop
unknown keys, Ollama's JSON decoder too), so the presets leave them out of the request
fields they honour (``Preset.params``): the client then drops them with a note or refuses
them by name. llama-cpp-python's server also reads neither ``max_completion_tokens``
(sent as ``max_tokens`` instead) nor ``reasoning_effort`` (its
``CreateChatCompletionRequest``). A ``generic`` server claims every field: it may be a
proxy to OpenAI itself.

``detect_kind`` tells the family from a ``GET /v1/models`` answer (its ``owned_by``),
so a server found on another family's port, or at a custom ``base_url``, is treated as
what it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from attrs import frozen

from modelbus.plugin import REQUEST_PARAMS

__all__ = [
    "GENERIC",
    "PLATFORM_PARAMS",
    "PRESETS",
    "Flavour",
    "Kind",
    "Preset",
    "detect_flavour",
    "detect_kind",
    "preset",
    "root_url",
]

Kind = Literal["ollama", "llamacpp", "vllm", "lmstudio", "generic"]
# Which implementation of a family answers: llama.cpp's own ``llama-server`` and
# llama-cpp-python's server share the ``llamacpp`` preset but not their extra routes.
Flavour = Literal["llama-server", "llama-cpp-python", "other"]


@frozen
class Preset:
    """A server family: ``name`` (the ``server`` setting), ``base_url`` (its default
    OpenAI-compatible root, ``/v1`` included), ``start_hint`` (how to start it, for
    error messages) and ``json_schema_via``: how a JSON schema constrains the reply —
    ``"json_object"`` sends ``response_format = {"type": "json_object", "schema": S}``
    (llama.cpp and llama-cpp-python), ``"json_schema"`` the OpenAI form
    ``{"type": "json_schema", "json_schema": {"name": ..., "schema": S}}``, ``None``
    leaves the reply unconstrained. ``params``: the request fields the family honours
    (``Capabilities.params``; ``None``: every field)."""

    name: Kind
    base_url: str
    start_hint: str
    json_schema_via: Literal["json_object", "json_schema"] | None
    params: frozenset[str] | None = None


#: OpenAI-platform request fields no local server implements (module doc).
PLATFORM_PARAMS = frozenset(
    (
        "service_tier",
        "prompt_cache_key",
        "store",
        "metadata",
        "prediction",
        "web_search_options",
        "modalities",
        "verbosity",
        "safety_identifier",
    )
)
_SERVER_PARAMS = REQUEST_PARAMS - PLATFORM_PARAMS


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "ollama",
            "http://127.0.0.1:11434/v1",
            "start it with `ollama serve`",
            "json_schema",
            _SERVER_PARAMS,
        ),
        Preset(
            "llamacpp",
            "http://127.0.0.1:8080/v1",
            "start it with `llama-server -m MODEL.gguf` (or `python -m llama_cpp.server "
            "--model MODEL.gguf --port 8080`)",
            "json_object",
            _SERVER_PARAMS - {"max_completion_tokens", "reasoning_effort"},
        ),
        Preset(
            "vllm",
            "http://127.0.0.1:8000/v1",
            "start it with `vllm serve MODEL`",
            "json_schema",
            _SERVER_PARAMS,
        ),
        Preset(
            "lmstudio",
            "http://127.0.0.1:1234/v1",
            "start LM Studio's server (`lms server start`)",
            "json_schema",
            _SERVER_PARAMS,
        ),
    )
}
GENERIC = Preset("generic", "", "check that the server at base_url is running", None)

# ``owned_by`` of ``GET /v1/models`` entries, per family: llama-server says "llamacpp",
# llama-cpp-python "me", vLLM "vllm", Ollama "library" (its model namespace), LM Studio
# "organization_owner".
_OWNED_BY: dict[str, tuple[Kind, Flavour]] = {
    "llamacpp": ("llamacpp", "llama-server"),
    "me": ("llamacpp", "llama-cpp-python"),
    "vllm": ("vllm", "other"),
    "library": ("ollama", "other"),
    "ollama": ("ollama", "other"),
    "organization_owner": ("lmstudio", "other"),
}


def preset(kind: str) -> Preset:
    """The preset called ``kind`` (``generic`` for anything else)."""
    return PRESETS.get(kind, GENERIC)


def _owners(models_body: Mapping[str, Any] | None) -> list[str]:
    data = (models_body or {}).get("data")
    if not isinstance(data, list):
        return []
    return [str(m.get("owned_by")) for m in data if isinstance(m, Mapping)]


def detect_kind(models_body: Mapping[str, Any] | None, default: str = "generic") -> str:
    """The server family behind a ``GET /v1/models`` body, from its entries' ``owned_by``;
    ``default`` (the preset whose port answered, or ``generic``) when it does not say."""
    for owner in _owners(models_body):
        if owner in _OWNED_BY:
            return _OWNED_BY[owner][0]
    return default


def detect_flavour(models_body: Mapping[str, Any] | None) -> Flavour:
    """``llama-server`` or ``llama-cpp-python`` for the llama.cpp family, else ``other``."""
    for owner in _owners(models_body):
        if owner in _OWNED_BY:
            return _OWNED_BY[owner][1]
    return "other"


def root_url(base_url: str) -> str:
    """The server root for routes outside the OpenAI API (``/tokenize``, ``/api/tags``):
    ``base_url`` without a trailing ``/v1``."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base
