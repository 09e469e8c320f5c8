"""``[models.NAME]`` and ``[providers.NAME] use`` as read from a config: the checks the
config makes on aliases (deployments, weights, per-model policies) and on named instances,
each error naming its key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._wire.params import ParamError, check_params
from ..errors import ConfigError
from .settings import settings_fields, structure_settings

if TYPE_CHECKING:
    from .config import ModelAlias

__all__ = ["read_alias", "read_instances"]


def read_alias(name: str, body: Mapping[str, Any], source: str) -> ModelAlias:
    """``[models.NAME]`` checked and structured: its own keys, its ``retry_policy`` and
    ``rate_limit`` tables, its deployments and weights, its ``params``. Raises
    :class:`ConfigError` naming the key."""
    from .config import ModelAlias, RateLimit

    raw = dict(body)
    dotted = f"models.{name}"
    # Both are tables of their own (or a name): structured apart, with their own keys.
    policy = raw.pop("retry_policy", None)
    limit = raw.pop("rate_limit", None)
    alias = structure_settings(ModelAlias, raw, dotted=dotted, source=source)
    if policy is not None:
        alias = attrs.evolve(
            alias, retry_policy=_policy_ref(policy, f"{dotted}.retry_policy", source)
        )
    if limit is not None:
        rl = structure_settings(RateLimit, limit, dotted=f"{dotted}.rate_limit", source=source)
        alias = attrs.evolve(alias, rate_limit=rl)
    if alias.model is None and not alias.deployments:
        raise ConfigError(
            "missing required key 'model' (str): an alias names a model, or deployments",
            key=f"{dotted}.model",
            source=source,
            accepted=sorted(settings_fields(ModelAlias)),
        )
    if alias.deployments and alias.provider is not None:
        raise ConfigError(
            "an alias with deployments takes no provider: each deployment names its own "
            '("instance/model")',
            key=f"{dotted}.provider",
            source=source,
        )
    for i, dep in enumerate(alias.deployments):
        head, slash, tail = dep.partition("/")
        if not (slash and head and tail):
            raise ConfigError(
                f'deployment {dep!r} must be "instance/model" (a provider or a named '
                "instance, a slash, then the model or deployment name)",
                key=f"{dotted}.deployments[{i}]",
                source=source,
            )
    if len(set(alias.deployments)) != len(alias.deployments):
        raise ConfigError(
            "a deployment is listed twice", key=f"{dotted}.deployments", source=source
        )
    for dep in alias.weights:
        if dep not in alias.deployments:
            raise ConfigError(
                f"weight for {dep!r}, which is not one of the deployments",
                key=f"{dotted}.weights",
                source=source,
                accepted=alias.deployments,
            )
    try:
        check_params(alias.params)
    except ParamError as exc:
        raise ConfigError(
            str(exc), key=f"{dotted}.params.{exc.name}", source=source, accepted=exc.accepted
        ) from None
    return alias


def _policy_ref(value: Any, key: str, source: str) -> str | dict[str, Any]:
    """A retry policy named (``"exponential"``) or given as a table with ``use``."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping) and isinstance(value.get("use"), str) and value["use"]:
        return dict(value)
    raise ConfigError(
        "retry_policy is a registered retry policy name, or a table naming one with "
        f'use = "NAME" and its settings, got {value!r}',
        key=key,
        source=source,
    )


def read_instances(raw: Mapping[str, Any], source: str) -> dict[str, str]:
    """``[providers.NAME] use = "PLUGIN"`` → {NAME: PLUGIN} (``use`` taken out of the
    section, which holds the plugin's own settings)."""
    out: dict[str, str] = {}
    for name, body in raw.items():
        if "use" not in body:
            continue
        plugin = body.pop("use")
        if not isinstance(plugin, str) or not plugin or plugin == name:
            raise ConfigError(
                "use names the provider plugin this instance runs, a string other than "
                f"the instance's own name, got {plugin!r}",
                key=f"providers.{name}.use",
                source=source,
            )
        out[name] = plugin
    return out
