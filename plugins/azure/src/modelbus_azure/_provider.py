"""The ``azure`` provider: Azure OpenAI deployments, API key or Microsoft Entra ID.

Everything but the URL, the headers and the model → deployment mapping is
modelbus-openai's :class:`~modelbus_openai.OpenAICompatibleProvider` (request bodies,
raw-JSON parsing, SSE streams, embeddings batching, error mapping). Chat, streams and
embeddings go straight over that plugin's HTTP clients (``httpx2`` sync, aiohttp async)
without importing ``openai`` or ``pydantic``, sending what ``openai.AzureOpenAI`` /
``AsyncAzureOpenAI`` would (``_direct``): the URL ``{endpoint}/openai/deployments/
{deployment}/chat/completions?api-version=...`` from the ``model`` of the body, and
either the ``api-key`` header or ``Authorization: Bearer <Entra ID token>`` — never an
OpenAI key. The SDK's Azure clients stay for the rest (models list, files, fine-tuning)
and for ``async_transport = "httpx"``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import attrs

from modelbus.errors import AuthenticationError, ConfigError
from modelbus.plugin import (
    REQUEST_PARAMS,
    ChatChunk,
    ChatRequest,
    identity_with_credential,
    register_secret,
)
from modelbus.protocols import Capabilities
from modelbus_openai import OpenAICompatibleProvider
from modelbus_openai._aio import AioPoster
from modelbus_openai._direct import DirectPoster
from modelbus_openai._sse import aiter_chunks, iter_chunks

from ._direct import azure_headers, per_request_headers, route
from ._settings import AzureSettings

__all__ = ["AZURE_PARAMS", "AzureOpenAIProvider", "entra_token_provider"]

#: The request fields Azure OpenAI's chat completions honour: OpenAI's, but for
#: ``web_search_options``. Azure serves no search model on Chat Completions (its web
#: search is a Responses API tool), so the option could only be ignored. Fields a given
#: ``api_version`` does not know yet are refused by Azure itself, by name (HTTP 400
#: "Unrecognized request argument supplied").
AZURE_PARAMS = REQUEST_PARAMS - {"web_search_options"}

TokenProvider = Callable[[], str]


def entra_token_provider(scope: str, *, name: str = "azure") -> TokenProvider:
    """A bearer-token callable from azure-identity's ``DefaultAzureCredential`` (env
    service principal, workload or managed identity, Azure CLI login...) for ``scope``.

    Raises :class:`ConfigError` when azure-identity is not installed, saying how to
    install it or switch to key auth."""
    try:
        from azure.identity import (  # type: ignore[import-not-found]
            DefaultAzureCredential,
            get_bearer_token_provider,
        )
    except ImportError as exc:
        raise ConfigError(
            "Microsoft Entra ID auth needs azure-identity: pip install 'modelbus-azure[entra]'"
            " — or use key auth (AZURE_OPENAI_API_KEY / api_key)",
            key=f"providers.{name}.auth",
        ) from exc
    provider: TokenProvider = get_bearer_token_provider(DefaultAzureCredential(), scope)
    return provider


def _guarded(fetch: TokenProvider, name: str) -> TokenProvider:
    """``fetch`` with its failures (no credential found, login expired) raised as
    :class:`AuthenticationError` naming what to do."""

    def token() -> str:
        try:
            value = fetch()
        except Exception as exc:
            raise AuthenticationError(
                f"could not get a Microsoft Entra ID token: {type(exc).__name__}: {exc}",
                provider=name,
                hint="log in (az login), or set a service principal / managed identity for "
                "DefaultAzureCredential, or use key auth",
            ) from exc
        if not isinstance(value, str) or not value:
            # The SDK refused it with a bare ValueError; a call must fail as a provider
            # error (not retried: the next fetch would give the same).
            raise AuthenticationError(
                "the Microsoft Entra ID token provider returned "
                f"{'an empty string' if value == '' else type(value).__name__}, not a token",
                provider=name,
                hint="check the token_provider callable (it must return the bearer token)",
            )
        value = str.__str__(value)  # a str subclass's own rendering never reaches a header
        register_secret(value)  # a bearer token is masked in any text modelbus renders
        return value

    return token


class AzureOpenAIProvider(OpenAICompatibleProvider):
    """The ``azure`` provider from :class:`AzureSettings`.

    ``token_provider`` (a callable returning a bearer token) replaces the credential the
    settings would make, for apps that manage Entra ID themselves. Async calls fetch tokens
    in a worker thread, so a token refresh never blocks the event loop.

    ``cache_identity`` is the endpoint, the api-version and the deployment mapping (two
    deployments of one model name answer differently, so they must not share cache keys)
    and a one-way fingerprint of the ``api_key`` or ``ad_token`` in use; Entra ID tokens
    rotate, so with Entra ID auth the identity has no credential part.

    Raises :class:`ConfigError` for a missing endpoint or credentials.
    """

    def __init__(
        self,
        settings: AzureSettings | None = None,
        *,
        name: str = "azure",
        token_provider: TokenProvider | None = None,
    ) -> None:
        s = settings if settings is not None else AzureSettings()
        if not s.endpoint:
            raise ConfigError(
                "no Azure OpenAI endpoint: set AZURE_OPENAI_ENDPOINT or endpoint = "
                f'"https://RESOURCE.openai.azure.com" in [providers.{name}]',
                key=f"providers.{name}.endpoint",
            )
        self.settings = s
        self.endpoint = s.endpoint.rstrip("/")
        self.api_version = s.api_version
        self.deployments = dict(s.deployments)
        self.embeddings_deployment = s.embeddings_deployment
        self.auth_mode, self._token_provider = self._resolve_auth(s, name, token_provider)
        # (id(loop's poster), id(timeout)) -> (that poster, that timeout, the poster with
        # the request headers): without a token provider they depend on nothing else, so
        # each pair is built once (its header multidict with it), not on every call.
        self._aposters: dict[tuple[int, int], tuple[Any, Any, AioPoster]] = {}
        mapping = ",".join(f"{k}={v}" for k, v in sorted(self.deployments.items()))
        identity = (
            f"{self.endpoint}|api-version={self.api_version}|deployments={mapping}"
            f"|embeddings={self.embeddings_deployment or ''}"
        )
        credential = {"api_key": s.api_key, "ad_token": s.ad_token}.get(self.auth_mode)
        identity = identity_with_credential(identity, credential)
        super().__init__(
            name=name,
            base_url=f"{self.endpoint}/openai",
            default_headers=s.default_headers,
            timeout_s=s.timeout_s,
            connect_timeout_s=s.connect_timeout_s,
            max_response_bytes=s.max_response_bytes,
            async_transport=s.async_transport,
            default_model=s.default_model,
            embedding_batch_size=s.embedding_batch_size,
            cache_identity=identity,
            capabilities=Capabilities(embeddings=True, vision=True, params=AZURE_PARAMS),
        )
        self._options = {}  # auth is the Azure client's: api-key or a bearer token

    @staticmethod
    def _resolve_auth(
        s: AzureSettings, name: str, injected: TokenProvider | None
    ) -> tuple[str, TokenProvider | None]:
        if injected is not None:
            return "entra", _guarded(injected, name)
        mode = s.auth
        if mode == "auto":
            mode = "api_key" if s.api_key else "ad_token" if s.ad_token else "entra"
        if mode == "api_key" and not s.api_key:
            raise ConfigError(
                "auth = 'api_key' but no key is set: set AZURE_OPENAI_API_KEY or api_key = "
                f'{{ env = "NAME" }} in [providers.{name}]',
                key=f"providers.{name}.api_key",
            )
        if mode == "ad_token" and not s.ad_token:
            raise ConfigError(
                "auth = 'ad_token' but no token is set: set AZURE_OPENAI_AD_TOKEN or ad_token",
                key=f"providers.{name}.ad_token",
            )
        if mode == "entra":
            return mode, _guarded(entra_token_provider(s.entra_scope, name=name), name)
        return mode, None

    # --- the direct path (``_direct``): no SDK for chat, streams, embeddings ----------
    @property
    def direct(self) -> bool:
        """Whether chat, streams and embeddings skip the SDK (``_direct``): when the SDK
        clients are the ones this class makes (a subclass making its own keeps the SDK
        path). Async calls also need ``async_transport = "aiohttp"``."""
        cls = type(self)
        return (
            cls._new_sync_client is AzureOpenAIProvider._new_sync_client
            and cls._new_async_client is AzureOpenAIProvider._new_async_client
        )

    def _headers(self, is_async: bool) -> dict[str, str]:
        """The headers the SDK's Azure client sends on every request (``_direct``)."""
        s = self.settings
        key = s.api_key if self.auth_mode == "api_key" else None
        token = s.ad_token if self.auth_mode == "ad_token" else None
        return azure_headers(
            api_key=key.get_secret_value() if key is not None else None,
            ad_token=token.get_secret_value() if token is not None else None,
            default_headers=self._default_headers,
            is_async=is_async,
        )

    def _route(self, path: str, body: Mapping[str, Any]) -> str:
        model = body.get("model")
        return route(path, model if isinstance(model, str) else None, self.api_version)

    def _direct_poster(self) -> DirectPoster:
        """The shared poster, with this request's Entra ID token when a token provider
        is in use (fetched per request, as the SDK's ``azure_ad_token_provider`` is: the
        provider caches and refreshes it)."""
        poster = super()._direct_poster()
        fetch = self._token_provider
        if fetch is None:
            return poster
        return attrs.evolve(
            poster, headers=per_request_headers(poster.headers, fetch(), None, False)
        )

    def _aio_direct(self) -> bool:
        # aiohttp only: with async_transport = "httpx" the SDK's client sends the request.
        return self.async_transport == "aiohttp" and self.direct

    async def _aposter(self, timeout: Any) -> AioPoster:
        """The running loop's poster with this request's headers (an Entra ID token is
        fetched in a worker thread, so a refresh never blocks the event loop)."""
        base = self._async_poster()
        assert base is not None  # _aio_direct(): the aiohttp transport, no SDK client
        fetch = self._token_provider
        if fetch is None:
            key = (id(base), id(timeout))
            known = self._aposters.get(key)
            if known is not None and known[0] is base and known[1] is timeout:
                return known[2]
        token = None if fetch is None else await asyncio.to_thread(fetch)
        headers = per_request_headers(base.headers, token, timeout, True)
        poster = AioPoster(
            session=base.session, base_url=base.base_url, headers=headers, provider=base.provider
        )
        if fetch is None:
            if len(self._aposters) >= 64:  # timeouts built per call: nothing to keep
                self._aposters.clear()
            self._aposters[key] = (base, timeout, poster)  # the references keep the ids
        return poster

    def post_json(
        self,
        path: str,
        body: Mapping[str, Any],
        what: str = "the response",
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """As :meth:`OpenAICompatibleProvider.post_json`, to the Azure URL of ``path``
        (``deployments/{model}`` for chat and embeddings, ``?api-version=``)."""
        if self.direct:
            path = self._route(path, body)
        return super().post_json(path, body, what, max_bytes)

    async def apost_json(
        self,
        path: str,
        body: Mapping[str, Any],
        what: str = "the response",
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """The async twin of :meth:`post_json`."""
        if not self._aio_direct():
            return await super().apost_json(path, body, what, max_bytes)
        options, ends_at = self._request_options(False, sdk=False)
        poster = await self._aposter(options["timeout"])
        reply = await poster.post(
            self._route(path, body),
            body,
            timeout=options["timeout"],
            ends_at=ends_at,
            max_bytes=max_bytes or self.max_response_bytes,
        )
        return self._decode(reply, what)

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """As :meth:`OpenAICompatibleProvider.stream`, to the deployment's URL. The
        request (and a token fetch) happens on the first ``next()``."""
        if not self.direct:
            yield from super().stream(request)
            return
        body = self.chat_body(request, True)
        options, first_by = self._request_options(True, sdk=False)
        target = self._route(self.chat_path, body)
        raw = self._direct_poster().open("POST", target, body, options["timeout"])
        yield from iter_chunks(raw, self.name, self.max_response_bytes, first_by)

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """The async twin of :meth:`stream`."""
        if not self._aio_direct():
            async for chunk in super().astream(request):
                yield chunk
            return
        body = self.chat_body(request, True)
        options, first_by = self._request_options(True, sdk=False)
        poster = await self._aposter(options["timeout"])
        target = self._route(self.chat_path, body)
        stream = await poster.open_stream(target, body, timeout=options["timeout"])
        async for chunk in aiter_chunks(stream, self.name, self.max_response_bytes, first_by):
            yield chunk

    # --- the SDK's Azure clients (admin APIs, the httpx async transport) -------------
    def _azure_kwargs(self) -> dict[str, Any]:
        kw = self._client_kwargs()
        for k in ("api_key", "base_url"):
            kw.pop(k)
        headers = kw["default_headers"]
        headers.pop("Authorization", None)
        kw.update(azure_endpoint=self.endpoint, api_version=self.api_version)
        s = self.settings
        if self.auth_mode == "api_key":
            assert s.api_key is not None
            kw["api_key"] = s.api_key.get_secret_value()
        elif self.auth_mode == "ad_token":
            assert s.ad_token is not None
            kw["azure_ad_token"] = s.ad_token.get_secret_value()
        return kw

    def _new_sync_client(self) -> Any:
        return self._openai.AzureOpenAI(
            **self._azure_kwargs(), azure_ad_token_provider=self._token_provider
        )

    def _new_async_client(self) -> Any:
        fetch = self._token_provider
        atoken: Callable[[], Awaitable[str]] | None = None
        if fetch is not None:
            sync_fetch = fetch

            async def in_thread() -> str:
                return await asyncio.to_thread(sync_fetch)

            atoken = in_thread
        return self._openai.AsyncAzureOpenAI(
            **self._azure_kwargs(),
            azure_ad_token_provider=atoken,
            http_client=self._async_http_client(),
        )

    def wire_model(self, model: str) -> str:
        """The deployment serving ``model``: ``deployments[model]``, else ``model``."""
        return self.deployments.get(model, model)

    def wire_embedding_model(self, model: str) -> str:
        """``embeddings_deployment`` when set, else as :meth:`wire_model`."""
        return self.embeddings_deployment or self.deployments.get(model, model)
