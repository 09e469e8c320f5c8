"""``modelbus doctor``: start each configured provider and run the checks plugins register
through ``modelbus_register_doctor_checks``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ._common import config_option, echo_json, load_config, make_client, plugins_for, table

if TYPE_CHECKING:
    from .._client import Client
    from .._config.config import Config
    from .._plugins.registry import Registry

__all__ = ["Row", "check_rows", "component_rows", "doctor", "doctor_rows"]

Row = tuple[str, str, bool, str]  # (provider or "-", what, ok, detail)


def _provider_rows(client: Client, name: str) -> list[Row]:
    from .._logging import redact

    try:
        provider = client.provider(name)
    except Exception as exc:  # a failed start is the finding, not a crash of the doctor
        return [(name, "starts", False, redact(f"{type(exc).__name__}: {exc}"))]
    rows: list[Row] = [(name, "starts", True, type(provider.inner).__name__)]
    if ("doctor_checks", name) not in client.registry:
        rows.append((name, "checks", True, "no doctor checks registered for this provider"))
        return rows
    return rows + check_rows(client.registry, name, provider.inner)


def check_rows(registry: Registry, name: str, obj: Any) -> list[Row]:
    """The rows of the doctor checks registered as ``name``, run on ``obj`` (a failing
    or malformed check is a failed row, never an exception)."""
    from .._logging import redact

    reg = registry.get("doctor_checks", name)
    try:
        found = list(reg.factory(obj))
    except Exception as exc:
        return [(name, f"checks from {reg.origin}", False, redact(f"{type(exc).__name__}: {exc}"))]
    rows: list[Row] = []
    for item in found:
        try:
            what, ok, detail = item
        except (TypeError, ValueError):
            rows.append(
                (
                    name,
                    f"checks from {reg.origin}",
                    False,
                    f"a check returned {item!r}, not (what, ok, detail)",
                )
            )
            continue
        rows.append((name, str(what), bool(ok), redact(str(detail))))
    return rows


def component_rows(client: Client, cfg: Config) -> list[Row]:
    """The checks of the configured cache and rate limiter, registered by their plugins
    as ``"caches.NAME"`` / ``"rate_limiters.NAME"`` (none registered: no rows)."""
    rows: list[Row] = []
    for kind, name, obj in (
        ("caches", cfg.modelbus.cache, client.cache),
        ("rate_limiters", cfg.modelbus.rate_limiter, client.rate_limiter),
    ):
        key = f"{kind}.{name}"
        if obj is not None and ("doctor_checks", key) in client.registry:
            rows += check_rows(client.registry, key, obj)
    return rows


def doctor_rows(config_path: str | None) -> list[Row]:
    """Findings, in order: the config file, plugins that failed to load, then for each
    configured provider (config sections, ``[modelbus] provider``, alias providers, the
    providers ``[modelbus] model`` and the aliases route to, or the one picked from the
    environment) whether it starts (missing credentials fail here) and what its checks
    report (a server that does not answer fails there), a configured model that routes
    nowhere, then the checks of the configured cache and rate limiter
    (:func:`component_rows`)."""
    from ..errors import ModelbusError
    from .config import selected_components

    cfg = load_config(config_path)
    loaded = plugins_for(cfg)
    rows: list[Row] = [("-", "config", True, cfg.source)]
    rows += [("-", f"plugin {p.name}", False, p.error) for p in loaded.plugins if p.error]
    # A config or plugin error here is not a finding: it exits 2 like in every command.
    with make_client(config_path) as client:
        names = selected_components(cfg, client.registry).get("providers", [])
        if not names:
            try:
                _ = client.default_provider
            except ModelbusError as exc:
                rows.append(("-", "default provider", False, str(exc)))
        # The models the config names route somewhere (an alias without a provider, or
        # [modelbus] model = "gpt-4o-mini" with nothing configured, goes to the catalog's
        # provider): check those providers too, and fail a name that routes nowhere.
        for model in [cfg.modelbus.model, *cfg.models]:
            if model is None:
                continue
            try:
                route = client.route(model)
            except ModelbusError as exc:
                rows.append(("-", f"model {model}", False, str(exc)))
                continue
            if route.provider not in names:
                names.append(route.provider)
        for name in names:
            rows += _provider_rows(client, name)
        rows += component_rows(client, cfg)
    return rows


@click.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON list of {provider, check, ok, detail}."
)
@config_option
def doctor(as_json: bool, config_path: str | None) -> None:
    """Check the config, plugins and each configured provider (plugins add checks such as
    "key accepted", "server answers" or "model exists"). Exit status 1 if any check fails:
    a provider without its credentials, a server that does not answer, a model no
    provider serves."""
    from .._logging import redact

    # Every detail masked, whatever produced it (a plugin's check, an exception text).
    rows = [(p, w, ok, redact(d)) for p, w, ok, d in doctor_rows(config_path)]
    if as_json:
        echo_json([{"provider": p, "check": w, "ok": ok, "detail": d} for p, w, ok, d in rows])
    else:
        table(
            ("provider", "check", "status", "detail"),
            ((p, w, "ok" if ok else "FAIL", d) for p, w, ok, d in rows),
        )
    if not all(ok for _, _, ok, _ in rows):
        ctx: Any = click.get_current_context()
        ctx.exit(1)
