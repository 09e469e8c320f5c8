"""The pluggy hook implementation of modelbus-otel (entry point ``otel``).

Imported by plugin discovery, so it does not import opentelemetry: the factory does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelbus.hookspecs import hookimpl

from ._settings import OtelSettings

if TYPE_CHECKING:
    from ._observer import OtelObserver

__all__ = ["make_observer", "modelbus_register_observers"]


def make_observer(settings: OtelSettings) -> OtelObserver:
    """The ``otel`` observer for ``settings`` (imports opentelemetry-api)."""
    from ._observer import OtelObserver

    return OtelObserver(settings)


@hookimpl
def modelbus_register_observers(register: Any) -> None:
    register(
        "otel",
        make_observer,
        settings=OtelSettings,
        description="OpenTelemetry spans and metrics (GenAI semantic conventions)",
    )
