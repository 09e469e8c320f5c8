"""The tool loop on a stream: ``client.stream(..., tools=[fn])``.

The same loop as ``client.chat`` runs (``loop.py``'s :class:`~.loop.Rounds`: same round
limit, ``tool_choice`` reset, totals), with each model round an ordinary
``client.stream``: the caller receives every round's chunks as they come (a round that
asks for tools streams its tool-call deltas, then the tools run, then the next round
streams), and ``.response`` is the last round's response with the totals and the
transcript, as ``chat`` returns it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._engine.stream_object import AsyncStreamObject, StreamObject, StreamState
from .._wire.types import ChatChunk
from .loop import Rounds

if TYPE_CHECKING:
    from .._client import Client
    from .._engine.observe import Scope

__all__ = ["AsyncLoopStream", "LoopStream"]


class _LoopBase(StreamState):
    def __init__(
        self, client: Client, messages: Any, *, stream_kwargs: Mapping[str, Any], **loop: Any
    ) -> None:
        """``loop``: the :class:`~.loop.Rounds` arguments (``tools``, ``model``, ``system``,
        ``max_tool_rounds``, ``params``); ``stream_kwargs`` each round's stream options."""
        self._client = client
        self._loop = Rounds(client, messages, kwargs=stream_kwargs, **loop)

    def _start(self) -> Scope | None:
        e = self._client.engine
        if e.observers is None:
            return None
        from .._engine.observe import start

        self._scope = start(e, self._client.route(self._loop.model), None, "tool_loop")
        return self._scope


class LoopStream(_LoopBase, StreamObject):
    """Iterate it for every round's :class:`ChatChunk`; ``.response`` afterwards is the
    final round's response with the loop's totals and transcript."""

    def _chunks(self, scope: Scope | None) -> Iterator[ChatChunk]:
        loop = self._loop
        while True:
            history, args = loop.next_round()
            with self._client.stream(history, **args) as inner:
                yield from inner
            self._response = loop.answered(inner.response)
            if self._response is not None:
                return
            loop.tools_ran(loop.tools(scope).execute_all(inner.response.tool_calls or ()))


class AsyncLoopStream(_LoopBase, AsyncStreamObject):
    """The async twin of :class:`LoopStream` (a round's tool calls run concurrently)."""

    async def _chunks(self, scope: Scope | None) -> AsyncIterator[ChatChunk]:
        loop = self._loop
        while True:
            history, args = loop.next_round()
            async with self._client.astream(history, **args) as inner:
                async for chunk in inner:
                    yield chunk
            self._response = loop.answered(inner.response)
            if self._response is not None:
                return
            calls = inner.response.tool_calls or ()
            loop.tools_ran(await loop.tools(scope).aexecute_all(calls))
