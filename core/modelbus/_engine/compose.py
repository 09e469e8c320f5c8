"""Building a client's engine from its config and plugins."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._catalog import Catalog
from ..errors import ConfigError
from .engine import Engine

if TYPE_CHECKING:
    from .._client import Client
    from .._config.config import Config

__all__ = ["EnginePart", "compose_engine"]

T = TypeVar("T")


def compose_engine(
    client: Client, cfg: Config, namespace: str, build: Callable[[str, str], Any]
) -> Engine:
    """The engine of ``client``: the cache, retry policy and rate limiter ``[modelbus]``
    names (each started by ``build(kind, name)``), the catalog (the shipped one, plugins'
    layers, then ``[catalog]``), the observers, and the client's own composition and
    routing for providers and fallbacks.
    Raises :class:`ConfigError` for a bad catalog and :class:`PluginError` for an unknown
    plugin name."""
    core = cfg.modelbus
    registry = client.registry
    layers = [{r.name: r.factory} for r in registry.of_kind("catalog")]
    try:
        catalog = Catalog.load(*layers, cfg.catalog)
    except ValueError as exc:
        raise ConfigError(str(exc), key="catalog", source=cfg.source) from exc
    from .._logging import get_logger

    engine = Engine(
        config=cfg,
        registry=registry,
        cache=None if core.cache == "none" else build("caches", core.cache),
        retry_policy=build("retry_policies", core.retry_policy),
        rate_limiter=build("rate_limiters", core.rate_limiter),
        catalog=catalog,
        clock=client.clock,
        namespace=namespace,
        log=get_logger("modelbus"),
        provider=client.provider,
        route=client.route,
        build=build,
    )
    from .observe import build_observers

    # None without observers: the call path then tests this one attribute, no more.
    engine.observers = build_observers(engine, core.observers)
    return engine


class EnginePart(Generic[T]):
    """A client attribute that reads and writes the engine's part of the same name."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: Client | None, owner: type | None = None) -> T:
        return getattr(obj.engine, self._name)  # type: ignore[union-attr,no-any-return]

    def __set__(self, obj: Client, value: T) -> None:
        setattr(obj.engine, self._name, value)
