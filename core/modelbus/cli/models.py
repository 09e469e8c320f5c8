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
    tokens (empty: unknown); "tiers" names the service tiers with prices of their own
    (--json has them, and the whole source of each entry)."""
    from .._catalog import catalog_rows

    cfg = load_config(config_path)
    rows = catalog_rows(build_catalog(cfg, plugins_for(cfg).registry))
    if as_json:
        echo_json(rows)
        return
    table(
        (
            "model",
            "provider",
            "mode",
            "context",
            "max out",
            "$in/1M",
            "$cached/1M",
            "$out/1M",
            "tiers",
            "reasoning",
            "source",
            "as of",
        ),
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
                ",".join(r["service_tiers"]),
                _flag(r["reasoning"]),
                _short_source(r["source"]),
                r["as_of"],
            )
            for r in rows
        ),
    )


def _flag(v: object) -> str:
    return "" if v is None else "yes" if v else "no"


def _short_source(source: str | None) -> str:
    """``genai-prices 0.2.3`` of ``genai-prices 0.2.3 (pydantic/genai-prices, MIT): ...``;
    ``--json`` has the whole text."""
    if not source:
        return ""
    return source.split(" (", 1)[0].split(":", 1)[0][:40]
