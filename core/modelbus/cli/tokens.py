"""``modelbus tokens``: count the prompt tokens of messages or text on a model."""

from __future__ import annotations

import sys
from typing import IO

import click

from ._common import config_option, make_client, read_input_text, read_stdin_text

__all__ = ["tokens"]


@click.command()
@click.argument("file", required=False, type=click.File("rb"))
@click.option("-m", "--model", help="Model, alias or provider/model (default: [modelbus] model).")
@config_option
def tokens(file: IO[bytes] | None, model: str | None, config_path: str | None) -> None:
    """Print how many prompt tokens FILE (or stdin with '-') costs on MODEL.

    The input is a JSON list of OpenAI messages, a request body with "messages" (and
    "tools"), or plain text (counted without message overhead). The count uses the
    provider's own tokenizer when it has one, else a registered counter (tiktoken for
    OpenAI models), else a ~4 characters per token estimate.
    """
    from .._tokens.counters import count_input
    from ..errors import ModelbusError

    if file is None:
        if sys.stdin.isatty():
            raise click.UsageError("give a FILE, or '-' to read stdin")
        text = read_stdin_text("FILE")
    else:
        text = read_input_text(file, "FILE", str(getattr(file, "name", "<stdin>")))
    with make_client(config_path) as client:
        try:
            n = count_input(client, text, model)
        except ValueError as exc:
            if isinstance(exc, ModelbusError):  # ConfigError is a ValueError too
                raise
            raise click.BadParameter(str(exc), param_hint="FILE") from exc
    click.echo(n)
