"""Per-model policies (``[models.X] retry_policy``, ``rate_limit``, ``max_cost_usd``):
the one place the call path asks which applies to a route.

``timeout_s`` and ``params`` ride on the :class:`~modelbus._routing.resolve.Route` itself;
``rate_limit`` is read by ``_ratelimit`` (key ``"models/NAME"``) and ``max_cost_usd`` by
``_budgeting`` (a client-scoped total budget named ``models.NAME.max_cost_usd``).
A call's own arguments (``timeout=``, parameters) still win over all of them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._plugins.registry import start
from ..errors import ConfigError

if TYPE_CHECKING:
    from .._config.config import Config
    from .._plugins.registry import Registry
    from .._routing.resolve import Route
    from ..protocols import RetryPolicy
    from . import Engine

__all__ = ["check_policies", "policy_for"]

_built: weakref.WeakKeyDictionary[Engine, dict[str, RetryPolicy]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def policy_for(c: Engine, route: Route) -> RetryPolicy:
    """The retry policy of ``route``: its alias's ``retry_policy`` (built once per client
    and alias), else the client's. Raises :class:`ConfigError` / :class:`PluginError`
    as building any plugin does."""
    ref = route.retry_policy
    if ref is None:
        return c.retry_policy
    key = route.alias or ""
    policies = _built.get(c)
    if policies is not None and key in policies:
        return policies[key]
    with _lock:
        policies = _built.setdefault(c, {})
        if key not in policies:
            policies[key] = _build(c.config, c.registry, key, ref)
        return policies[key]


def _build(cfg: Config, registry: Registry, alias: str, ref: str | Mapping[str, Any]) -> Any:
    dotted = f"models.{alias}.retry_policy"
    if isinstance(ref, str):
        name, body = ref, None
    else:
        body = {k: v for k, v in ref.items() if k != "use"}
        name = ref["use"]
    if ("retry_policies", name) not in registry:
        raise ConfigError(
            f"no retry_policies plugin named {name!r} is installed",
            key=dotted,
            source=cfg.source,
            accepted=registry.names("retry_policies"),
        )
    reg = registry.get("retry_policies", name)
    if body is None:
        return start(reg, cfg)
    from .._config.settings import structure_settings

    if reg.settings is None:
        if body:
            raise ConfigError(
                f"retry policy {name!r} takes no settings", key=dotted, source=cfg.source
            )
        return reg.factory()
    settings: Any = structure_settings(reg.settings, body, dotted=dotted, source=cfg.source)
    return reg.factory(settings)


def check_policies(cfg: Config, registry: Registry) -> None:
    """Check every alias's ``retry_policy`` (name installed, settings accepted) without
    keeping what is built; for ``modelbus config check``."""
    for alias, a in cfg.models.items():
        if a.retry_policy is not None:
            _build(cfg, registry, alias, a.retry_policy)
