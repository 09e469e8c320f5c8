"""``modelbus batch IN.jsonl -o OUT.jsonl``: many chat requests, resumable."""

from __future__ import annotations

import sys

import click

from ._common import config_option, make_client

__all__ = ["batch"]


class _BadInput(click.ClickException):
    """Bad input lines are a usage error (exit 2), like a bad config."""

    exit_code = 2


@click.command()
@click.argument(
    "input_path", metavar="IN.jsonl", type=click.Path(exists=True, dir_okay=False, readable=True)
)
@click.option(
    "-o",
    "--output",
    "output_path",
    metavar="OUT.jsonl",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="Output file; appended to, and the requests already in it are skipped.",
)
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 10_000),
    default=8,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "-m", "--model", help="Model for lines whose body names none (default: [modelbus] model)."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@click.option("--no-log", is_flag=True, help="Do not record the calls in the call log.")
@config_option
def batch(
    input_path: str,
    output_path: str,
    concurrency: int,
    model: str | None,
    progress: bool | None,
    no_log: bool,
    config_path: str | None,
) -> None:
    """Run every chat request of IN.jsonl and write one line per request to OUT.jsonl.

    \b
    Input lines: the OpenAI Batch API shape
      {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {...}}
    or a plain chat body {"messages": [...], "model": "...", ...} (named line-N, N its
    line number, when it has no custom_id).

    \b
    Output lines: the OpenAI batch output shape
      {"id", "custom_id", "response": {"status_code", "body"}, "error"}
    with error = {"code", "message", "type", "attempts"} for a request that failed (after
    its retries and fallbacks). Lines are written as requests finish, keyed by custom_id.

    Re-running the same command skips every custom_id already in OUT.jsonl, so an
    interrupted run resumes where it stopped: each input line gets exactly one output
    line, and only the requests in flight when it stopped (at most --concurrency) are
    sent again, none of them when a persistent cache (sqlite, redis) already holds
    their answer. One run at a time may write OUT.jsonl. Exit status 0 when every line
    is written, failed requests included (they are in OUT.jsonl). The calls are
    recorded in the call log ('modelbus logs') unless --no-log or [log] enabled = false.
    """
    import asyncio

    from .._batch.files import abatch_file
    from .._batch.runner import BatchInputError

    client = make_client(config_path, model=model, log=not no_log)
    show = sys.stderr.isatty() if progress is None else progress

    async def run() -> object:
        async with client:
            return await abatch_file(
                client, input_path, output_path, concurrency=concurrency, progress=show
            )

    try:
        summary = asyncio.run(run())
    except BatchInputError as exc:
        # Bad input is a usage error (exit 2), like a bad config.
        raise _BadInput(str(exc)) from None
    except KeyboardInterrupt:
        click.echo(
            f"modelbus: interrupted; finished requests are in {output_path}; run the "
            "same command again to do the rest",
            err=True,
        )
        sys.exit(130)
    click.echo(str(summary), err=True)
