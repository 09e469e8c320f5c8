"""The pluggy hook implementations of modelbus-azure (entry point ``azure``).

Imported by plugin discovery: it imports neither the ``openai`` SDK nor azure-identity.
"""

from __future__ import annotations

from typing import Any

from modelbus.hookspecs import hookimpl

from ._settings import AzureSettings

__all__ = ["make_provider", "modelbus_register_doctor_checks", "modelbus_register_providers"]


def make_provider(settings: AzureSettings) -> Any:
    """The ``azure`` provider for ``settings`` (the SDK is imported only by the admin
    APIs and ``async_transport = "httpx"``, not by chat, streams or embeddings)."""
    from ._provider import AzureOpenAIProvider

    return AzureOpenAIProvider(settings)


def _doctor(provider: Any) -> list[tuple[str, bool, str]]:
    from ._doctor import check_azure

    return check_azure(provider)


@hookimpl
def modelbus_register_providers(register: Any) -> None:
    register(
        "azure",
        make_provider,
        settings=AzureSettings,
        description="Azure OpenAI deployments (API key or Microsoft Entra ID)",
    )


@hookimpl
def modelbus_register_doctor_checks(register: Any) -> None:
    register("azure", _doctor)
