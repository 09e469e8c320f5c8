"""From what the caller wrote to what is sent: model/alias routing and request building."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from attrs import frozen

from ._config import Config
from ._converter import message_from_openai
from ._params import REQUEST_PARAMS
from ._registry import Registry
from ._types import ChatRequest, FunctionSpec, Message, ToolSpec
from .errors import ConfigError

__all__ = ["Route", "build_messages", "build_request", "pick_default_provider", "resolve_route"]

_REQUEST_PARAMS = REQUEST_PARAMS


@frozen
class Route:
    """Where a call goes: the registered ``provider`` name, the provider's ``model`` name,
    the alias's default ``params``, its ``fallbacks`` (each ``"provider/model"`` or an
    alias) and ``context_window_fallback``. ``alias`` is the name the caller used."""

    provider: str
    model: str | None
    params: Mapping[str, Any] = attrs.field(factory=dict)
    fallbacks: tuple[str, ...] = ()
    context_window_fallback: str | None = None
    alias: str | None = None


def pick_default_provider(config: Config, registry: Registry) -> tuple[str, str]:
    """The provider to use when none is named, and why (one line for the user).

    Order: ``[modelbus] provider``; ``azure`` when ``AZURE_OPENAI_ENDPOINT`` and a key are
    set; ``openai`` when ``OPENAI_API_KEY`` is set; ``local`` (which probes local servers
    and falls back to its embedded model). Raises :class:`ConfigError` when none fits.
    """
    if config.modelbus.provider:
        return config.modelbus.provider, f"provider {config.modelbus.provider!r} from config"
    env = os.environ
    names = registry.names("providers")
    if (
        ("providers", "azure") in registry
        and env.get("AZURE_OPENAI_ENDPOINT")
        and (env.get("AZURE_OPENAI_API_KEY") or env.get("AZURE_OPENAI_KEY"))
    ):
        return "azure", "provider 'azure' (AZURE_OPENAI_ENDPOINT and a key are set)"
    if ("providers", "openai") in registry and env.get("OPENAI_API_KEY"):
        return "openai", "provider 'openai' (OPENAI_API_KEY is set)"
    if ("providers", "local") in registry:
        return "local", "provider 'local' (no API key configured)"
    raise ConfigError(
        "no provider is configured: set [modelbus] provider, OPENAI_API_KEY, or install "
        "modelbus-local",
        key="modelbus.provider",
        source=config.source,
        accepted=names,
    )


def resolve_route(
    model: str | None, config: Config, registry: Registry, default_provider: Callable[[], str]
) -> Route:
    """Resolve an alias (``[models.X]``), a ``provider/model`` string (only when the prefix
    is a registered provider, so ``meta/llama-3.1`` stays a model name) or a plain model
    name on the default provider. ``model=None`` uses ``[modelbus] model``."""
    name = model or config.modelbus.model
    if name is not None and name in config.models:
        a = config.models[name]
        provider = a.provider or ""
        inner = a.model
        if a.provider is None and "/" in inner:
            head, _, tail = inner.partition("/")
            if ("providers", head) in registry:
                provider, inner = head, tail
        return Route(
            provider or default_provider(),
            inner,
            dict(a.params),
            tuple(a.fallbacks),
            a.context_window_fallback,
            name,
        )
    if name is not None and "/" in name:
        head, _, tail = name.partition("/")
        if ("providers", head) in registry:
            return Route(head, tail, alias=name)
    return Route(default_provider(), name, alias=name)


def build_messages(
    messages: str | Message | Mapping[str, Any] | Iterable[Any], system: str | None = None
) -> tuple[Message, ...]:
    """A prompt string, a Message, an OpenAI message dict, or a list of those → messages.

    ``system`` is prepended as a system message. Raises ``TypeError`` for other shapes."""
    if isinstance(messages, str):
        out: list[Message] = [Message("user", messages)]
    elif isinstance(messages, Message):
        out = [messages]
    elif isinstance(messages, Mapping):
        out = [message_from_openai(messages)]
    else:
        out = []
        for m in messages:
            if isinstance(m, Message):
                out.append(m)
            elif isinstance(m, Mapping):
                if "role" not in m:
                    raise TypeError(f"a message dict needs a 'role': {dict(m)!r}")
                out.append(message_from_openai(m))
            else:
                raise TypeError(f"a message is a dict or a Message, got {type(m).__name__}")
    if system is not None:
        out.insert(0, Message("system", system))
    return tuple(out)


def _tool_spec(t: Any) -> ToolSpec:
    if isinstance(t, ToolSpec):
        return t
    if isinstance(t, Mapping) and t.get("type", "function") == "function" and "function" in t:
        fn = t["function"]
        return ToolSpec(
            FunctionSpec(
                fn["name"], fn.get("description"), fn.get("parameters") or {}, fn.get("strict")
            )
        )
    raise TypeError(f"a tool is a ToolSpec or an OpenAI tool dict, got {t!r}")


def build_request(
    messages: tuple[Message, ...], model: str, params: Mapping[str, Any], *, stream: bool = False
) -> ChatRequest:
    """A ChatRequest from messages and OpenAI-named parameters.

    Raises ``TypeError`` naming an unknown parameter and the accepted ones (pass
    provider-specific ones in ``extra_body``)."""
    kwargs: dict[str, Any] = {}
    for k, v in params.items():
        if k not in _REQUEST_PARAMS:
            raise TypeError(
                f"unknown chat parameter {k!r}; accepted: {', '.join(sorted(_REQUEST_PARAMS))} "
                "(provider-specific ones go in extra_body={...})"
            )
        if v is None:
            continue
        if k == "tools":
            v = tuple(_tool_spec(t) for t in v)
        elif k == "stop" and not isinstance(v, str):
            v = tuple(v)
        kwargs[k] = v
    return ChatRequest(model=model, messages=messages, stream=stream, **kwargs)
