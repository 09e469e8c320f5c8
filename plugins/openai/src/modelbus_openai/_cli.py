"""``modelbus finetune``: validate a chat fine-tuning file, start and follow jobs.

Added to the ``modelbus`` command line by modelbus-openai's ``modelbus_register_commands``
hook. The key and base URL come from the ``[providers.openai]`` settings (or the provider
named by ``--provider``) of the config found as usual (``-c/--config``,
``$MODELBUS_CONFIG``, ``./modelbus.toml``, the user config dir).
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import click

from modelbus.errors import ModelbusError

from ._finetune import ValidationReport, summary_lines, validate_file
from ._finetune_jobs import JobRegistry, cancel_job, create_job, get_job, list_jobs

__all__ = ["finetune"]


class _State:
    def __init__(self, config: str | None, provider: str) -> None:
        self.config = config
        self.provider_name = provider
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import modelbus

            try:
                self._client = modelbus.Client(self.config)
            except ModelbusError as exc:
                raise click.ClickException(str(exc)) from exc
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def provider(self) -> Any:
        try:
            return self.client().provider(self.provider_name).inner
        except ModelbusError as exc:
            raise click.ClickException(str(exc)) from exc


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "-"
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _validate(state: _State, file: Path, model: str, max_tokens: int | None) -> ValidationReport:
    client = state.client()
    entry = client.catalog.get(model)
    limit = max_tokens or (entry.context_window if entry is not None else None)
    price = entry.training_per_1m if entry is not None else None
    try:
        return validate_file(
            file,
            model=model,
            counter=client.token_counter(model),
            token_limit=limit,
            training_per_1m=price,
        )
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {str(file)!r}: {exc}") from exc


@click.group("finetune")
@click.option(
    "-c",
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    default=None,
    help="modelbus.toml to read (default: the usual search).",
)
@click.option(
    "--provider",
    default="openai",
    show_default=True,
    help="Provider whose key and base URL the job commands use.",
)
@click.pass_context
def finetune(ctx: click.Context, config: str | None, provider: str) -> None:
    """OpenAI chat fine-tuning: check a JSONL file, start, follow and cancel jobs."""
    state = _State(config, provider)
    ctx.obj = state
    ctx.call_on_close(state.close)  # the client's connection pool


@finetune.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-m",
    "--model",
    default="gpt-4o-mini",
    show_default=True,
    help="Base model: its tokenizer, context window and training price are used.",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Tokens allowed per example (default: the model's catalog context window).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def validate(state: _State, file: Path, model: str, max_tokens: int | None, as_json: bool) -> None:
    """Check FILE line by line (roles, assistant targets, tool calls), count tokens and
    estimate the training cost per epoch. Exits 1 when there are problems."""
    report = _validate(state, file, model, max_tokens)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for line in summary_lines(report, str(file)):
            click.echo(line)
    if not report.ok:
        raise SystemExit(1)


@finetune.command("create")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-m", "--model", required=True, help="Base model to fine-tune.")
@click.option("--suffix", default=None, help="Up to 64 characters added to the model name.")
@click.option(
    "--epochs",
    type=click.IntRange(min=1, max=50),
    default=None,
    help="Number of epochs (default: chosen by OpenAI).",
)
@click.option(
    "--validation-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A JSONL file of held-out examples.",
)
@click.option("-d", "--description", default="", help="Kept in the local job registry.")
@click.option("--force", is_flag=True, help="Upload even when validation finds problems.")
@click.pass_obj
def create(
    state: _State,
    file: Path,
    model: str,
    suffix: str | None,
    epochs: int | None,
    validation_file: Path | None,
    description: str,
    force: bool,
) -> None:
    """Validate FILE, upload it and start a fine-tuning job on MODEL."""
    report = _validate(state, file, model, None)
    if not report.ok and not force:
        for line in summary_lines(report, str(file)):
            click.echo(line, err=True)
        raise click.ClickException("validation failed; fix the file or pass --force")
    try:
        job = create_job(
            state.provider(),
            file,
            model=model,
            suffix=suffix,
            epochs=epochs,
            validation_file=validation_file,
            description=description,
        )
    except ModelbusError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"started {job['id']} ({job['status']}) on {job['model']}, "
        f"training file {job['training_file']}"
    )


def _show(job: dict[str, Any], description: str | None) -> list[str]:
    lines = [
        f"id: {job['id']}",
        f"status: {job['status']}",
        f"model: {job.get('model')}",
        f"fine_tuned_model: {job.get('fine_tuned_model') or '-'}",
        f"created_at: {_when(job.get('created_at'))}",
        f"finished_at: {_when(job.get('finished_at'))}",
        f"trained_tokens: {job.get('trained_tokens') if job.get('trained_tokens') is not None else '-'}",  # noqa: E501
    ]
    if job.get("error"):
        lines.append(f"error: {job['error']}")
    if description:
        lines.append(f"description: {description}")
    return lines


@finetune.command("status")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job object as JSON.")
@click.pass_obj
def status(state: _State, job_id: str, as_json: bool) -> None:
    """Show a job's status, resulting model and error."""
    try:
        job = get_job(state.provider(), job_id)
        known = JobRegistry().load().get(job_id, {})
    except (ModelbusError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(job, indent=2))
        return
    for line in _show(job, known.get("description")):
        click.echo(line)


@finetune.command("list")
@click.option("--limit", type=click.IntRange(min=1, max=100), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the job objects as JSON.")
@click.pass_obj
def list_(state: _State, limit: int, as_json: bool) -> None:
    """List recent jobs, newest first, with descriptions from the local registry."""
    try:
        jobs = list_jobs(state.provider(), limit)
        known = JobRegistry().load()
    except (ModelbusError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(jobs, indent=2))
        return
    if not jobs:
        click.echo("no fine-tuning jobs")
    for job in jobs:
        desc = known.get(job["id"], {}).get("description") or ""
        click.echo(
            f"{job['id']}  {job['status']:<16} {job.get('model')}  "
            f"{job.get('fine_tuned_model') or '-'}  {_when(job.get('created_at'))}"
            f"{'  ' + desc if desc else ''}"
        )


@finetune.command("cancel")
@click.argument("job_id")
@click.pass_obj
def cancel(state: _State, job_id: str) -> None:
    """Cancel a running job."""
    try:
        job = cancel_job(state.provider(), job_id)
    except ModelbusError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{job['id']}: {job['status']}")
