"""What ``Client.chat`` / ``achat`` / ``stream`` / ``astream`` run when the call is more
than a plain request: a prompt template first, then the tool loop or a response-format
handler, each ending in the engine (``modelbus._engine``) like the plain call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._routing.table import request_for
from .._schemas.formats import needs_handler
from . import AsyncChatStream, Call, ChatStream, chat

if TYPE_CHECKING:
    from .._client import Client, Mode
    from .._schemas.formats import ResponseFormats
    from . import CallOptions

__all__ = ["RUN", "dispatch"]

#: The engine's entry point for each mode: a response, an awaitable of one, or a stream.
RUN: dict[str, Any] = {
    "chat": chat.chat,
    "achat": chat.achat,
    "stream": ChatStream,
    "astream": AsyncChatStream,
}


def dispatch(
    c: Client,
    formats: ResponseFormats,
    mode: Mode,
    messages: Any,
    model: str | None,
    system: str | None,
    opts: CallOptions,
    template: str | None,
    variables: Mapping[str, Any] | None,
    max_tool_rounds: int | None,
    params: dict[str, Any],
    t0: float,
) -> Any:
    """Run a call in ``mode``: the template (``_templates.apply_template``), then the tool
    loop when ``tools`` holds something runnable, a response-format handler for a
    non-dict ``response_format``, or the plain call."""
    if template is not None or messages is None or variables is not None:
        from .._prompts.templates import apply_template

        messages, model, system, params = apply_template(
            c, template, variables, messages, model, system, params
        )
    if max_tool_rounds is not None or params.get("tools") is not None:
        from .._tools.loop import wants_loop

        if max_tool_rounds is not None or wants_loop(params.get("tools")):
            return _tool_loop(c, mode, messages, model, system, opts, max_tool_rounds, params)
    if needs_handler(params):
        return _formatted(c, formats, mode, messages, model, system, opts, params, t0)
    route = c.route(model)
    req = request_for(route, messages, system, params, mode in ("stream", "astream"))
    return RUN[mode](c.engine, Call(route, req, opts, t0))


def _tool_loop(
    c: Client,
    mode: Mode,
    messages: Any,
    model: str | None,
    system: str | None,
    opts: CallOptions,
    max_tool_rounds: int | None,
    params: dict[str, Any],
) -> Any:
    # Every round is an ordinary call with the loop's cache and time options.
    kwargs = dict(
        cache=opts.cache,
        cache_ttl_s=opts.cache_ttl_s,
        cache_tags=opts.cache_tags,
        truncate=opts.truncate,
        timeout=opts.timeout_s,
    )
    tools = params.pop("tools", None)
    if mode == "chat" or mode == "achat":
        from .._tools.loop import arun, run

        return (arun if mode == "achat" else run)(
            c, messages, tools=tools, model=model, system=system,
            max_tool_rounds=max_tool_rounds, chat_kwargs=kwargs, **params,
        )  # fmt: skip
    from .._tools.loop_stream import AsyncLoopStream, LoopStream

    return (AsyncLoopStream if mode == "astream" else LoopStream)(
        c, messages, tools=tools, model=model, system=system,
        max_tool_rounds=max_tool_rounds, stream_kwargs=kwargs, params=params,
    )  # fmt: skip


def _formatted(
    c: Client,
    formats: ResponseFormats,
    mode: Mode,
    messages: Any,
    model: str | None,
    system: str | None,
    opts: CallOptions,
    params: dict[str, Any],
    t0: float,
) -> Any:
    """The call through the response-format handler for ``params["response_format"]``:
    the request is built without it (the handler adds what its mode sends)."""
    fmt = params["response_format"]
    h = formats.handler(fmt)
    rest = {k: v for k, v in params.items() if k != "response_format"}
    route = c.route(model)
    req = request_for(route, messages, system, rest, mode in ("stream", "astream"))
    caps = c.provider(route.provider).capabilities
    run = RUN[mode]

    def send(r: Any) -> Any:
        return run(c.engine, Call(route, r, opts, t0))

    method: dict[str, Any] = {
        "chat": h.run,
        "achat": h.arun,
        "stream": h.stream,
        "astream": h.astream,
    }
    return method[mode](req, fmt, send, caps)
