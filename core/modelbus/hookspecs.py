"""The pluggy hook specifications of modelbus (project name and entry-point group ``modelbus``).

Hooks are for discovery only. Each ``modelbus_register_*`` hook receives a
``register`` callback and calls it once per thing it contributes::

    from modelbus import hookimpl

    @hookimpl
    def modelbus_register_providers(register):
        register("echo", EchoProvider, settings=EchoSettings, description="Echoes the prompt")

``register(name, factory, settings=None, description=None)``:

- ``name`` (str): the name configs and calls use (``provider = "echo"``): non-empty,
  no spaces; a provider's has no ``/`` or ``:`` either (``provider/model``, ``pool:NAME``);
  catalog names are model names (any non-empty text). A name that breaks this is the
  plugin's error, listed by ``modelbus plugins``.
- ``factory``: called once per client as ``factory(settings)`` (or ``factory()`` when
  ``settings`` is ``None``) and returns the object implementing the kind's protocol
  (:mod:`modelbus.protocols`).
- ``settings``: an attrs class; the config section (``[providers.echo]``) is structured
  into it with unknown keys rejected.

The host owns name collisions, under one rule for every kind and for CLI commands: a
built-in name (``memory``, ``exponential``) stays the built-in's and the plugin that
registers it too is reported; a name two plugins register is neither's, and using it
raises :class:`modelbus.errors.PluginError` naming both distributions. Blocking either
side (``[modelbus.plugins] block``) resolves it. A hook that raises, or an unknown hook
name, is reported with its plugin's name and the rest of the plugins keep working
(``MODELBUS_STRICT_PLUGINS=1``: the first failure raises at load).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from ._plugins.registry import Register

PROJECT_NAME = "modelbus"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def modelbus_register_providers(register: Register) -> None:
    """Register chat/embedding providers.

    The factory returns an object with the sync side (``chat``, ``stream``, ``embed``), the
    async side (``achat``, ``astream``, ``aembed``) or both (see
    :class:`modelbus.protocols.SyncProvider`); the core adapts a one-sided provider.
    """


@hookspec
def modelbus_register_caches(register: Register) -> None:
    """Register response caches; the factory returns a :class:`modelbus.protocols.Cache`."""


@hookspec
def modelbus_register_retry_policies(register: Register) -> None:
    """Register retry policies; the factory returns a :class:`modelbus.protocols.RetryPolicy`."""


@hookspec
def modelbus_register_token_counters(register: Register) -> None:
    """Register token counters; the factory returns a :class:`modelbus.protocols.TokenCounter`.

    The core picks the first counter whose ``serves(model)`` is true, preferring exact ones,
    and falls back to an approximate counter flagged ``exact=False``.
    """


@hookspec
def modelbus_register_rate_limiters(register: Register) -> None:
    """Register rate limiters; the factory returns a :class:`modelbus.protocols.RateLimiter`."""


@hookspec
def modelbus_register_budget_stores(register: Register) -> None:
    """Register budget stores, where cost budgets of ``namespace`` and ``model`` scope
    are kept (``[modelbus] budget_store``); the factory returns a
    :class:`modelbus.protocols.BudgetStore`. The core registers ``memory`` (this process);
    modelbus-redis-cache registers ``redis`` (shared by processes and machines)."""


@hookspec
def modelbus_register_pool_states(register: Register) -> None:
    """Register pool state stores, where deployment pools (``[models.X] deployments``)
    keep each deployment's cooldown, calls in flight and usage this minute (``[modelbus]
    pool_state``); the factory returns a :class:`modelbus.protocols.PoolState`. The core
    registers ``memory`` (each client its own); modelbus-redis-cache registers ``redis``
    (shared by processes and machines)."""


@hookspec
def modelbus_register_tools(register: Register) -> None:
    """Register tools (functions the model may call).

    Here ``factory`` is the tool function itself (sync or async, with type hints and a
    docstring, from which the JSON schema is made) and ``settings`` is unused.
    """


@hookspec
def modelbus_register_response_formats(register: Register) -> None:
    """Register response-format handlers (used by modelbus-structured-output); the factory
    returns a :class:`modelbus.protocols.ResponseFormatHandler`."""


@hookspec
def modelbus_register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``modelbus`` command line (``cli.add_command``)."""


@hookspec
def modelbus_register_catalog(register: Register) -> None:
    """Add or override model catalog entries: ``register(model_name, entry_dict)`` where the
    dict has the catalog file's fields (provider, context_window, prices per 1M tokens...)."""


@hookspec
def modelbus_register_doctor_checks(register: Register) -> None:
    """Register ``modelbus doctor`` checks: ``register(provider_name, check)`` where
    ``check(provider) -> list[tuple[str, bool, str]]`` returns (what, ok, detail) rows;
    ``provider`` is the object the provider's factory returned, built from the config.

    A cache or rate limiter registers its checks as ``"caches.NAME"`` /
    ``"rate_limiters.NAME"``: ``check(obj)`` gets the configured cache or rate limiter.
    ``modelbus doctor`` reports them, and ``modelbus cache ...`` runs the cache's first
    and exits 1 with the failed row's detail (e.g. a shared cache's server that refuses
    the connection or the password)."""


@hookspec
def modelbus_register_templates(register: Register) -> None:
    """Register prompt templates: ``register(name, path_to_template_toml)``."""


@hookspec
def modelbus_register_observers(register: Register) -> None:
    """Register call observers; the factory returns a :class:`modelbus.protocols.Observer`.

    A client builds the observers its config names (``[modelbus] observers = ["otel"]``,
    settings from ``[observers.NAME]``) and hands each one every call event of
    :mod:`modelbus.events`, synchronously and in order. An observer that raises is
    reported once (a ``modelbus.observer_failed`` warning naming it and the event) and
    never changes a call's result.
    """
