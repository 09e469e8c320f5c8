"""The ``openai`` provider: :class:`OpenAICompatibleProvider` configured from
:class:`OpenAISettings`."""

from __future__ import annotations

from modelbus.errors import ConfigError

from ._provider import OpenAICompatibleProvider
from ._settings import DEFAULT_BASE_URL, OpenAISettings

__all__ = ["OpenAIProvider"]


class OpenAIProvider(OpenAICompatibleProvider):
    """The ``openai`` provider (api.openai.com or any ``base_url``) from
    :class:`OpenAISettings`. ``cache_identity`` is the base URL: organization and project
    change billing, not answers, so they stay out of cache keys.

    Raises :class:`~modelbus.errors.ConfigError` when no API key is set for
    api.openai.com (name the variable to set).
    """

    def __init__(self, settings: OpenAISettings | None = None, *, name: str = "openai") -> None:
        s = settings if settings is not None else OpenAISettings()
        base = (s.base_url or DEFAULT_BASE_URL).rstrip("/")
        if s.api_key is None and base == DEFAULT_BASE_URL:
            raise ConfigError(
                'no OpenAI API key: set OPENAI_API_KEY or api_key = { env = "NAME" } '
                f"in [providers.{name}]",
                key=f"providers.{name}.api_key",
            )
        self.settings = s
        super().__init__(
            name=name,
            base_url=base,
            api_key=s.api_key,
            organization=s.organization,
            project=s.project,
            default_headers=s.default_headers,
            timeout_s=s.timeout_s,
            connect_timeout_s=s.connect_timeout_s,
            max_response_bytes=s.max_response_bytes,
            async_transport=s.async_transport,
            default_model=s.default_model,
            embedding_batch_size=s.embedding_batch_size,
        )
