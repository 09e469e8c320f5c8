"""The pluggy hook implementation of modelbus-structured-output (entry point
``structured-output``): registers the response-format handler ``structured``."""

from __future__ import annotations

from typing import Any

from modelbus.hookspecs import hookimpl

__all__ = ["make_handler", "modelbus_register_response_formats"]


def make_handler() -> Any:
    """The handler (imports the plugin's modules on first use, not at discovery)."""
    from ._handler import StructuredOutputHandler

    return StructuredOutputHandler()


@hookimpl
def modelbus_register_response_formats(register: Any) -> None:
    register(
        "structured",
        make_handler,
        description="attrs classes, list[X], Literal... as response_format (.parsed)",
    )
