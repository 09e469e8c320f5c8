"""``modelbus logs``: the calls recorded in the call log (:mod:`modelbus.builtins.calllog`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from ._common import config_option, echo_json, load_config, table

__all__ = ["logs"]


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _short(text: str | None, n: int = 60) -> str:
    one = " ".join((text or "").split())
    return one if len(one) <= n else one[: n - 1] + "…"


def _prompt(r: dict[str, Any]) -> str:
    msgs = [m for m in r["messages"] or () if m.get("role") == "user"]
    c = msgs[-1].get("content") if msgs else None
    return c if isinstance(c, str) else ""


def _reply(r: dict[str, Any]) -> str:
    if r["error"] is not None:
        return f"[{r['error']['type']}] {r['error']['message']}"
    c = (r["response"] or {}).get("content")
    return c if isinstance(c, str) else ""


@click.command()
@click.option(
    "-q",
    "--query",
    metavar="TEXT",
    help="Only calls whose prompt or reply holds every word of TEXT (full-text search; "
    "a word ending in * matches as a prefix).",
)
@click.option(
    "-n",
    "--limit",
    default=20,
    show_default=True,
    # bounded: SQLite's LIMIT takes a 64-bit integer (a 30-digit N was an OverflowError)
    type=click.IntRange(min=1, max=10**9),
    help="Show the newest N calls.",
)
@click.option("--model", metavar="M", help="Only calls to model M (as the provider names it).")
@click.option("--cid", metavar="ID", help="Only calls of conversation ID.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list, newest first: every recorded field of each call.",
)
@config_option
def logs(
    query: str | None,
    limit: int,
    model: str | None,
    cid: str | None,
    as_json: bool,
    config_path: str | None,
) -> None:
    """List the calls recorded in the call log ([log] path; 'modelbus chat' records
    its calls there), newest first.

    --json gives each call's id, ts (Unix seconds), cid (conversation id), operation,
    provider, model, stream, messages and params (as sent, secrets masked), response
    (the assistant message), usage (tokens), cost_usd (US dollars, null when the price is
    unknown), latency_s (seconds), attempts, cache (hit, miss, bypass, shared) and error.
    Exit status 2 for a search text that cannot be searched for.
    """
    from ..builtins._calllog_store import QueryError, search
    from ._calllog import log_path_text, open_log

    cfg = load_config(config_path)
    conn = open_log(cfg)
    if conn is None:
        rows: list[dict[str, Any]] = []
    else:
        try:
            rows = search(conn, query=query, model=model, cid=cid, limit=limit)
        except QueryError as exc:
            raise click.UsageError(str(exc)) from None
        finally:
            conn.close()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        filtered = query is not None or model is not None or cid is not None
        what = "no logged call matches" if filtered else "no calls logged"
        click.echo(f"{what} in {log_path_text(cfg)}", err=True)
        return
    table(
        ("id", "when (UTC)", "cid", "model", "tokens", "$", "s", "cache", "prompt", "reply"),
        (
            (
                r["id"],
                _when(r["ts"]),
                r["cid"],
                r["model"],
                "" if r["usage"] is None else r["usage"]["total_tokens"],
                "" if r["cost_usd"] is None else f"{r['cost_usd']:.6f}",
                f"{r['latency_s']:.2f}",
                r["cache"],
                _short(_prompt(r), 40),
                _short(_reply(r)),
            )
            for r in rows
        ),
    )
