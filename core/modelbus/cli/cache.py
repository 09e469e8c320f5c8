"""``modelbus cache stats|clear|invalidate``: the configured response cache, whichever it
is (``[modelbus] cache``, or ``--cache NAME``), built from its ``[caches.NAME]`` section
exactly as a client would build it.

The ``memory`` cache lives inside each process, so from the command line it is always
empty; the commands say so. A persistent or shared cache (``sqlite``, ``redis``...) is
the one the applications using the same config see.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from ._common import (
    EXIT_RUNTIME,
    config_option,
    echo_json,
    load_config,
    plugins_for,
    report_error,
    table,
)

__all__ = ["cache", "open_cache"]

F = TypeVar("F", bound=Callable[..., Any])


def _cache_option(fn: F) -> F:
    return click.option(
        "--cache",
        "cache_name",
        metavar="NAME",
        default=None,
        help="A registered cache name (default: [modelbus] cache from the config).",
    )(fn)


@contextmanager
def open_cache(config_path: str | None, name: str | None) -> Iterator[tuple[str, Any]]:
    """``(name, cache)`` for the config at ``config_path`` (or found by search), closed
    afterwards. Any failure — a config error, an unknown cache, a backend that cannot be
    reached (the checks its plugin registers as ``caches.NAME`` fail: see
    ``modelbus_register_doctor_checks``) — is printed as one line and exits (status 2
    for config/plugin errors, 1 for the rest)."""
    try:
        cfg = load_config(config_path)
        name = name or cfg.modelbus.cache
        if name == "none":
            raise click.UsageError(
                'caching is off ([modelbus] cache = "none"); name one with --cache NAME'
            )
        registry = plugins_for(cfg).registry
        reg = registry.get("caches", name)
        settings = cfg.section("caches", name, reg.settings)
        obj = reg.factory(settings) if reg.settings is not None else reg.factory()
    except click.ClickException:
        raise
    except Exception as exc:
        report_error(exc)
    _check_reachable(registry, name, obj)
    if name == "memory":
        click.echo(
            "note: the memory cache lives inside each process; this one is new and "
            "empty (use a persistent cache such as sqlite to share entries)",
            err=True,
        )
    try:
        yield name, obj
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except Exception as exc:
        report_error(exc)
    finally:
        close = getattr(obj, "close", None)
        if close is not None:
            close()


def _check_reachable(registry: Any, name: str, obj: Any) -> None:
    """Run the checks the cache's plugin registered as ``caches.NAME`` (the ones
    ``modelbus doctor`` shows): a shared cache whose server refuses the connection or the
    password must not read as an empty cache. The first failed row → its detail on one
    line, status 1."""
    from .doctor import check_rows

    if ("doctor_checks", f"caches.{name}") not in registry:
        return
    failed = [r for r in check_rows(registry, f"caches.{name}", obj) if not r[2]]
    if failed:
        close = getattr(obj, "close", None)
        if close is not None:
            close()
        _, what, _, detail = failed[0]
        click.echo(f"modelbus: cache {name!r}: {what}: {detail}", err=True)
        sys.exit(EXIT_RUNTIME)


@click.group()
def cache() -> None:
    """Inspect and empty the configured response cache."""


@cache.command()
@_cache_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the counters as JSON.")
def stats(cache_name: str | None, config_path: str | None, as_json: bool) -> None:
    """Print the cache's counters: hits, misses, sets, evictions, errors (since the cache
    was created; summed over processes for a shared cache), and its live entries and
    their size in bytes."""
    import attrs

    with open_cache(config_path, cache_name) as (name, c):
        s = c.stats()
    data = {"cache": name, **attrs.asdict(s)}
    lookups = s.hits + s.misses
    data["hit_rate"] = round(s.hits / lookups, 4) if lookups else None
    if as_json:
        echo_json(data)
        return
    rows = [(k, "-" if v is None else v) for k, v in data.items() if k != "cache"]
    table(["counter", "value"], rows, title=f"cache {name!r}")


@cache.command()
@_cache_option
@config_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def clear(cache_name: str | None, config_path: str | None, yes: bool) -> None:
    """Remove every entry of the cache (its counters are kept)."""
    with open_cache(config_path, cache_name) as (name, c):
        if not yes:
            click.confirm(f"Remove every entry of cache {name!r}?", abort=True)
        n = c.clear()
    click.echo(f"removed {n} entr{'y' if n == 1 else 'ies'} from cache {name!r}")


@cache.command()
@click.option(
    "-t",
    "--tag",
    "tags",
    multiple=True,
    required=True,
    metavar="TAG",
    help="Remove the entries stored with this tag (repeatable: any of them).",
)
@_cache_option
@config_option
def invalidate(tags: tuple[str, ...], cache_name: str | None, config_path: str | None) -> None:
    """Remove the entries stored with any of the given tags (``cache_tags=[...]`` on the
    calls that stored them)."""
    with open_cache(config_path, cache_name) as (name, c):
        n = c.invalidate_tags(list(tags))
    shown = ", ".join(repr(t) for t in tags)
    click.echo(f"removed {n} entr{'y' if n == 1 else 'ies'} tagged {shown} from cache {name!r}")
