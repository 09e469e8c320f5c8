"""Assembling streamed chunks into one response, replaying a response as a stream, and
reading a stream's head (the chunks up to its first content)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from .types import ChatChunk, ChatResponse, FunctionCall, Message, ToolCall, ToolCallDelta, Usage

__all__ = ["StreamAccumulator", "ahead_chunks", "has_content", "head_chunks", "replay_chunks"]


class StreamAccumulator:
    """Feed it every :class:`ChatChunk` of a stream; :meth:`response` gives the aggregated
    :class:`ChatResponse`.

    Tool-call fragments are grouped by ``index``: the first fragment with an ``id`` or a
    ``name`` sets them, ``arguments`` fragments are concatenated (servers split them at
    any byte). Usage is the last non-null ``usage`` seen (OpenAI sends it once at the end;
    vLLM's continuous usage sends a growing one on every chunk). Chunks with an empty
    ``id``/``model`` (Azure's filter-only first chunk) do not overwrite known values.
    """

    __slots__ = (
        "_content",
        "_extra",
        "_finish",
        "_id",
        "_model",
        "_reasoning",
        "_refusal",
        "_role",
        "_tools",
        "_usage",
    )

    def __init__(self) -> None:
        self._id = ""
        self._model = ""
        self._role = "assistant"
        self._content: list[str] = []
        self._refusal: list[str] = []
        self._reasoning: list[str] = []
        self._tools: dict[int, list[Any]] = {}
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._extra: dict[str, Any] = {}

    def add(self, chunk: ChatChunk) -> None:
        if chunk.id:
            self._id = chunk.id
        if chunk.model:
            self._model = chunk.model
        if chunk.role:
            self._role = chunk.role
        if chunk.content:
            self._content.append(chunk.content)
        if chunk.refusal:
            self._refusal.append(chunk.refusal)
        if chunk.reasoning_content:
            self._reasoning.append(chunk.reasoning_content)
        for d in chunk.tool_calls:
            self._add_tool(d)
        if chunk.finish_reason:
            self._finish = chunk.finish_reason
        if chunk.usage is not None:
            self._usage = chunk.usage
        if chunk.extra:
            self._extra.update(chunk.extra)

    def _add_tool(self, d: ToolCallDelta) -> None:
        slot = self._tools.get(d.index)
        if slot is None:
            slot = self._tools[d.index] = [None, None, []]
        if d.id and not slot[0]:
            slot[0] = d.id
        if d.name and not slot[1]:
            slot[1] = d.name
        if d.arguments:
            slot[2].append(d.arguments)

    @property
    def usage(self) -> Usage | None:
        """The usage seen so far (``None`` until a chunk carried one)."""
        return self._usage

    def response(self, provider: str = "") -> ChatResponse:
        """The aggregated response (content ``None`` when the stream carried only tool calls)."""
        tool_calls = tuple(
            ToolCall(s[0] or f"call_{i}", FunctionCall(s[1] or "", "".join(s[2])))
            for i, s in sorted(self._tools.items())
        )
        content = "".join(self._content)
        msg = Message(
            self._role,
            content if (content or not tool_calls) else None,
            tool_calls=tool_calls or None,
            refusal="".join(self._refusal) or None,
            reasoning_content="".join(self._reasoning) or None,
        )
        return ChatResponse(
            id=self._id,
            model=self._model,
            message=msg,
            finish_reason=self._finish,
            usage=self._usage or Usage(),
            provider=provider,
            extra=self._extra,
        )


def replay_chunks(resp: ChatResponse) -> Iterator[ChatChunk]:
    """A stored response as the chunks a stream would have given: role, content, refusal,
    one delta per tool call, then finish_reason and usage. No artificial delays."""
    m = resp.message
    yield ChatChunk(
        id=resp.id, model=resp.model, role=m.role, reasoning_content=m.reasoning_content
    )
    if m.text:
        yield ChatChunk(id=resp.id, model=resp.model, content=m.text)
    if m.refusal:
        yield ChatChunk(id=resp.id, model=resp.model, refusal=m.refusal)
    for i, tc in enumerate(m.tool_calls or ()):
        yield ChatChunk(
            id=resp.id,
            model=resp.model,
            tool_calls=(ToolCallDelta(i, tc.id, tc.function.name, tc.function.arguments),),
        )
    yield ChatChunk(
        id=resp.id,
        model=resp.model,
        finish_reason=resp.finish_reason,
        usage=resp.usage,
        extra=dict(resp.extra),
    )


def has_content(chunk: ChatChunk) -> bool:
    """Whether a caller would see something of the answer in ``chunk``: text, a refusal,
    reasoning, a tool-call fragment or a ``finish_reason``. A role-only or empty first
    chunk (OpenAI sends ``{"role": "assistant", "content": ""}`` first, Azure a
    filter-only one) has none, so a failure right after it can still be retried."""
    return bool(
        chunk.content
        or chunk.refusal
        or chunk.reasoning_content
        or chunk.tool_calls
        or chunk.finish_reason
    )


def head_chunks(it: Iterator[ChatChunk]) -> list[ChatChunk]:
    """The chunks of ``it`` up to and including the first one with content (all of them
    when none has). Errors raised meanwhile propagate: the stream may still be retried."""
    head: list[ChatChunk] = []
    for chunk in it:
        head.append(chunk)
        if has_content(chunk):
            break
    return head


async def ahead_chunks(it: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    """The async twin of :func:`head_chunks`."""
    head: list[ChatChunk] = []
    async for chunk in it:
        head.append(chunk)
        if has_content(chunk):
            break
    return head
