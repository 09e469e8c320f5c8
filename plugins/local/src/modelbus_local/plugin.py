"""The pluggy hook implementations of modelbus-local (entry point ``local``)."""

from __future__ import annotations

from typing import Any

from modelbus.errors import ConfigError
from modelbus.hookspecs import hookimpl

from ._settings import LocalSettings

__all__ = ["make_provider", "modelbus_register_providers"]


def make_provider(settings: LocalSettings) -> Any:
    """The provider object for ``settings.backend``.

    ``"embedded"`` → :class:`modelbus_local._embedded.EmbeddedProvider` (llama-cpp-python in
    this process). ``"server"`` (an OpenAI-compatible local server) is built on
    modelbus-openai's provider and is not part of this version yet: it raises
    :class:`ConfigError` saying so, rather than pretending to work.
    """
    if settings.backend == "embedded":
        from ._embedded import EmbeddedProvider

        return EmbeddedProvider(settings)
    # Server mode goes here: wrap modelbus_openai's provider with the preset's base_url,
    # quirks and tool_calling choice (issue 6, second part).
    raise ConfigError(
        "backend = 'server' is not available in this version of modelbus-local; "
        "use backend = 'embedded' with model_path, or the 'openai' provider with "
        "base_url pointing at the local server",
        key="providers.local.backend",
    )


@hookimpl
def modelbus_register_providers(register: Any) -> None:
    register(
        "local",
        make_provider,
        settings=LocalSettings,
        description="Local models: a GGUF file via llama-cpp-python (backend='embedded') "
        "or a local OpenAI-compatible server",
    )
