"""The tool loop on a stream: ``client.stream(..., tools=[fn])``.

The same loop as ``_toolloop`` (same round limit, ``tool_choice`` reset, totals), with
each model round an ordinary ``client.stream``: the caller receives every round's chunks
as they come (a round that asks for tools streams its tool-call deltas, then the tools
run, then the next round streams), and ``.response`` is the last round's response with
the totals and the transcript, as ``chat`` returns it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._engine.stream_object import AsyncStreamObject, StreamObject, StreamState
from .._routing.resolve import build_messages
from .._wire.types import ChatChunk, ChatResponse, Message
from .loop import _check_rounds, _next_choice, _observed, _over_limit, _Totals, resolve_tools

if TYPE_CHECKING:
    from .._client import Client
    from .._engine.observe import Scope

__all__ = ["AsyncLoopStream", "LoopStream"]


class _LoopBase(StreamState):
    def __init__(
        self,
        client: Client,
        messages: Any,
        *,
        tools: Any,
        model: str | None,
        system: str | None,
        max_tool_rounds: int | None,
        stream_kwargs: Mapping[str, Any],
        params: dict[str, Any],
    ) -> None:
        self._client = client
        self._limit = _check_rounds(max_tool_rounds, tools)
        self._registry = resolve_tools(client, tools)
        self._history: list[Message] = list(build_messages(messages, system))
        self._model = model
        self._kwargs = dict(stream_kwargs)
        self._choice = params.pop("tool_choice", None)
        self._params = params

    def _round_args(self) -> dict[str, Any]:
        specs = self._registry.specs()
        return dict(
            model=self._model,
            tools=specs or None,
            tool_choice=self._choice,
            **self._kwargs,
            **self._params,
        )

    def _start(self) -> Scope | None:
        e = self._client.engine
        if e.observers is None:
            return None
        from .._engine.observe import start

        self._scope = start(e, self._client.route(self._model), None, "tool_loop")
        return self._scope

    def _after_round(self, resp: ChatResponse, totals: _Totals, t0: float, rounds: int) -> bool:
        """Record a round; ``True`` when it was the final answer."""
        totals.add(resp)
        self._history.append(resp.message)
        if not resp.tool_calls:
            self._response = totals.final(resp, self._history, t0)
            return True
        if rounds == self._limit:
            raise _over_limit(self._limit, self._history)
        return False


class LoopStream(_LoopBase, StreamObject):
    """Iterate it for every round's :class:`ChatChunk`; ``.response`` afterwards is the
    final round's response with the loop's totals and transcript."""

    def _chunks(self, scope: Scope | None) -> Iterator[ChatChunk]:
        return self._rounds(scope)

    def _rounds(self, scope: Scope | None) -> Iterator[ChatChunk]:
        t0, totals, rounds = time.perf_counter(), _Totals(), 0
        while True:
            with self._client.stream(list(self._history), **self._round_args()) as inner:
                yield from inner
            if self._after_round(inner.response, totals, t0, rounds):
                return
            calls = inner.response.tool_calls or ()
            self._history.extend(_observed(scope, self._registry).execute_all(calls))
            rounds += 1
            self._choice = _next_choice(self._choice)


class AsyncLoopStream(_LoopBase, AsyncStreamObject):
    """The async twin of :class:`LoopStream` (a round's tool calls run concurrently)."""

    def _chunks(self, scope: Scope | None) -> AsyncIterator[ChatChunk]:
        return self._rounds(scope)

    async def _rounds(self, scope: Scope | None) -> AsyncIterator[ChatChunk]:
        t0, totals, rounds = time.perf_counter(), _Totals(), 0
        while True:
            async with self._client.astream(list(self._history), **self._round_args()) as inner:
                async for chunk in inner:
                    yield chunk
            if self._after_round(inner.response, totals, t0, rounds):
                return
            calls = inner.response.tool_calls or ()
            registry = _observed(scope, self._registry)
            self._history.extend(await registry.aexecute_all(calls))
            rounds += 1
            self._choice = _next_choice(self._choice)
