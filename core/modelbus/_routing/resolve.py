"""From what the caller wrote to what is sent: model/alias routing and request building."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from attrs import frozen

from .._catalog import Catalog, CatalogEntry
from .._config.config import Config, ModelAlias, RateLimit
from .._plugins.registry import Registry
from .._wire.converter import message_from_openai
from .._wire.message_memo import derived, messages_of, prompt_of
from .._wire.params import REQUEST_PARAMS
from .._wire.types import ChatRequest, FunctionSpec, Message, ToolSpec
from ..errors import ConfigError

__all__ = [
    "Route",
    "build_messages",
    "build_request",
    "configured_provider",
    "logical_model",
    "pick_default_provider",
    "resolve_route",
]

_REQUEST_PARAMS = REQUEST_PARAMS


@frozen
class Route:
    """Where a call goes: the registered ``provider`` name, the provider's ``model`` name,
    the alias's default ``params``, its ``fallbacks`` (each ``"provider/model"`` or an
    alias) and ``context_window_fallback``. ``alias`` is the name the caller used.
    ``timeout_s``, ``retry_policy`` (a name, or a table with ``use``) and
    ``rate_limit`` are the alias's own policies (``None``: the client's), see
    ``modelbus._engine.policies``."""

    provider: str
    model: str | None
    params: Mapping[str, Any] = attrs.field(factory=dict)
    fallbacks: tuple[str, ...] = ()
    context_window_fallback: str | None = None
    alias: str | None = None
    timeout_s: float | None = None
    retry_policy: str | Mapping[str, Any] | None = None
    rate_limit: RateLimit | None = None


def configured_provider(config: Config, registry: Registry) -> tuple[str, str] | None:
    """The provider the config or the environment names, and why; ``None`` when nothing
    is configured (then only the embedded/local default remains, see
    :func:`pick_default_provider`).

    Order: ``[modelbus] provider`` (also ``MODELBUS_PROVIDER``, ``-p``); ``azure`` when
    ``AZURE_OPENAI_ENDPOINT`` and a key are set; ``openai`` when ``OPENAI_API_KEY`` is set.
    """
    if config.modelbus.provider:
        return config.modelbus.provider, f"provider {config.modelbus.provider!r} from config"
    env = os.environ
    if (
        ("providers", "azure") in registry
        and env.get("AZURE_OPENAI_ENDPOINT")
        and (env.get("AZURE_OPENAI_API_KEY") or env.get("AZURE_OPENAI_KEY"))
    ):
        return "azure", "provider 'azure' (AZURE_OPENAI_ENDPOINT and a key are set)"
    if ("providers", "openai") in registry and env.get("OPENAI_API_KEY"):
        return "openai", "provider 'openai' (OPENAI_API_KEY is set)"
    return None


def pick_default_provider(config: Config, registry: Registry) -> tuple[str, str]:
    """The provider to use when none is named, and why (one line for the user).

    :func:`configured_provider` when the config or environment names one, else ``local``
    (which probes local servers and falls back to its embedded model). Raises
    :class:`ConfigError` when none fits.
    """
    chosen = configured_provider(config, registry)
    if chosen is not None:
        return chosen
    if ("providers", "local") in registry:
        return "local", "provider 'local' (no API key configured)"
    raise ConfigError(
        "no provider is configured: set [modelbus] provider, OPENAI_API_KEY, or install "
        "modelbus-local",
        key="modelbus.provider",
        source=config.source,
        accepted=registry.names("providers"),
    )


def resolve_route(
    model: str | None,
    config: Config,
    registry: Registry,
    default_provider: Callable[[], str],
    catalog: Catalog | None = None,
) -> Route:
    """Resolve an alias (``[models.X]``), a ``provider/model`` string (only when the prefix
    is a registered provider, so ``meta/llama-3.1`` stays a model name) or a plain model
    name. ``model=None`` uses ``[modelbus] model``, and no model at all the default
    provider (``local`` when nothing is configured: its own default model).

    A plain name goes to the configured provider (:func:`configured_provider`). With none
    configured it goes to the provider ``catalog`` lists for it (``gpt-4o-mini`` →
    ``openai``, whose start then names the missing key), never silently to another
    model: a name no catalog entry serves, or a ``provider/`` prefix that is no installed
    provider, raises :class:`ConfigError` naming the known providers and the closest
    model names. A prefix one typo away from a provider name (``opnai/``) raises even when
    a provider is configured.
    """
    name = model or config.modelbus.model
    if name is not None and name in config.models:
        a = config.models[name]
        if a.deployments:
            return _pool_route(name, a)
        provider = a.provider or ""
        inner = a.model or ""
        if a.provider is None and "/" in inner:
            head, _, tail = inner.partition("/")
            if ("providers", head) in registry:
                provider, inner = head, tail
        if not provider and configured_provider(config, registry) is None:
            # nothing configured: the catalog's provider for an OpenAI model, not local
            entry = catalog.get(inner) if catalog is not None else None
            if entry is not None and entry.provider and ("providers", entry.provider) in registry:
                provider = entry.provider
        return _alias_route(name, a, provider or default_provider(), inner)
    if name is None:
        return Route(default_provider(), None)
    head, slash, tail = name.partition("/")
    if slash and ("providers", head) in registry:
        return Route(head, tail, alias=name)
    providers = registry.names("providers")
    if slash and not (catalog is not None and name in catalog):
        typo = difflib.get_close_matches(head, providers, n=1, cutoff=0.8)
        if typo:
            raise _unknown_provider(name, head, tail, typo[0], providers, config)
    chosen = configured_provider(config, registry)
    if chosen is not None:
        return Route(chosen[0], name, alias=name)
    entry = catalog.get(name) if catalog is not None else None
    if entry is not None and entry.provider and ("providers", entry.provider) in registry:
        return Route(entry.provider, name, alias=name)
    if not providers:
        default_provider()  # raises the "no provider is configured" error
    if slash:
        raise _unknown_provider(name, head, tail, None, providers, config)
    raise _unserved_model(name, entry, providers, config, catalog)


def _pool_route(name: str, a: ModelAlias) -> Route:
    """The route of an alias with ``deployments``: the pool provider ``pool:NAME`` and
    the logical model (see ``modelbus._pools.provider``); a pool of one is its deployment itself,
    so it behaves exactly as ``provider/model`` does."""
    from .instances import pool_name

    if len(a.deployments) == 1:
        provider, _, model = a.deployments[0].partition("/")
    else:
        provider, model = pool_name(name), logical_model(name, a)
    return _alias_route(name, a, provider, model)


def _alias_route(name: str, a: ModelAlias, provider: str, model: str) -> Route:
    return Route(
        provider,
        model,
        dict(a.params),
        tuple(a.fallbacks),
        a.context_window_fallback,
        name,
        a.timeout_s,
        a.retry_policy,
        a.rate_limit,
    )


def logical_model(name: str, a: ModelAlias) -> str:
    """The model name a pool's calls carry until a deployment is picked (prices, context
    window, budgets, cache key): ``model`` when set, else the deployments' model when
    they all name the same one, else the alias name."""
    if a.model:
        return a.model
    models = {d.partition("/")[2] for d in a.deployments}
    return models.pop() if len(models) == 1 else name


def _known(providers: list[str]) -> str:
    return f"known providers: {', '.join(sorted(providers)) or '(none installed)'}"


def _unknown_provider(
    name: str, head: str, tail: str, typo: str | None, providers: list[str], config: Config
) -> ConfigError:
    hint = f"; did you mean {typo}/{tail}?" if typo else ""
    return ConfigError(
        f"unknown provider {head!r} in model {name!r}{hint} ({_known(providers)}; "
        "a model name with a slash needs a provider configured to serve it: "
        "[modelbus] provider or -p)",
        key="modelbus.model",
        source=config.source,
    )


def _unserved_model(
    name: str,
    entry: CatalogEntry | None,
    providers: list[str],
    config: Config,
    catalog: Catalog | None,
) -> ConfigError:
    if entry is not None and entry.provider:
        why = (
            f"the catalog lists it for provider {entry.provider!r}, which is not installed "
            f"(install the plugin that registers {entry.provider!r})"
        )
    else:
        why = "the catalog does not list it and no provider is configured"
    names = [e.model for e in catalog if e.model != name] if catalog is not None else []
    close = difflib.get_close_matches(name, [*names, *config.models], n=3, cutoff=0.75)
    parts = [f"no installed provider serves model {name!r}: {why}"]
    if close:
        parts.append(f"did you mean {' or '.join(close)}?")
    parts.append(
        f"name its provider (provider/model, e.g. local/{name} for a local server's "
        "model), set [modelbus] provider, or set an API key such as OPENAI_API_KEY "
        f"({_known(providers)})"
    )
    return ConfigError("; ".join(parts), key="modelbus.model", source=config.source)


def build_messages(
    messages: str | Message | Mapping[str, Any] | Iterable[Any], system: str | None = None
) -> tuple[Message, ...]:
    """A prompt string, a Message, an OpenAI message dict, or a list of those → messages.

    ``system`` is prepended as a system message. Raises ``TypeError`` for other shapes.
    A long list of plain message dicts sent again unchanged gives the same Messages
    (``_message_memo``)."""
    # Lists before Mapping: an ABC's isinstance check costs more than the rest together.
    if isinstance(messages, str):
        out: tuple[Message, ...] = prompt_of(messages)
    elif isinstance(messages, (list, tuple)):
        out = messages_of(messages, _build_each)
    elif isinstance(messages, Message):
        out = (messages,)
    elif isinstance(messages, Mapping):
        out = (message_from_openai(messages),)
    else:
        out = _build_each(list(messages))
    if system is not None:
        out = (Message("system", system), *out)
    return out


def _build_each(messages: Iterable[Any]) -> tuple[Message, ...]:
    out: list[Message] = []
    for m in messages:
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, Mapping):
            if "role" not in m:
                raise TypeError(f"a message dict needs a 'role': {dict(m)!r}")
            out.append(message_from_openai(m))
        else:
            raise TypeError(f"a message is a dict or a Message, got {type(m).__name__}")
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
    provider-specific ones in ``extra_body``). Messages sent again (``_message_memo``)
    with the same scalar parameters give the same (immutable) request."""
    try:
        # Types in the key: 1, 1.0 and True are equal keys but different JSON.
        what = ("request", model, stream, *params.items(), *map(type, params.values()))
        hash(what)
    except TypeError:  # a dict or list parameter: built every time
        return _request(messages, model, params, stream)
    return derived(messages, what, _request, messages, model, params, stream)


def _request(
    messages: tuple[Message, ...], model: str, params: Mapping[str, Any], stream: bool
) -> ChatRequest:
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
        elif (k == "stop" and not isinstance(v, str)) or k == "modalities":
            v = tuple(v)
        kwargs[k] = v
    return ChatRequest(model=model, messages=messages, stream=stream, **kwargs)
