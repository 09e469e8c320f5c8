"""The ``local`` provider's server backend: a local OpenAI-compatible server (Ollama,
llama.cpp, vLLM, LM Studio, any ``base_url``) through modelbus-openai's provider.

Requests, responses, streams and errors go through
:class:`modelbus_openai.OpenAICompatibleProvider` (the openai SDK pointed at the local
base URL, the core converter, the OpenAI error mapping). What this class adds is what
the local servers do differently (see ``_presets`` for the list):

- no key: a dummy ``sk-no-key-required`` is sent unless ``api_key`` is set, so the SDK
  never sends ``$OPENAI_API_KEY`` to a local server;
- ``response_format`` ``json_schema`` is sent as ``json_object`` + ``schema`` to the
  llama.cpp family (llama-cpp-python's server answers ``json_schema`` with HTTP 500);
- tool calling natively or by prompt (``_prompt_tools``), chosen by ``tool_calling``;
  ``auto`` uses prompt mode on llama-cpp-python's server (which ignores ``tools`` with
  plain chat templates) and switches a model to prompt mode when the server rejects
  ``tools`` (Ollama's "does not support tools", vLLM without
  ``--enable-auto-tool-choice``);
- tool calls without an ``id`` get one (``call_<hex>``);
- ``/embeddings`` answered with token vectors (llama-cpp-python's server, which has no
  pooling setting) are mean-pooled here, as the embedded backend pools (``_pooling``);
- a missing ``usage`` (llama-cpp-python's streams) is counted with the server's tokenizer
  and marked: ``usage.estimated`` is True, ``extra["usage_counted_by"]`` says how;
- a server that is down gives an error naming its URL and how to start it;
- models: ``GET /v1/models``, and Ollama's ``GET /api/tags`` for sizes and details.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from modelbus.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ConfigError,
    ProviderError,
)
from modelbus.plugin import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Message,
    Secret,
    ToolSpec,
    get_logger,
    identity_with_credential,
)
from modelbus.protocols import Capabilities
from modelbus_openai import OpenAICompatibleProvider
from modelbus_openai._embeddings import join_embeddings

from ._pooling import arun_flow, embedding_flow, run_flow
from ._presets import detect_flavour, preset, root_url
from ._prompt_tools import has_tool_turns, prompt_request
from ._replies import (
    afill_stream,
    answer_of,
    answer_request,
    fill_stream,
    finish_response,
    needs_counting,
    repeats,
)
from ._server_tokens import ServerTokenCounter
from ._settings import LocalSettings

__all__ = ["NO_KEY", "LocalServerProvider"]

#: What is sent as the API key to a server that needs none (llama.cpp's README uses it).
NO_KEY = "sk-no-key-required"
_EMBEDDINGS = "the embeddings response"


class LocalServerProvider(OpenAICompatibleProvider):
    """The server backend of the ``local`` provider (see the module docstring).

    Args:
        settings: ``[providers.local]``; ``server`` names the preset (``"auto"`` here
            means an unknown family, ``generic``), ``base_url`` overrides its URL.
        name: the registered provider name.
        kind: the server family when known (found by the ``auto`` probe), else
            ``settings.server``.
        base_url: the URL to use (the probe's), else ``settings.base_url`` or the preset's.
        models: the ``GET /models`` body when already fetched (by the probe).

    Raises :class:`ConfigError` when ``model_path`` is set but is not a GGUF file. Calls
    raise the mapped :class:`~modelbus.errors.ProviderError` subclasses;
    :class:`APIConnectionError` / :class:`APITimeoutError` name the server's URL.
    """

    def __init__(
        self,
        settings: LocalSettings,
        *,
        name: str = "local",
        kind: str | None = None,
        base_url: str | None = None,
        models: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.kind = kind or (settings.server if settings.server != "auto" else "generic")
        self.preset = preset(self.kind)
        base = (base_url or settings.base_url or self.preset.base_url).rstrip("/")
        if not base:
            raise ConfigError(
                f"server = {settings.server!r} needs base_url", key=f"providers.{name}.base_url"
            )
        self.model_path: Path | None = None
        if settings.model_path is not None:
            from ._llama import check_gguf

            self.model_path = check_gguf(settings.model_path, key=f"providers.{name}.model_path")
        self._model: str | None = settings.model
        self._models_body: Mapping[str, Any] | None = models
        self._prompt_models: set[str] = set()
        # embedding models the server answers with token vectors (see _pooling)
        self._token_models: set[str] = set()
        self._local: Any = None
        self._local_lock = threading.Lock()
        super().__init__(
            name=name,
            base_url=base,
            api_key=settings.api_key or Secret(NO_KEY, source="modelbus-local"),
            timeout_s=settings.timeout_s,
            connect_timeout_s=min(5.0, settings.timeout_s),
            max_response_bytes=settings.max_response_bytes,
            default_model=settings.model,
            # The placeholder key is no credential: only a configured one is fingerprinted.
            cache_identity=identity_with_credential(f"{self.kind}:{base}", settings.api_key),
            # JSON floats: not every local server knows encoding_format = "base64"
            embedding_encoding=None,
            capabilities=Capabilities(
                embeddings=True,
                tools=True,
                json_schema=self.kind != "generic",
                json_object=True,
                grammar=self.kind == "llamacpp",
                vision=self.kind in ("ollama", "vllm", "lmstudio"),
                params=self.preset.params,
            ),
        )
        self.root = root_url(self.base_url)
        self.token_counter = ServerTokenCounter(self)

    def __enter__(self) -> LocalServerProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the server is --------------------------------------------------------------
    @property
    def default_model(self) -> str | None:
        """``model`` from the settings, else the server's model (the first listed, with a
        warning when it lists several). Asks the server on first use; raises
        :class:`ConfigError` when it lists none."""
        if self._model is None:
            ids = [str(m.get("id")) for m in self.models_body().get("data") or []]
            if not ids:
                raise ConfigError(
                    f"the local server at {self.base_url} lists no models; load or pull one "
                    "(e.g. `ollama pull llama3.2`) or set model",
                    key=f"providers.{self.name}.model",
                )
            if len(ids) > 1:
                get_logger("modelbus.local").warning(
                    "local.model_picked",
                    model=ids[0],
                    available=ids,
                    base_url=self.base_url,
                    detail=f"no model set; using the first the server lists; set "
                    f"[providers.{self.name}] model to choose",
                )
            self._model = ids[0]
        return self._model

    @default_model.setter
    def default_model(self, value: str | None) -> None:
        self._model = value

    def models_body(self) -> Mapping[str, Any]:
        """The ``GET /models`` body (fetched once)."""
        if self._models_body is None:
            with self._reach():
                self._models_body = self.get_json(self.models_path, "the model list")
        return self._models_body

    @property
    def flavour(self) -> str:
        """``llama-server``, ``llama-cpp-python`` or ``other`` (from ``GET /models``)."""
        return detect_flavour(self.models_body()) if self.kind == "llamacpp" else "other"

    def list_models(self) -> list[dict[str, Any]]:
        """The server's models in OpenAI's shape (``id``, ``object``, ``owned_by``...).
        Ollama: from ``GET /api/tags`` (every Ollama version has it), with ``size``
        (bytes), ``modified_at`` and ``details`` (family, parameter_size,
        quantization_level) added; ``/v1/models`` when ``/api/tags`` is missing."""
        with self._reach():
            if self.kind == "ollama":
                try:
                    tags = self.get_json(self.root + "/api/tags", "the Ollama model list")
                except ProviderError as exc:
                    if exc.status_code != 404:
                        raise
                else:
                    return [_ollama_model(m) for m in tags.get("models") or []]
            return super().list_models()

    def local_template(self) -> Any:
        """The vocabulary-only llama.cpp model of ``model_path`` (chat template and
        tokenizer of the file the server runs), or ``None`` when no ``model_path`` is set
        or llama-cpp-python is not installed."""
        if self.model_path is None:
            return None
        import importlib.util

        if importlib.util.find_spec("llama_cpp") is None:
            return None
        with self._local_lock:
            if self._local is None:
                from ._llama import ModelKey, load_model

                key = ModelKey.of(
                    self.model_path,
                    n_ctx=self.settings.n_ctx,
                    n_threads=1,
                    seed=None,
                    embedding=False,
                    vocab_only=True,
                )
                self._local = load_model(key)
        return self._local

    # -- request shaping -----------------------------------------------------------------
    def tool_mode(self, model: str) -> str:
        """``native`` or ``prompt`` for tool calls to ``model`` (see ``tool_calling``)."""
        mode = self.settings.tool_calling
        if mode != "auto":
            return mode
        if model in self._prompt_models:
            return "prompt"
        if self.kind == "llamacpp" and self.flavour == "llama-cpp-python":
            return "prompt"
        return "native"

    def _ignores_native_tools(self, req: ChatRequest) -> bool:
        """True for tools sent natively to llama-cpp-python's server, which answers them
        as if there were none unless ``tool_choice`` names a function (then its chat
        handler constrains the reply to that function's arguments)."""
        if not req.tools or req.tool_choice == "none" or isinstance(req.tool_choice, Mapping):
            return False
        return self.kind == "llamacpp" and self.flavour == "llama-cpp-python"

    def _constraint(self, schema: dict[str, Any]) -> dict[str, Any]:
        via = self.preset.json_schema_via
        if via == "json_object":
            return {"response_format": {"type": "json_object", "schema": schema}}
        if via == "json_schema":
            rf = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
            return {"response_format": rf}
        return {}

    def outgoing(self, request: ChatRequest, mode: str | None = None) -> ChatRequest:
        """``request`` as sent to this server (tools in the prompt in prompt mode, JSON
        schemas in the form the server accepts)."""
        req = request
        mode = mode or (
            self.tool_mode(req.model) if req.tools or has_tool_turns(req.messages) else None
        )
        if mode == "native" and self._ignores_native_tools(req):
            raise BadRequestError(
                "llama-cpp-python's server ignores tools with a model's own chat template "
                "(it reads them only with its function-calling chat formats, or for a "
                "tool_choice naming one function), so this request would be answered as if "
                f'it had none; set [providers.{self.name}] tool_calling = "prompt" or '
                '"auto" (the default)',
                provider=self.name,
                code="unsupported_parameter",
                retryable=False,
            )
        if mode == "prompt":
            try:
                req = prompt_request(req, self._constraint)
            except ValueError as exc:
                raise BadRequestError(
                    str(exc), provider=self.name, code="invalid_tool_choice", retryable=False
                ) from exc
        rf = req.response_format
        if rf and rf.get("type") == "json_schema" and self.preset.json_schema_via == "json_object":
            schema = (rf.get("json_schema") or {}).get("schema")
            req = attrs.evolve(req, response_format={"type": "json_object", "schema": schema})
        return req

    def as_sent(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] | None, model: str = ""
    ) -> tuple[tuple[Message, ...], tuple[ToolSpec, ...] | None]:
        """Messages and tools as a request with them is sent (for token counting)."""
        if not tools and not has_tool_turns(messages):
            return tuple(messages), None
        req = ChatRequest(
            model=model or (self._model or ""),
            messages=tuple(messages),
            tools=tuple(tools) if tools else None,
        )
        sent = self.outgoing(req)
        return sent.messages, sent.tools

    # -- errors --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reach(self) -> Iterator[None]:
        """Re-raise connection failures naming the server and how to start it."""
        try:
            yield
        except (APIConnectionError, APITimeoutError) as exc:
            raise type(exc)(
                f"local server ({self.kind}) at {self.base_url}: {exc.message}",
                provider=self.name,
                request_id=exc.request_id,
                hint=f"is it running? {self.preset.start_hint}; or set [providers.{self.name}] "
                "base_url",
            ) from exc

    def _rejects_tools(self, exc: ProviderError, request: ChatRequest) -> bool:
        """A native-tools request refused because of ``tools`` (then prompt mode is used
        for that model, when ``tool_calling = "auto"``)."""
        if self.settings.tool_calling != "auto" or not request.tools:
            return False
        if not isinstance(exc, BadRequestError) and exc.status_code not in (500, 501):
            return False
        return "tool" in f"{exc.message} {exc.body}".lower()

    def _fall_back(self, model: str, exc: ProviderError) -> None:
        self._prompt_models.add(model)
        get_logger("modelbus.local").info(
            "local.prompt_tools",
            model=model,
            base_url=self.base_url,
            detail=f"the server refused native tools ({exc.message[:120]}); using "
            "prompt-based function calling for this model",
        )

    # -- calls ---------------------------------------------------------------------------
    def chat(self, request: ChatRequest) -> ChatResponse:
        """One chat completion (see the module docstring for what is adapted)."""
        sent = self.outgoing(request)
        with self._reach():
            try:
                resp = super().chat(sent)
            except ProviderError as exc:
                if sent.tools is None or not self._rejects_tools(exc, request):
                    raise
                self._fall_back(request.model, exc)
                sent = self.outgoing(request, "prompt")
                resp = super().chat(sent)
        resp = finish_response(self, request, sent, resp)
        if repeats(request, sent, resp.tool_calls):
            return answer_of(resp, self.chat(answer_request(request)))
        return resp

    async def achat(self, request: ChatRequest) -> ChatResponse:
        """The async twin of :meth:`chat` (token counting for a missing usage runs in a
        worker thread)."""
        import asyncio

        sent = self.outgoing(request)
        with self._reach():
            try:
                resp = await super().achat(sent)
            except ProviderError as exc:
                if sent.tools is None or not self._rejects_tools(exc, request):
                    raise
                self._fall_back(request.model, exc)
                sent = self.outgoing(request, "prompt")
                resp = await super().achat(sent)
        if needs_counting(resp):
            resp = await asyncio.to_thread(finish_response, self, request, sent, resp)
        else:
            resp = finish_response(self, request, sent, resp)
        if repeats(request, sent, resp.tool_calls):
            return answer_of(resp, await self.achat(answer_request(request)))
        return resp

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """Stream chunks. Prompt mode buffers the reply (it is JSON to parse) and gives
        it at the end; a stream without usage ends with a counted, marked usage chunk."""
        sent = self.outgoing(request)
        with self._reach():
            chunks = super().stream(sent)
            try:
                first = next(chunks, None)
            except ProviderError as exc:
                if sent.tools is None or not self._rejects_tools(exc, request):
                    raise
                self._fall_back(request.model, exc)
                sent = self.outgoing(request, "prompt")
                chunks = super().stream(sent)
                first = next(chunks, None)
        # past the first chunk the server is reached: a cut later is not "is it running?"
        yield from fill_stream(self, request, sent, first, chunks)

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """The async twin of :meth:`stream`."""
        sent = self.outgoing(request)
        with self._reach():
            chunks = super().astream(sent)
            try:
                first = await anext(chunks, None)
            except ProviderError as exc:
                if sent.tools is None or not self._rejects_tools(exc, request):
                    raise
                self._fall_back(request.model, exc)
                sent = self.outgoing(request, "prompt")
                chunks = super().astream(sent)
                first = await anext(chunks, None)
        async for chunk in afill_stream(self, request, sent, first, chunks):
            yield chunk

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """``POST /embeddings`` (the server's embedding model or mode): one vector per
        text, L2-normalised by the server or, where it sends token vectors
        (llama-cpp-python's server with a chat model), mean-pooled here (``_pooling``)."""
        model = self.wire_embedding_model(request.model)
        flow = embedding_flow(self._batches(request), one_by_one=model in self._token_models)
        with self._reach():
            parts, token_vectors = run_flow(
                flow, lambda body: self.post_json(self.embeddings_path, body, _EMBEDDINGS)
            )
        return self._joined(request, model, parts, token_vectors)

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """The async twin of :meth:`embed`."""
        model = self.wire_embedding_model(request.model)
        flow = embedding_flow(self._batches(request), one_by_one=model in self._token_models)
        with self._reach():
            parts, token_vectors = await arun_flow(
                flow, lambda body: self.apost_json(self.embeddings_path, body, _EMBEDDINGS)
            )
        return self._joined(request, model, parts, token_vectors)

    def _joined(
        self,
        request: EmbeddingRequest,
        model: str,
        parts: list[tuple[int, dict[str, Any]]],
        token_vectors: bool,
    ) -> EmbeddingResponse:
        if token_vectors:
            self._token_models.add(model)
        return join_embeddings(self.name, request, parts)


def _ollama_model(m: Mapping[str, Any]) -> dict[str, Any]:
    """An entry of Ollama's ``/api/tags`` in the shape of a ``/v1/models`` entry."""
    out: dict[str, Any] = {
        "id": m.get("name") or m.get("model"),
        "object": "model",
        "owned_by": "library",
    }
    for k in ("size", "modified_at", "digest", "details"):
        if k in m:
            out[k] = m[k]
    return out
