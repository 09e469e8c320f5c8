"""The ``azure`` provider: Azure OpenAI through ``openai.AzureOpenAI`` / ``AsyncAzureOpenAI``.

Everything but the client construction and the model → deployment mapping is
modelbus-openai's :class:`~modelbus_openai.OpenAICompatibleProvider` (request bodies,
raw-JSON parsing, SSE streams, embeddings batching, error mapping). The SDK's Azure
clients build the URL ``{endpoint}/openai/deployments/{deployment}/chat/completions
?api-version=...`` from the ``model`` of the body, and send either the ``api-key`` header
or ``Authorization: Bearer <Entra ID token>`` — never an OpenAI key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from modelbus.errors import AuthenticationError, ConfigError
from modelbus.plugin import REQUEST_PARAMS, identity_with_credential, register_secret
from modelbus.protocols import Capabilities
from modelbus_openai import OpenAICompatibleProvider

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
