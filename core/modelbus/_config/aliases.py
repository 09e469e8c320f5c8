"""``[models.NAME]`` and ``[providers.NAME] use``: the alias settings class
(:class:`ModelAlias`) and the checks the config makes on aliases (deployments, weights,
per-model policies) and on named instances, each error naming its key."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import attrs
from attrs import field, frozen
from attrs.validators import optional

from .._wire.params import ParamError, check_params
from ..errors import ConfigError
from .limits import RateLimit
from .settings import settings_fields, structure_settings
from .validators import seconds, usd

__all__ = ["STRATEGIES", "ModelAlias", "read_alias", "read_instances"]


STRATEGIES = ("weighted", "least-busy", "latency", "usage")


def _weights(_inst: Any, attr: attrs.Attribute[Any], value: dict[str, float]) -> None:
    for name, w in value.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise ValueError(f"weight of {name!r} must be a finite number > 0, got {w!r}")


@frozen
class ModelAlias:
    """``[models.NAME]``: an alias routing to ``provider``/``model`` with default ``params``
    (OpenAI chat parameters: ``temperature``, ``max_tokens``...; checked when the config is
    read, see ``modelbus._wire.params``); ``fallbacks`` (``"provider/model"`` or alias names)
    are tried in order when the primary is unavailable; ``context_window_fallback`` on
    ContextLengthExceededError; ``timeout_s``: seconds each attempt may take (replaces the
    provider's ``timeout_s``; a call's ``timeout=`` replaces it in turn).

    A deployment pool (see ``modelbus._pools.provider``; guide: "Deployment pools"):

    - ``deployments``: ``"instance/model"`` entries (a provider plugin or a named
      instance, ``[providers.NAME] use = "PLUGIN"``) serving this model; each attempt
      of a call goes to one of them. With ``deployments``, ``model`` is the logical
      model name (for the catalog's prices and context window; default: the
      deployments' model when they all name the same one, else the alias name).
    - ``strategy``: ``"weighted"`` (default: random in proportion to ``weights``),
      ``"least-busy"`` (fewest calls in flight), ``"latency"`` (lowest recent
      latency) or ``"usage"`` (most rpm/tpm head-room left this minute under
      ``[rate_limits."instance"]`` / ``[rate_limits."instance/model"]``).
    - ``weights``: deployment → weight > 0 (default 1 each).
    - ``cooldown_s``: seconds a deployment is skipped after a 429, a 5xx, a timeout
      or a connection error without ``Retry-After`` (default 5; its ``Retry-After``
      when it sends one).
    - ``account_cooldown_s``: seconds a deployment is skipped after an account failure:
      a 429 ``insufficient_quota`` (out of credit), a 401 (key refused) or a 403 (no
      access); the call moves on to a healthy deployment at once. Default 600: credit and
      keys come back only when a person acts, so a short cooldown would spend an attempt
      of many calls on a deployment that cannot answer, and ten minutes bound the time a
      fixed deployment waits to be used again (one attempt per 10 minutes probes it).

    Per-model policies (a call's own arguments still win):

    - ``retry_policy``: a registered retry policy name (``"exponential"``), or a table
      ``{ use = "exponential", max_attempts = 5 }`` with that policy's settings;
      replaces ``[modelbus] retry_policy`` for this model.
    - ``rate_limit``: ``{ rpm = 60, tpm = 100000 }`` for this model's calls (key
      ``"models/NAME"``), on top of ``[rate_limits]``.
    - ``max_cost_usd``: a budget in US dollars for this model's calls over the
      client's lifetime (as ``[budgets.NAME]`` with ``scope = "client"``, ``window =
      "total"``, named ``models.NAME.max_cost_usd``).
    """

    model: str | None = None
    provider: str | None = None
    params: dict[str, Any] = field(factory=dict)
    fallbacks: list[str] = field(factory=list)
    context_window_fallback: str | None = None
    timeout_s: float | None = field(default=None, validator=seconds)
    deployments: list[str] = field(factory=list)
    strategy: Literal["weighted", "least-busy", "latency", "usage"] = field(
        default="weighted", validator=attrs.validators.in_(STRATEGIES)
    )
    weights: dict[str, float] = field(factory=dict, validator=_weights)
    cooldown_s: float = field(default=5.0, validator=attrs.validators.gt(0))
    account_cooldown_s: float = field(default=600.0, validator=attrs.validators.gt(0))
    retry_policy: str | dict[str, Any] | None = None
    rate_limit: RateLimit | None = None
    max_cost_usd: float | None = field(default=None, validator=optional(usd))


def read_alias(name: str, body: Mapping[str, Any], source: str) -> ModelAlias:
    """``[models.NAME]`` checked and structured: its own keys, its ``retry_policy`` and
    ``rate_limit`` tables, its deployments and weights, its ``params``. Raises
    :class:`ConfigError` naming the key."""
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
