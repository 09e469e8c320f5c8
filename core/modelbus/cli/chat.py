"""``modelbus chat``: one chat call through the composed client."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from ._common import (
    config_option,
    echo_json,
    make_client,
    parse_key_values,
    read_stdin_text,
    utf8_text,
)

if TYPE_CHECKING:
    from .._client import Client
    from .._engine import CacheMode
    from .._wire.types import ChatResponse

__all__ = ["chat", "response_json", "status_line"]


def response_json(resp: ChatResponse) -> dict[str, Any]:
    """What ``--json`` prints: ``content``, ``usage`` (tokens; ``estimated`` True when
    modelbus counted them, the server having reported none), ``cost_usd`` (US dollars,
    ``null`` when a price is unknown), ``cached``, ``attempts``, ``provider``, ``model``,
    ``finish_reason``, ``latency_s`` (seconds) and ``tool_calls`` (OpenAI shape, or
    ``null``)."""
    import attrs

    return {
        "content": resp.content,
        "usage": attrs.asdict(resp.usage),
        "cost_usd": resp.cost_usd,
        "cached": resp.cached,
        "attempts": resp.attempts,
        "provider": resp.provider,
        "model": resp.model,
        "finish_reason": resp.finish_reason,
        "latency_s": resp.latency_s,
        "tool_calls": [attrs.asdict(t) for t in resp.tool_calls] or None,
    }


def status_line(resp: ChatResponse, cache_used: bool) -> str:
    """``[provider/model · prompt+completion tokens · $cost · cache: hit|miss|off]``;
    counts modelbus made itself (``usage.estimated``) read ``~P+C tokens (estimated)``."""
    u = resp.usage
    cost = "cost unknown" if resp.cost_usd is None else f"${resp.cost_usd:.6f}"
    cache = "hit" if resp.cached else "miss" if cache_used else "off"
    tokens = f"{u.prompt_tokens}+{u.completion_tokens} tokens"
    parts = [
        f"{resp.provider}/{resp.model}",
        f"~{tokens} (estimated)" if u.estimated else tokens,
        cost,
        f"cache: {cache}",
    ]
    if resp.attempts > 1:
        parts.append(f"{resp.attempts} attempts")
    return "[" + " · ".join(parts) + "]"


def _read_prompt(prompt: str | None, template: str | None) -> str | None:
    """PROMPT, or stdin for ``-`` (or no PROMPT with stdin not a terminal); ``None`` when a
    template supplies the messages and no PROMPT is given."""
    if prompt is not None and prompt != "-":
        return utf8_text(prompt, "PROMPT")
    if prompt is None and template is not None:
        return None
    if prompt is None and sys.stdin.isatty():
        raise click.UsageError("give a PROMPT, '-' to read it from stdin, or -t TEMPLATE")
    text = read_stdin_text("PROMPT")
    if not text.strip():  # (an empty pipe: a failed command before it, most likely)
        raise click.BadParameter("stdin was empty: nothing to send", param_hint="PROMPT")
    return text


def _say_default_provider(client: Client, model: str | None) -> None:
    """When the config names no provider, say which one the call goes to and why."""
    from ..errors import ConfigError

    if client.config.modelbus.provider is not None:
        return
    route = client.route(model)
    try:
        default = client.default_provider
    except ConfigError:
        return  # the route named its provider; no default exists to explain
    if route.provider == default:
        click.echo(f"modelbus: {client.default_provider_reason}", err=True)


@click.command()
@click.argument("prompt", required=False)
@click.option("-m", "--model", help="Model, alias or provider/model (default: [modelbus] model).")
@click.option(
    "-p",
    "--provider",
    help="Provider for models that name none (default: config, else picked from the environment).",
)
@click.option("-s", "--system", help="System prompt.")
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="OpenAI parameter; the value is JSON when it parses "
    "(-o temperature=0 -o max_tokens=50). Repeatable.",
)
@click.option(
    "-t",
    "--template",
    metavar="NAME",
    help="Start from prompt template NAME ([modelbus] templates_dir or a plugin's); "
    "PROMPT, if given, is added after it.",
)
@click.option(
    "-v",
    "--var",
    "variables",
    multiple=True,
    metavar="KEY=VALUE",
    help="Template variable (a string). Repeatable.",
)
@config_option
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the response as JSON (content, usage, cost_usd, cached, attempts, "
    "provider, model, finish_reason, latency_s).",
)
@click.option(
    "--stream/--no-stream",
    default=None,
    help="Print the reply as it arrives (default: on; off with --json).",
)
@click.option(
    "--continue",
    "carry_on",
    is_flag=True,
    help="Carry on the last logged conversation: its turns are sent before PROMPT.",
)
@click.option("--cid", metavar="ID", help="Carry on (or start) logged conversation ID.")
@click.option("--no-log", is_flag=True, help="Do not record this call in the call log.")
def chat(
    prompt: str | None,
    model: str | None,
    provider: str | None,
    system: str | None,
    options: tuple[str, ...],
    template: str | None,
    variables: tuple[str, ...],
    config_path: str | None,
    no_cache: bool,
    as_json: bool,
    stream: bool | None,
    carry_on: bool,
    cid: str | None,
    no_log: bool,
) -> None:
    """Send PROMPT (or stdin with '-'), or a prompt template, and print the reply.

    The reply goes to stdout; a status line (provider/model, tokens, cost, cache) goes to
    stderr. Exit status 1 for provider errors, 2 for usage, config, plugin and template
    errors.

    The call is recorded in the call log (read it with 'modelbus logs') unless --no-log
    or [log] enabled = false; --json shows its conversation_id, for --cid.
    """
    from .._routing.resolve import build_messages, build_request
    from .._wire.params import check_params

    params = parse_key_values(options, "-o/--option", as_json=True)
    values = parse_key_values(variables, "-v/--var", as_json=False)
    if values and template is None:
        raise click.UsageError("-v/--var sets template variables: give -t TEMPLATE too")
    text = _read_prompt(prompt, template)
    if system is not None:
        utf8_text(system, "-s/--system")
    if stream is None:
        stream = not as_json
    cache: CacheMode = "bypass" if no_cache else "use"
    try:
        build_request(build_messages(text or "-"), model or "-", params)  # names checked up front
        # Values too, as [models.NAME] params are: NaN (JSON-decoded from "NaN"), a
        # max_tokens that did not decode ("1e400" is inf, a too long number stays a
        # string), an extra_body that is not a table, would otherwise fail mid-call.
        check_params({k: v for k, v in params.items() if v is not None})
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="-o/--option") from exc
    from ._calllog import ChatLog

    with (
        make_client(config_path, provider=provider, log=not no_log) as client,
        ChatLog(client.config, carry_on, cid) as chat_log,
    ):
        # The template (if any) is the client's to apply, in either mode: its messages
        # first, then the earlier turns of the conversation, then this prompt.
        messages: Any
        if template is None:
            messages = chat_log.with_earlier(build_messages(text or "", system))
            call: dict[str, Any] = dict(model=model, cache=cache, **params)
        else:
            messages = (*chat_log.earlier, *(build_messages(text) if text else ())) or None
            call = dict(model=model, system=system, cache=cache, template=template, **params)
            call["variables"] = values
        _say_default_provider(client, model)
        if stream:
            s = client.stream(messages, **call)
            with s:
                for chunk in s:
                    if chunk.content and not as_json:
                        click.echo(chunk.content, nl=False)  # flushes
            resp = s.response
            if not as_json:
                click.echo()
        else:
            resp = client.chat(messages, **call)
            if not as_json:
                click.echo(resp.content or "")
        if as_json:
            echo_json({**response_json(resp), "conversation_id": chat_log.cid})
            return
        for tc in resp.tool_calls:
            click.echo(f"[tool call] {tc.function.name}({tc.function.arguments})")
        click.echo(
            status_line(resp, cache_used=client.cache is not None and not no_cache), err=True
        )
