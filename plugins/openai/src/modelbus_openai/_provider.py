"""The OpenAI-compatible provider: one implementation for OpenAI, Azure OpenAI and local
OpenAI-compatible servers, parametrised by base URL, key, headers and timeouts.

Chat, streams and embeddings go straight over the HTTP clients: ``httpx2`` for sync calls
(``_direct``) and aiohttp for async ones (``_aio``, ``_aio_stream``), sending what the official
``openai`` SDK would send (its headers, computed by ``_headers`` without importing it;
its JSON serialization; its limits and timeouts) and mapping errors as for the SDK. The
body is made by :func:`modelbus.plugin.request_body` and the raw JSON parsed by the core
converter. So a process that only chats never imports ``openai`` or ``pydantic`` (about
0.9 s of a first call) and no call pays the SDK's per-request option models (0.3 ms a
call; 0.3 s at 1,000 messages). The SDK clients stay for what modelbus does not wrap
(files, fine-tuning, models), for the httpx async transport (``async_transport =
"httpx"``), and for subclasses that make their own SDK clients (see
:attr:`OpenAICompatibleProvider.direct`; modelbus-azure makes the Azure clients for the
admin APIs and takes the direct paths with its own URL and headers).

SDK clients are created once per provider object and reused, so connections are pooled:
one sync client, and one async client per event loop (an aiohttp or httpx connection
pool belongs to the loop that opened it). The SDK's retries are off (``max_retries=0``):
retrying is the modelbus pipeline's job.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from modelbus.errors import ConfigError
from modelbus.plugin import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Secret,
    identity_with_credential,
    parse_chat_response,
    register_secret,
    request_body,
)
from modelbus.protocols import Capabilities

from ._aio import AioPoster, AioReply, aio_poster, dumps_body, poster_for
from ._direct import DirectPoster
from ._embeddings import embedding_batches, join_embeddings
from ._errors import json_object, map_openai_error, sdk_error_types
from ._headers import sdk_headers
from ._limits import (
    DEFAULT_MAX_RESPONSE_BYTES,
    EMBEDDING_BYTES_PER_INPUT,
    BodyReader,
    request_timeout,
)
from ._settings import MAX_EMBEDDING_INPUTS
from ._sse import aiter_chunks, iter_chunks

if TYPE_CHECKING:
    import openai
    from openai._types import RequestOptions

__all__ = ["OpenAICompatibleProvider"]

# Sent instead of a key to servers that need none, so the SDK never falls back to
# $OPENAI_API_KEY (which would leak the OpenAI key to a local or third-party server).
_NO_KEY = "no-key"
# Header names whose values are credentials (masked wherever modelbus renders text).
_SECRET_HEADER = re.compile(r"authorization|api[-_]?key|token|secret|cookie", re.I)
_EMBEDDINGS = "the embeddings response"


class OpenAICompatibleProvider:
    """A modelbus provider speaking the OpenAI Chat Completions / Embeddings / Models API.

    Args (keyword-only):
        name: the registered provider name (put on responses and errors).
        base_url: API root, e.g. ``https://api.openai.com/v1`` or
            ``http://127.0.0.1:8080/v1``.
        api_key: sent as ``Authorization: Bearer``; ``None`` sends no Authorization header.
        organization / project: ``OpenAI-Organization`` / ``OpenAI-Project`` headers
            (``None``: not sent).
        default_headers: extra headers on every request.
        timeout_s: seconds an attempt may take (default 120); connect_timeout_s: to
            connect (default 5); a call's ``timeout=`` and ``deadline_s`` apply on top
            (see ``modelbus_openai._limits``).
        max_response_bytes: the largest body (and SSE event) read, in bytes (10 MiB).
        async_transport: ``"aiohttp"`` (``openai.DefaultAioHttpClient``) or ``"httpx"``.
        default_model: model used when the call and the config name none.
        embedding_batch_size: inputs per ``/embeddings`` request (1..2048).
        cache_identity: what the cache key records about the endpoint and credential
            (default: ``base_url`` and a one-way fingerprint of ``api_key``,
            ``organization`` and ``project``, see
            ``modelbus.plugin.identity_with_credential``); never contains the key. A
            subclass passing its own should add its credential's fingerprint the same way.
        capabilities: what the endpoint supports; by default every request field
            (``params`` ``None``): the request fields are OpenAI's own Chat Completions
            parameters. Another server at ``base_url`` may ignore some of them, which
            only a subclass that knows it can declare (as modelbus-local's presets do).
        embedding_encoding: ``encoding_format`` asked of ``/embeddings``: ``"base64"``
            (float32, about 4x smaller on the wire than JSON floats) or ``None`` for the
            server's default (servers without base64 support).

    Subclasses change :meth:`_new_sync_client` / :meth:`_new_async_client` (other SDK
    client classes, e.g. Azure), :meth:`wire_model` / :meth:`wire_embedding_model` (the
    name sent as ``model``) and :meth:`chat_body` (server quirks). Every method raises
    :class:`~modelbus.errors.ProviderError` subclasses (see ``modelbus_openai._errors``).
    """

    chat_path = "/chat/completions"
    embeddings_path = "/embeddings"
    models_path = "/models"
    #: Every ``chat``/``achat`` answer is parsed anew from its body and kept by nobody
    #: here: the core completes it in place (the promise: ``modelbus.plugin.SyncProvider``).
    #: A subclass that hands out a response it keeps must set this to ``False``.
    fresh_responses = True

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        api_key: Secret | None = None,
        organization: str | None = None,
        project: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        async_transport: str = "aiohttp",
        default_model: str | None = None,
        embedding_batch_size: int = MAX_EMBEDDING_INPUTS,
        cache_identity: str | None = None,
        capabilities: Capabilities | None = None,
        embedding_encoding: str | None = "base64",
    ) -> None:
        import httpx2

        if async_transport not in ("aiohttp", "httpx"):
            raise ConfigError(
                f"async_transport must be 'aiohttp' or 'httpx', got {async_transport!r}",
                key=f"providers.{name}.async_transport",
            )
        if not 1 <= embedding_batch_size <= MAX_EMBEDDING_INPUTS:
            raise ConfigError(
                f"embedding_batch_size must be 1..{MAX_EMBEDDING_INPUTS}",
                key=f"providers.{name}.embedding_batch_size",
            )
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.default_model = default_model
        # The credential is part of the identity: a client whose key was revoked, or that
        # belongs to another project, must not be served answers cached under another key.
        self.cache_identity = (
            cache_identity
            if cache_identity is not None
            else identity_with_credential(self.base_url, api_key, organization, project)
        )
        for header, value in (default_headers or {}).items():
            if _SECRET_HEADER.search(header):
                register_secret(value)  # e.g. an Authorization header set by hand
        self.capabilities = capabilities or Capabilities(embeddings=True, vision=True)
        self.embedding_batch_size = embedding_batch_size
        self.embedding_encoding = embedding_encoding
        self.async_transport = async_transport
        self.max_response_bytes = max_response_bytes
        self._api_key = api_key
        self._organization = organization
        self._project = project
        self._default_headers = dict(default_headers or {})
        self._response_cls = httpx2.Response
        self._timeout = httpx2.Timeout(timeout_s, connect=connect_timeout_s)
        # The SDK's per-request options, made on first use of the SDK path (subclasses
        # may set their own before): see _sdk_options.
        self._options: RequestOptions | None = None
        self._lock = threading.Lock()
        self._sync: openai.OpenAI | None = None
        # The sync fast path (``_direct``), made on first use when ``direct``.
        self._direct: DirectPoster | None = None
        # A plain dict: an async client references its loop, so weak keys would never
        # go; clients of closed loops are dropped when a new loop needs one.
        self._async: dict[asyncio.AbstractEventLoop, Any] = {}
        # The aiohttp fast path of each loop (None: this client keeps the SDK path).
        self._aio: dict[asyncio.AbstractEventLoop, AioPoster | None] = {}
        # The last loop asked for and its poster: see _async_poster.
        self._aio_last: tuple[Any, AioPoster | None] | None = None

    # --- SDK clients -----------------------------------------------------------------
    @property
    def _openai(self) -> Any:
        # Imported on first use of the SDK path only (admin APIs, custom clients): the
        # chat path of a plain client never loads it (``_direct``).
        import openai

        return openai

    @property
    def _errors(self) -> tuple[type[BaseException], ...]:
        return sdk_error_types()

    def _sdk_options(self) -> RequestOptions:
        """The SDK options of every request: without a key, Authorization is omitted
        explicitly (the SDK insists on either a key or an explicit omission)."""
        if self._options is None:
            self._options = (
                {} if self._api_key else {"headers": {"Authorization": self._openai.omit}}
            )
        return self._options

    @property
    def direct(self) -> bool:
        """Whether chat, streams and embeddings go straight over the HTTP clients
        (``_direct``; ``_aio`` on the aiohttp transport) instead of through the SDK:
        when the SDK clients are the plain ones this class makes (a subclass making its
        own keeps the SDK path)."""
        cls = type(self)
        return (
            cls._new_sync_client is OpenAICompatibleProvider._new_sync_client
            and cls._new_async_client is OpenAICompatibleProvider._new_async_client
        )

    def _headers(self, is_async: bool) -> dict[str, str]:
        """The headers the SDK client would send (``_headers.sdk_headers``)."""
        key = self._api_key.get_secret_value() if self._api_key else None
        return sdk_headers(
            api_key=key,
            organization=self._organization,
            project=self._project,
            default_headers=self._default_headers,
            is_async=is_async,
        )

    def _direct_poster(self) -> DirectPoster:
        p = self._direct
        if p is None:
            with self._lock:
                p = self._direct
                if p is None:
                    p = self._direct = DirectPoster.make(
                        self.base_url, self._headers(False), self._timeout, self.name
                    )
        return p

    def _client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by the sync and async SDK client constructors."""
        omit = self._openai.omit
        headers: dict[str, Any] = {
            "OpenAI-Organization": self._organization or omit,
            "OpenAI-Project": self._project or omit,
        }
        key = self._api_key.get_secret_value() if self._api_key else None
        headers.update(self._default_headers)
        return {
            "api_key": key or _NO_KEY,
            "base_url": self.base_url,
            "timeout": self._timeout,
            "max_retries": 0,
            "default_headers": headers,
        }

    def _new_sync_client(self) -> Any:
        """A new sync SDK client (``openai.OpenAI``)."""
        return self._openai.OpenAI(**self._client_kwargs())

    def _async_http_client(self) -> Any:
        o = self._openai
        if self.async_transport == "aiohttp":
            return o.DefaultAioHttpClient(timeout=self._timeout)
        return o.DefaultAsyncHttpxClient(timeout=self._timeout)

    def _new_async_client(self) -> Any:
        """A new async SDK client (``openai.AsyncOpenAI``) on the configured transport."""
        return self._openai.AsyncOpenAI(
            **self._client_kwargs(), http_client=self._async_http_client()
        )

    @property
    def sync_client(self) -> openai.OpenAI:
        """The sync SDK client, created on first use and reused (for SDK features modelbus
        does not wrap, e.g. files and fine-tuning)."""
        c = self._sync
        if c is None:
            with self._lock:
                c = self._sync
                if c is None:
                    c = self._sync = self._new_sync_client()
        return c

    def async_client(self) -> openai.AsyncOpenAI:
        """The async SDK client of the running event loop (created on first use there).

        Close it with :meth:`aclose` before the loop ends (``await client.aclose()`` on a
        modelbus Client); a client left behind on a closed loop is dropped when another
        loop needs one (aiohttp then warns that its session was not closed).

        Raises ``RuntimeError`` outside a running event loop."""
        loop = asyncio.get_running_loop()
        c = self._async.get(loop)
        if c is None:
            with self._lock:
                c = self._async.get(loop)
                if c is None:
                    for old in [lp for lp in self._async if lp.is_closed()]:
                        del self._async[old]
                    c = self._async[loop] = self._new_async_client()
        return c  # type: ignore[no-any-return]

    def _async_poster(self) -> AioPoster | None:
        """The running loop's :class:`~modelbus_openai._aio.AioPoster` (JSON POSTs on
        aiohttp without the SDK's per-call request building), or ``None`` when the
        transport is httpx or the SDK client needs its own path (see ``_aio``)."""
        if self.async_transport != "aiohttp":
            return None
        # The running loop is the last one when that loop runs in this thread (asyncio
        # runs one loop per thread at a time): ``asyncio.get_running_loop`` costs a
        # getpid() system call per call on Python 3.11, a check of its own on every
        # request. Loops without ``_thread_id`` (not asyncio's) take the lookup.
        last = self._aio_last
        if last is not None and getattr(last[0], "_thread_id", None) == threading.get_ident():
            return last[1]
        loop = asyncio.get_running_loop()
        try:
            poster = self._aio[loop]
        except KeyError:
            pass
        else:
            self._aio_last = (loop, poster)
            return poster
        if self.direct:
            poster: AioPoster | None = aio_poster(
                self.base_url, self._headers(True), self._timeout, self.name
            )
        else:
            poster = poster_for(
                self.async_client(),
                provider=self.name,
                timeout=self._timeout,
                extra_headers=self._sdk_options().get("headers") or {},
            )
        with self._lock:
            for old in [lp for lp in self._aio if lp.is_closed()]:
                del self._aio[old]
            self._aio[loop] = poster
        self._aio_last = (loop, poster)
        return poster

    # --- model names -------------------------------------------------------------------
    def wire_model(self, model: str) -> str:
        """The ``model`` sent for chat (Azure: the deployment). Identity here."""
        return model

    def wire_embedding_model(self, model: str) -> str:
        """The ``model`` sent for embeddings. Identity here."""
        return model

    # --- transport helpers -------------------------------------------------------------
    def chat_body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        """The JSON body sent to ``chat_path``: :func:`modelbus.plugin.request_body`
        with ``model`` replaced by :meth:`wire_model`. Subclasses override it for server
        quirks (a parameter a server rejects, an extension it needs)."""
        if request.stream != stream:
            request = attrs.evolve(request, stream=stream)
        body = request_body(request)
        wire = self.wire_model(request.model)
        if wire != request.model:
            body["model"] = wire
        return body

    def _decode(self, raw: Any, what: str) -> dict[str, Any]:
        return json_object(self.name, raw.status_code, raw.headers, what, raw.content)

    def _request_options(
        self, stream: bool, sdk: bool = True
    ) -> tuple[RequestOptions, float | None]:
        """The SDK options of one request — this provider's, the attempt's timeouts
        (``_limits.request_timeout``), redirects not followed — and when its time is up.

        Redirects are never followed, in any mode: a 301/302 would turn the POST into a
        GET without its body (RFC 9110 §15.4.2), and a redirect to another host would
        move the request (and with some clients the key) elsewhere. The 3xx is raised
        with its ``Location`` in the hint: fix ``base_url`` instead."""
        timeout, ends_at = request_timeout(self._timeout, stream)
        if not sdk:  # the direct paths: only the timeout (the SDK may never load)
            return {"timeout": timeout}, ends_at
        return {**self._sdk_options(), "timeout": timeout, "follow_redirects": False}, ends_at

    def _read(self, raw: Any, ends_at: float | None, cap: int | None = None) -> AioReply:
        reader = BodyReader(self.name, cap or self.max_response_bytes, ends_at)
        try:
            reader.start(raw.status_code, raw.headers)
            for piece in raw.iter_bytes():
                reader.add(piece, raw.status_code, raw.headers)
        finally:
            raw.close()
        return AioReply(raw.status_code, raw.headers, reader.content())

    async def _aread(self, raw: Any, ends_at: float | None, cap: int | None = None) -> AioReply:
        reader = BodyReader(self.name, cap or self.max_response_bytes, ends_at)
        try:
            reader.start(raw.status_code, raw.headers)
            async for piece in raw.aiter_bytes():
                reader.add(piece, raw.status_code, raw.headers)
        finally:
            await raw.aclose()
        return AioReply(raw.status_code, raw.headers, reader.content())

    def post_json(
        self,
        path: str,
        body: Mapping[str, Any],
        what: str = "the response",
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """``POST`` ``body`` as JSON to ``path`` (relative to the base URL) and return the
        decoded JSON object, read up to ``max_bytes`` (default ``max_response_bytes``);
        errors are mapped as for every call."""
        options, ends_at = self._request_options(False, sdk=not self.direct)
        if self.direct:
            reply = self._direct_poster().request(
                "POST",
                path,
                body,
                timeout=options["timeout"],
                ends_at=ends_at,
                max_bytes=max_bytes or self.max_response_bytes,
            )
            return self._decode(reply, what)
        try:
            raw = self.sync_client.post(
                path, cast_to=self._response_cls, body=body, options=options, stream=True
            )
            reply = self._read(raw, ends_at, max_bytes)
        except self._errors as exc:
            raise map_openai_error(exc, self.name) from exc
        return self._decode(reply, what)

    async def apost_json(
        self,
        path: str,
        body: Mapping[str, Any],
        what: str = "the response",
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """The async twin of :meth:`post_json`."""
        poster = self._async_poster()
        options, ends_at = self._request_options(False, sdk=poster is None)
        if poster is not None:
            reply = await poster.post(
                path,
                body,
                timeout=options["timeout"],
                ends_at=ends_at,
                max_bytes=max_bytes or self.max_response_bytes,
            )
            return self._decode(reply, what)
        try:
            raw = await self.async_client().post(
                path, cast_to=self._response_cls, body=body, options=options, stream=True
            )
            reply = await self._aread(raw, ends_at, max_bytes)
        except self._errors as exc:
            raise map_openai_error(exc, self.name) from exc
        return self._decode(reply, what)

    def get_json(self, path: str, what: str = "the response") -> dict[str, Any]:
        """``GET`` ``path`` (relative to the base URL) → the decoded JSON object."""
        options, ends_at = self._request_options(False)
        try:
            raw = self.sync_client.get(
                path, cast_to=self._response_cls, options=options, stream=True
            )
            reply = self._read(raw, ends_at)
        except self._errors as exc:
            raise map_openai_error(exc, self.name) from exc
        return self._decode(reply, what)

    async def aget_json(self, path: str, what: str = "the response") -> dict[str, Any]:
        """The async twin of :meth:`get_json`."""
        options, ends_at = self._request_options(False)
        try:
            raw = await self.async_client().get(
                path, cast_to=self._response_cls, options=options, stream=True
            )
            reply = await self._aread(raw, ends_at)
        except self._errors as exc:
            raise map_openai_error(exc, self.name) from exc
        return self._decode(reply, what)

    # --- chat ----------------------------------------------------------------------------
    def chat(self, request: ChatRequest) -> ChatResponse:
        """``POST /chat/completions`` → ChatResponse (first choice; usage incl. cached and
        reasoning tokens; unknown top-level fields in ``extra``)."""
        data = self.post_json(self.chat_path, self.chat_body(request, False), "the response")
        return parse_chat_response(data, self.name)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        """The async twin of :meth:`chat`."""
        poster = self._async_poster() if type(self).apost_json is _APOST_JSON else None
        if poster is None:  # the SDK path, or a subclass with its own apost_json
            body = self.chat_body(request, False)
            data = await self.apost_json(self.chat_path, body, "the response")
            return parse_chat_response(data, self.name)
        # apost_json on the aiohttp poster, written out: one coroutine less per call, and
        # the body serialized before the wait so its dicts are not alive while in flight.
        timeout, ends_at = request_timeout(self._timeout, False)
        reply = await poster.send(
            self.chat_path,
            dumps_body(self.chat_body(request, False)),
            timeout,
            ends_at,
            self.max_response_bytes,
        )
        name = self.name  # (_decode written out: one call fewer per request)
        data = json_object(name, reply.status_code, reply.headers, "the response", reply.content)
        return parse_chat_response(data, name)

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """Stream ``POST /chat/completions`` (``stream_options.include_usage`` on, so the
        last chunk carries usage). The request is sent on the first ``next()``."""
        body = self.chat_body(request, True)
        options, first_by = self._request_options(True, sdk=not self.direct)
        if self.direct:
            raw = self._direct_poster().open("POST", self.chat_path, body, options["timeout"])
            yield from iter_chunks(raw, self.name, self.max_response_bytes, first_by)
            return
        try:
            raw = self.sync_client.post(
                self.chat_path,
                cast_to=self._response_cls,
                body=body,
                options=options,
                stream=True,
            )
        except self._errors as exc:
            raise map_openai_error(exc, self.name) from exc
        yield from iter_chunks(raw, self.name, self.max_response_bytes, first_by)

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """The async twin of :meth:`stream`."""
        body = self.chat_body(request, True)
        poster = self._async_poster() if self.direct else None
        options, first_by = self._request_options(True, sdk=poster is None)
        if poster is not None:
            stream = await poster.open_stream(self.chat_path, body, timeout=options["timeout"])
            async for chunk in aiter_chunks(stream, self.name, self.max_response_bytes, first_by):
                yield chunk
            return
        try:
            raw = await self.async_client().post(
                self.chat_path,
                cast_to=self._response_cls,
                body=body,
                options=options,
                stream=True,
            )
        except self._errors as exc:
            raise map_openai_error(exc, self.name) from exc
        async for chunk in aiter_chunks(raw, self.name, self.max_response_bytes, first_by):
            yield chunk

    # --- embeddings ------------------------------------------------------------------------
    def _batches(self, request: EmbeddingRequest) -> Iterator[tuple[int, dict[str, Any]]]:
        return embedding_batches(
            request,
            model=self.wire_embedding_model(request.model),
            encoding=self.embedding_encoding,
            size=self.embedding_batch_size,
        )

    def _embeddings_cap(self, inputs: int) -> int:
        """The size cap of an embeddings answer: ``max_response_bytes`` plus
        :data:`~modelbus_openai._limits.EMBEDDING_BYTES_PER_INPUT` per input, since a
        full batch of large vectors is bigger than any chat answer."""
        return self.max_response_bytes + inputs * EMBEDDING_BYTES_PER_INPUT

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """``POST /embeddings`` in batches of ``embedding_batch_size`` inputs, sent one
        after the other; vectors come back in input order, usage summed. An empty
        ``input`` sends nothing and returns no vectors."""
        parts = [
            (n, self.post_json(self.embeddings_path, body, _EMBEDDINGS, self._embeddings_cap(n)))
            for n, body in self._batches(request)
        ]
        return join_embeddings(self.name, request, parts)

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        """The async twin of :meth:`embed` (batches sent one after the other)."""
        parts = [
            (
                n,
                await self.apost_json(
                    self.embeddings_path, body, _EMBEDDINGS, self._embeddings_cap(n)
                ),
            )
            for n, body in self._batches(request)
        ]
        return join_embeddings(self.name, request, parts)

    # --- models ---------------------------------------------------------------------------
    def list_models(self) -> list[dict[str, Any]]:
        """``GET /models``: the model objects as sent (``id``, ``created``, ``owned_by``...)."""
        return list(self.get_json(self.models_path, "the model list").get("data") or [])

    async def alist_models(self) -> list[dict[str, Any]]:
        """The async twin of :meth:`list_models`."""
        return list((await self.aget_json(self.models_path, "the model list")).get("data") or [])

    def retrieve_model(self, model: str) -> dict[str, Any]:
        """``GET /models/{model}``; raises NotFoundError when the key cannot use it."""
        return self.get_json(f"{self.models_path}/{model}", "the model")

    # --- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Close the sync client and the async clients whose loops can still run a
        coroutine from here; the others are dropped."""
        with self._lock:
            sync, self._sync = self._sync, None
            direct, self._direct = self._direct, None
            clients = list(self._async.items())
            self._async.clear()
            clients += [(lp, p) for lp, p in self._aio.items() if p is not None]
            self._aio.clear()
            self._aio_last = None
        if sync is not None:
            sync.close()
        if direct is not None:
            direct.close()
        for loop, client in clients:
            _close_on_loop(loop, client)

    async def aclose(self) -> None:
        """Close the async client of the running loop, then everything :meth:`close` does."""
        loop = asyncio.get_running_loop()
        with self._lock:
            mine = self._async.pop(loop, None)
            poster = self._aio.pop(loop, None)
            self._aio_last = None
        if poster is not None:
            await poster.close()
        if mine is not None:
            await mine.close()
        self.close()


_CLOSING: set[asyncio.Task[Any]] = set()


def _close_on_loop(loop: asyncio.AbstractEventLoop, client: Any) -> None:
    if loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop.is_running():
        if running is not loop:  # another thread runs it: ask it, wait briefly
            fut = asyncio.run_coroutine_threadsafe(client.close(), loop)
            try:
                fut.result(timeout=5)
            except Exception:  # closing is best effort; the loop's owner may be gone
                fut.cancel()
        else:
            # close() from sync code inside the loop (``with client:`` in a coroutine):
            # nothing can be awaited here, so the close is a task of the loop, run as
            # soon as the caller next awaits (aiohttp closes a session only by awaiting).
            task = loop.create_task(client.close())
            _CLOSING.add(task)  # the loop keeps only a weak reference to its tasks
            task.add_done_callback(_CLOSING.discard)
        return
    if running is None:
        loop.run_until_complete(client.close())


# achat takes the aiohttp poster itself unless a subclass changed how JSON is posted.
_APOST_JSON = OpenAICompatibleProvider.apost_json
