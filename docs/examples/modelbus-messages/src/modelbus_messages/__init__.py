"""modelbus-messages: a provider for an Anthropic-Messages-shaped API (``POST /v1/messages``).

Built only on the public plugin API, :mod:`modelbus.plugin`. Plugin discovery imports this
module on every ``modelbus.Client()``, so it holds the settings and the registration and
imports the provider (and httpx) only when the client first uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from modelbus.plugin import Secret, env_secret, hookimpl, lazy_exports

__all__ = ["MessagesProvider", "MessagesSettings"]
# The provider (and httpx) load when first read: discovery imports this module. Only
# __getattr__: pluggy finds the hook implementations below through dir(module).
__getattr__ = lazy_exports(__name__, {"MessagesProvider": "._provider"})[0]

if TYPE_CHECKING:
    from ._provider import MessagesProvider as MessagesProvider


@attrs.frozen
class MessagesSettings:
    """``[providers.messages]``.

    - ``base_url``: the API origin, without ``/v1`` (default ``https://api.anthropic.com``).
    - ``api_key``: sent as ``x-api-key``; default from ``ANTHROPIC_API_KEY``.
    - ``version``: the ``anthropic-version`` header (default ``2023-06-01``).
    - ``max_tokens``: sent when the call sets none (the API requires it), in tokens.
    - ``timeout_s``: seconds to wait for a response (connect, read, write, pool).
    """

    base_url: str = "https://api.anthropic.com"
    api_key: Secret | None = attrs.field(factory=lambda: env_secret("ANTHROPIC_API_KEY"))
    version: str = "2023-06-01"
    max_tokens: int = attrs.field(default=1024, validator=attrs.validators.gt(0))
    timeout_s: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))


def _make(settings: MessagesSettings) -> Any:
    from ._provider import MessagesProvider

    return MessagesProvider(settings)


@hookimpl
def modelbus_register_providers(register: Callable[..., None]) -> None:
    register(
        "messages",
        _make,
        settings=MessagesSettings,
        description="An Anthropic-Messages-shaped API (POST /v1/messages)",
    )
