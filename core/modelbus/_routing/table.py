"""A client's routes: model names to :class:`Route`, resolved once and kept, and the
default provider (see ``_routing`` for the rules)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import ConfigError
from .resolve import Route, build_messages, build_request, pick_default_provider, resolve_route

if TYPE_CHECKING:
    from .._catalog import Catalog
    from .._config.config import Config
    from .._engine.provider_adapter import AdaptedProvider
    from .._plugins.registry import Registry
    from .._wire.types import ChatRequest

__all__ = ["RouteTable", "request_for"]


class RouteTable:
    """Routes by the name a caller used (bounded: names come from callers)."""

    def __init__(
        self,
        config: Config,
        registry: Registry,
        catalog: Callable[[], Catalog],
        provider: Callable[[str], AdaptedProvider],
    ) -> None:
        self._config = config
        self._registry = registry
        self._catalog = catalog
        self._provider = provider
        self._routes: dict[str | None, Route] = {}
        self._default: tuple[str, str] | None = None

    def default(self) -> tuple[str, str]:
        """The default provider and one line saying why (``pick_default_provider``)."""
        if self._default is None:
            self._default = pick_default_provider(self._config, self._registry)
        return self._default

    def route(self, model: str | None) -> Route:
        """Where a call for ``model`` (or the default) goes; the provider's default model
        fills in when neither call nor config names one. Raises :class:`ConfigError`."""
        known = self._routes.get(model)
        if known is not None:
            return known
        cfg = self._config
        route = resolve_route(
            model, cfg, self._registry, lambda: self.default()[0], self._catalog()
        )
        if route.model is None:
            dm = self._provider(route.provider).default_model
            if dm is None:
                raise ConfigError(
                    f"no model given and provider {route.provider!r} has no default model",
                    key="modelbus.model",
                    source=cfg.source,
                )
            route = attrs.evolve(route, model=dm)
        if len(self._routes) < 1024:
            self._routes[model] = route
        return route


def request_for(
    route: Route, messages: Any, system: str | None, params: Mapping[str, Any], stream: bool
) -> ChatRequest:
    """The request a call sends on ``route``: the messages (``system`` first), the route's
    model, and the alias's params under the call's own (the call's win)."""
    merged = {**route.params, **params} if route.params else params
    assert route.model is not None
    return build_request(build_messages(messages, system), route.model, merged, stream=stream)
