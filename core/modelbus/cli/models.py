"""``modelbus models``: the model catalog (context windows, output limits, prices)."""

from __future__ import annotations

import click

from ._common import build_catalog, config_option, echo_json, load_config, plugins_for, table

__all__ = ["models"]


def _price(v: object) -> str:
    return "" if v is None else f"{v:g}"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per model.")
@config_option
def models(as_json: bool, config_path: str | None) -> None:
    """List the model catalog: the shipped data, plugin entries and [catalog."model"]
    overrides of the config. Windows and limits are tokens; prices are US dollars per 1M
    tokens (empty: unknown)."""
    from .._catalog import catalog_rows

    cfg = load_config(config_path)
    rows = catalog_rows(build_catalog(cfg, plugins_for(cfg).registry))
    if as_json:
        echo_json(rows)
        return
    table(
        ("model", "provider", "mode", "context", "max out", "$in/1M", "$cached/1M", "$out/1M"),
        (
            (
                r["model"],
                r["provider"],
                r["mode"],
                r["context_window"],
                r["max_output_tokens"],
                _price(r["input_per_1m"]),
                _price(r["cached_input_per_1m"]),
                _price(r["output_per_1m"]),
            )
            for r in rows
        ),
    )
