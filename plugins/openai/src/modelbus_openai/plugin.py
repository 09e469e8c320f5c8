"""The pluggy hook implementations of modelbus-openai (entry point ``openai``).

Imported by plugin discovery, so it imports neither the ``openai`` SDK nor click: the
provider, the commands and the doctor checks load their modules when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelbus.hookspecs import hookimpl

from ._settings import OpenAISettings

if TYPE_CHECKING:
    import click

__all__ = [
    "make_provider",
    "modelbus_register_commands",
    "modelbus_register_doctor_checks",
    "modelbus_register_providers",
]


def make_provider(settings: OpenAISettings) -> Any:
    """The ``openai`` provider for ``settings`` (imports the SDK)."""
    from ._openai_provider import OpenAIProvider

    return OpenAIProvider(settings)


def _doctor(provider: Any) -> list[tuple[str, bool, str]]:
    from ._doctor import check_openai

    return check_openai(provider)


@hookimpl
def modelbus_register_providers(register: Any) -> None:
    register(
        "openai",
        make_provider,
        settings=OpenAISettings,
        description="OpenAI API (chat, streaming, embeddings, vision, tools) via the openai SDK",
    )


@hookimpl
def modelbus_register_commands(cli: click.Group) -> None:
    from ._cli import finetune

    cli.add_command(finetune)


@hookimpl
def modelbus_register_doctor_checks(register: Any) -> None:
    register("openai", _doctor)
