"""``modelbus doctor``: start each configured provider and run the checks plugins register
through ``modelbus_register_doctor_checks``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ._common import config_option, echo_json, load_config, make_client, plugins_for, table

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["Row", "doctor", "doctor_rows"]

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
    reg = client.registry.get("doctor_checks", name)
    try:
        found = list(reg.factory(provider.inner))
    except Exception as exc:
        return [
            *rows,
            (name, f"checks from {reg.origin}", False, redact(f"{type(exc).__name__}: {exc}")),
        ]
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


def doctor_rows(config_path: str | None) -> list[Row]:
    """Findings, in order: the config file, plugins that failed to load, then for each
    configured provider (config sections, ``[modelbus] provider``, alias providers, or the
    one picked from the environment) whether it starts and what its checks report."""
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
        for name in names:
            rows += _provider_rows(client, name)
    return rows


@click.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON list of {provider, check, ok, detail}."
)
@config_option
def doctor(as_json: bool, config_path: str | None) -> None:
    """Check the config, plugins and each configured provider (plugins add checks such as
    "key accepted" or "model exists"). Exit status 1 if any check fails."""
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
