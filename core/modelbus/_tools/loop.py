"""The tool loop: model → tool calls → tool results → model, until a final answer.

``client.chat(..., tools=[fn, ...])`` lands here when ``tools`` holds something runnable
(a function, a :class:`Tool`, a :class:`ToolRegistry`, or the name of a tool a plugin
registered). Each model round is an ordinary ``client.chat`` call with the tools' specs,
so cache, retry, context checks and usage accounting apply to every round. The loop is
provider-agnostic: it only reads ``ChatResponse.tool_calls`` and sends back
``role: "tool"`` messages with the matching ``tool_call_id`` (OpenAI's function-calling
protocol, which every OpenAI-compatible server follows).

- Round limit: after ``max_tool_rounds`` rounds of tool calls, a reply that still asks
  for tools raises :class:`ToolError` carrying the transcript.
- ``tool_choice``: sent as given on the first round; a forcing choice (``"required"`` or
  a named function) is then reset to ``"auto"``, else the model could never answer (the
  same rule as the OpenAI Agents SDK's ``reset_tool_choice``).
- The returned response is the last round's, with ``usage``, ``cost_usd`` (``None`` if
  any round's price is unknown) and ``attempts`` summed over the rounds, ``cached`` true
  only if every round was a cache hit, ``latency_s`` the whole loop's wall time, and
  ``transcript`` every message: the input, each assistant turn and tool result, and the
  final answer.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._routing.resolve import build_messages
from .._wire.types import ChatResponse, Message, ToolSpec, Usage
from ..errors import ToolError
from .registry import Tool, ToolRegistry

if TYPE_CHECKING:
    from .._client import Client
    from .._engine.observe import Scope

__all__ = ["DEFAULT_MAX_TOOL_ROUNDS", "Rounds", "arun", "resolve_tools", "run", "wants_loop"]

#: Rounds of tool calls allowed when ``max_tool_rounds`` is not given.
DEFAULT_MAX_TOOL_ROUNDS = 10


def _runnable(t: Any) -> bool:
    return isinstance(t, (Tool, str)) or (callable(t) and not isinstance(t, (ToolSpec, type)))


def wants_loop(tools: Any) -> bool:
    """Whether ``tools`` holds something modelbus runs (else specs pass through as is)."""
    if tools is None:
        return False
    if isinstance(tools, ToolRegistry):
        return True
    if isinstance(tools, (str, Tool)) or callable(tools):
        return True
    return isinstance(tools, Iterable) and any(_runnable(t) for t in tools)


def resolve_tools(client: Client, tools: Any) -> ToolRegistry:
    """A :class:`ToolRegistry` from ``tools``: a registry, or functions, Tools and names of
    plugin-registered tools. Raises ``TypeError`` when runnable tools are mixed with
    plain specs (a call to a spec could not be answered) and ``KeyError``-like
    :class:`ToolError` for an unknown tool name."""
    if isinstance(tools, ToolRegistry):
        return tools
    items = [tools] if isinstance(tools, (str, Tool)) or callable(tools) else list(tools)
    out = ToolRegistry()
    plugin_tools: ToolRegistry | None = None
    for t in items:
        if isinstance(t, str):
            if plugin_tools is None:
                plugin_tools = ToolRegistry.from_plugins(client.registry)
            if t not in plugin_tools:
                raise ToolError(
                    f"no tool named {t!r} is registered by a plugin; "
                    f"registered: {', '.join(plugin_tools.names()) or '(none)'}"
                )
            out.add(plugin_tools[t])
        elif isinstance(t, ToolRegistry):
            for x in t:
                out.add(x)
        elif _runnable(t):
            out.add(t)
        else:
            raise TypeError(
                f"tools mixes functions with a plain tool spec ({t!r}); the loop cannot "
                "answer a call to a spec. Pass functions only, or specs only (no loop)"
            )
    return out


def _check_rounds(max_tool_rounds: int | None, tools: Any) -> int:
    if not wants_loop(tools):
        raise TypeError(
            "max_tool_rounds needs runnable tools (functions, Tool objects, a "
            f"ToolRegistry or plugin tool names), got tools={tools!r}"
        )
    n = DEFAULT_MAX_TOOL_ROUNDS if max_tool_rounds is None else max_tool_rounds
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"max_tool_rounds must be an int >= 0, got {max_tool_rounds!r}")
    return n


def _next_choice(choice: Any) -> Any:
    if choice == "required" or isinstance(choice, Mapping):
        return "auto"
    return choice


@attrs.define
class _Totals:
    usage: Usage = attrs.field(factory=Usage)
    cost: float | None = 0.0
    attempts: int = 0
    all_cached: bool = True

    def add(self, r: ChatResponse) -> None:
        self.usage = self.usage + r.usage
        self.cost = None if self.cost is None or r.cost_usd is None else self.cost + r.cost_usd
        self.attempts += r.attempts
        self.all_cached = self.all_cached and r.cached

    def final(self, r: ChatResponse, history: list[Message], t0: float) -> ChatResponse:
        return attrs.evolve(
            r,
            usage=self.usage,
            cost_usd=self.cost,
            attempts=self.attempts,
            cached=self.all_cached,
            latency_s=time.perf_counter() - t0,
            transcript=tuple(history),
        )


def _observed(scope: Scope | None, registry: ToolRegistry) -> ToolRegistry:
    """The registry, or a view of it that emits tool events to ``scope``."""
    if scope is None:
        return registry
    from .._engine.observe import ObservedTools

    return ObservedTools(registry, scope)  # type: ignore[return-value]


def _over_limit(n: int, history: list[Message]) -> ToolError:
    names = ", ".join(tc.function.name for tc in history[-1].tool_calls or ())
    return ToolError(
        f"the model still asked for tools ({names}) after {n} rounds (max_tool_rounds={n})",
        transcript=history,
    )


class Rounds:
    """One tool loop's state and its decisions, I/O-free: what each round sends, what a
    reply means (the final answer, one round too many, or tools to run) and the totals.
    The drivers (:func:`run`, :func:`arun`, ``LoopStream``, ``AsyncLoopStream``) only
    make each round's call and run the tools, so chat and stream, sync and async, keep
    the same round limit, ``tool_choice`` reset and totals.

    ``kwargs`` are the cache and time options every round's call gets; ``params`` the
    OpenAI parameters (``tool_choice`` is taken out: it changes between rounds). Raises
    ``TypeError``/``ValueError`` for a bad ``tools`` or ``max_tool_rounds`` (see
    :func:`resolve_tools`)."""

    def __init__(
        self,
        client: Client,
        messages: Any,
        *,
        tools: Any,
        model: str | None,
        system: str | None,
        max_tool_rounds: int | None,
        kwargs: Mapping[str, Any] | None,
        params: dict[str, Any],
    ) -> None:
        self.limit = _check_rounds(max_tool_rounds, tools)
        self.registry = resolve_tools(client, tools)
        self.history: list[Message] = list(build_messages(messages, system))
        self.model = model
        self._specs = self.registry.specs() or None
        self._kwargs = dict(kwargs or {})
        self._choice = params.pop("tool_choice", None)
        self._params = params
        self._totals = _Totals()
        self._done = 0
        self._t0: float | None = None

    def next_round(self) -> tuple[list[Message], dict[str, Any]]:
        """The next round's messages (a copy of the transcript so far) and keyword
        arguments for ``client.chat``/``stream``: ``model``, ``tools``, ``tool_choice``,
        the cache and time options, the OpenAI parameters. The first round starts the
        clock of the loop's ``latency_s``."""
        if self._t0 is None:
            self._t0 = time.perf_counter()
        args = dict(
            model=self.model,
            tools=self._specs,
            tool_choice=self._choice,
            **self._kwargs,
            **self._params,
        )
        return list(self.history), args

    def answered(self, resp: ChatResponse) -> ChatResponse | None:
        """Record a round's reply: the loop's response (the totals and the transcript)
        when it asks for no tools, else ``None``: run its ``tool_calls`` and pass the
        results to :meth:`tools_ran`. Raises :class:`ToolError` when it asks for tools
        after ``max_tool_rounds`` rounds of them."""
        self._totals.add(resp)
        self.history.append(resp.message)
        if not resp.tool_calls:
            return self._totals.final(resp, self.history, self._t0 or time.perf_counter())
        if self._done == self.limit:
            raise _over_limit(self.limit, self.history)
        return None

    def tools(self, scope: Scope | None) -> ToolRegistry:
        """The registry the round's tool calls run on (emitting tool events to ``scope``)."""
        return _observed(scope, self.registry)

    def tools_ran(self, results: list[Message]) -> None:
        """Add a round's tool results; a forcing ``tool_choice`` becomes ``"auto"``."""
        self.history.extend(results)
        self._done += 1
        self._choice = _next_choice(self._choice)


def run(
    client: Client,
    messages: Any,
    *,
    tools: Any = None,
    model: str | None = None,
    system: str | None = None,
    max_tool_rounds: int | None = None,
    chat_kwargs: Mapping[str, Any] | None = None,
    **params: Any,
) -> ChatResponse:
    """Run the tool loop (sync). ``chat_kwargs`` are the cache options passed to every
    round's ``client.chat``; ``params`` the OpenAI parameters (``tool_choice``...)."""
    # Made inside the observed call, so that a bad ``tools`` fails as the call.
    loop = functools.partial(
        Rounds, client, messages, tools=tools, model=model, system=system,
        max_tool_rounds=max_tool_rounds, kwargs=chat_kwargs, params=params,
    )  # fmt: skip
    if client.engine.observers is not None:
        from .._engine.observe import observed

        return observed(
            client.engine, client.route(model), None, lambda s: _run(s, client, loop()), "tool_loop"
        )
    return _run(None, client, loop())


def _run(scope: Scope | None, client: Client, loop: Rounds) -> ChatResponse:
    while True:
        history, args = loop.next_round()
        resp = client.chat(history, **args)
        final = loop.answered(resp)
        if final is not None:
            return final
        loop.tools_ran(loop.tools(scope).execute_all(resp.tool_calls or ()))


async def arun(
    client: Client,
    messages: Any,
    *,
    tools: Any = None,
    model: str | None = None,
    system: str | None = None,
    max_tool_rounds: int | None = None,
    chat_kwargs: Mapping[str, Any] | None = None,
    **params: Any,
) -> ChatResponse:
    """The async twin of :func:`run`; a round's calls run concurrently (``asyncio.gather``)."""
    # Made inside the observed call, so that a bad ``tools`` fails as the call.
    loop = functools.partial(
        Rounds, client, messages, tools=tools, model=model, system=system,
        max_tool_rounds=max_tool_rounds, kwargs=chat_kwargs, params=params,
    )  # fmt: skip
    if client.engine.observers is not None:
        from .._engine.observe import aobserved

        route = client.route(model)
        return await aobserved(
            client.engine, route, None, lambda s: _arun(s, client, loop()), "tool_loop"
        )
    return await _arun(None, client, loop())


async def _arun(scope: Scope | None, client: Client, loop: Rounds) -> ChatResponse:
    while True:
        history, args = loop.next_round()
        resp = await client.achat(history, **args)
        final = loop.answered(resp)
        if final is not None:
            return final
        loop.tools_ran(await loop.tools(scope).aexecute_all(resp.tool_calls or ()))
