"""``[providers.azure]``: the settings of the ``azure`` provider."""

from __future__ import annotations

from typing import Literal

from attrs import field, frozen, validators

from modelbus import Secret, env_secret
from modelbus_openai._settings import (
    MAX_EMBEDDING_INPUTS,
    env_str,
    header_fields,
    header_value,
    http_url,
)

__all__ = ["DEFAULT_API_VERSION", "ENTRA_SCOPE", "AzureSettings"]

# The latest GA data-plane version of the Azure OpenAI inference API (Microsoft Learn,
# "Azure OpenAI API version lifecycle"); set api_version / OPENAI_API_VERSION for others.
DEFAULT_API_VERSION = "2024-10-21"
# The token scope of Azure AI services (Microsoft Learn, "How to configure Azure OpenAI
# with Microsoft Entra ID authentication").
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"


@frozen(kw_only=True)
class AzureSettings:
    """``[providers.azure]`` in ``modelbus.toml``.

    - ``endpoint``: ``https://RESOURCE.openai.azure.com`` (default ``$AZURE_OPENAI_ENDPOINT``).
    - ``api_version``: the ``api-version`` query parameter (default ``$OPENAI_API_VERSION``,
      else ``2024-10-21``).
    - ``auth``: ``"api_key"`` (``api-key`` header), ``"ad_token"`` (a bearer token you
      obtained), ``"entra"`` (Microsoft Entra ID through azure-identity's
      ``DefaultAzureCredential``; ``pip install 'modelbus-azure[entra]'``), or ``"auto"``
      (default): the key if set, else the token if set, else Entra ID.
    - ``api_key``: secret, default ``$AZURE_OPENAI_API_KEY`` (or the older
      ``$AZURE_OPENAI_KEY``); ``ad_token``: secret, default ``$AZURE_OPENAI_AD_TOKEN``;
      ``entra_scope``: the token scope for Entra ID.
    - ``deployments``: model name → deployment name (``{ "gpt-4o" = "my-gpt4o" }``); a
      model not listed is used as the deployment name.
    - ``embeddings_deployment``: the deployment every embeddings call uses (default: the
      ``deployments`` mapping of the requested model).
    - ``timeout_s`` / ``connect_timeout_s`` (seconds; defaults 120 / 5),
      ``max_response_bytes`` (default 10 MiB), ``default_headers``,
      ``async_transport`` (``"aiohttp"`` | ``"httpx"``), ``default_model``,
      ``embedding_batch_size`` (1..2048): as for ``[providers.openai]``.
    """

    endpoint: str | None = field(
        factory=lambda: env_str("AZURE_OPENAI_ENDPOINT"), validator=http_url
    )
    api_version: str = field(factory=lambda: env_str("OPENAI_API_VERSION") or DEFAULT_API_VERSION)
    auth: Literal["auto", "api_key", "ad_token", "entra"] = field(
        default="auto", validator=validators.in_(("auto", "api_key", "ad_token", "entra"))
    )
    api_key: Secret | None = field(
        factory=lambda: env_secret("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_KEY"),
        validator=header_value,
    )
    ad_token: Secret | None = field(
        factory=lambda: env_secret("AZURE_OPENAI_AD_TOKEN"), validator=header_value
    )
    entra_scope: str = ENTRA_SCOPE
    deployments: dict[str, str] = field(factory=dict)
    embeddings_deployment: str | None = None
    timeout_s: float = field(default=120.0, validator=validators.gt(0))
    connect_timeout_s: float = field(default=5.0, validator=validators.gt(0))
    max_response_bytes: int = field(default=10 * 1024 * 1024, validator=validators.ge(1024))
    default_headers: dict[str, str] = field(factory=dict, validator=header_fields)
    async_transport: Literal["aiohttp", "httpx"] = field(
        default="aiohttp", validator=validators.in_(("aiohttp", "httpx"))
    )
    default_model: str | None = None
    embedding_batch_size: int = field(
        default=MAX_EMBEDDING_INPUTS,
        validator=[validators.ge(1), validators.le(MAX_EMBEDDING_INPUTS)],
    )
