"""What the local provider does to replies on their way out (prompt-mode parsing for
both backends; ids and counted usage for the server backend).

- Tool calls without an ``id`` get one (``call_<hex>``); in a stream, the first fragment
  of each ``index`` gets it (later fragments of a call carry none, as on OpenAI's wire).
- Prompt-mode tools (the request's ``tools`` went into the prompt): the reply is JSON
  describing the calls, read by :func:`~._prompt_tools.parse_tool_reply`. A stream cannot
  pass that JSON on as text, so its chunks are collected and, at the end, the parsed
  reply is given as one role chunk, the content or one delta per tool call, and the
  finish chunk (``finish_reason = "tool_calls"`` when calls were found).
- A prompt-mode reply whose calls all repeat calls already answered in the conversation
  (same tool, equal arguments) is not passed on: the request is asked again
  (:func:`answer_request`) without tools and with the reply held to ``{"content": ...}``
  (else a small model writes the call again, as text), so that the model answers from
  the results it has; the usage covers both generations. A stream then gives that
  answer as replayed chunks (prompt-mode streams are collected anyway).
- No ``usage`` (llama-cpp-python's server ignores ``stream_options.include_usage``):
  counted by :func:`count_usage` and marked: ``usage.estimated`` is True and
  ``extra["usage_counted_by"]`` says how (``"server-tokenizer"`` or
  ``"approximation"``); a stream gets a last, usage-only chunk. A usage the server sent
  is taken as is (``estimated`` False).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import jiter

from modelbus.plugin import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    StreamAccumulator,
    ToolCall,
    ToolCallDelta,
    Usage,
    replay_chunks,
)

from ._prompt_tools import new_call_id, parse_tool_reply, repeated_calls

if TYPE_CHECKING:
    from ._server import LocalServerProvider

__all__ = [
    "StreamFixer",
    "afill_stream",
    "answer_of",
    "answer_request",
    "count_usage",
    "fill_stream",
    "finish_response",
    "needs_counting",
    "parse_reply",
    "repeats",
]


def _prompt_mode(request: ChatRequest, sent: ChatRequest) -> bool:
    return bool(request.tools) and sent.tools is None and request.tool_choice != "none"


def count_usage(
    provider: LocalServerProvider, sent: ChatRequest, text: str, tool_arguments: Sequence[str]
) -> tuple[Usage, dict[str, Any]]:
    """Usage the server did not send, counted: prompt tokens of the request as sent,
    completion tokens of the reply text re-tokenized (close to, not always equal to, the
    number of tokens sampled), marked ``estimated``, and the ``extra`` saying how."""
    c = provider.token_counter
    prompt = c.count_sent(sent.messages, sent.tools, sent.model)
    completion = sum(c.count_text(t, sent.model) for t in (text, *tool_arguments) if t)
    by = "server-tokenizer" if c.route() != "none" else "approximation"
    marks = {"usage_counted_by": by}
    return Usage(prompt, completion, prompt + completion, estimated=True), marks


def repeats(request: ChatRequest, sent: ChatRequest, calls: Sequence[ToolCall]) -> bool:
    """True for a prompt-mode reply whose ``calls`` all repeat answered calls (see
    :func:`~._prompt_tools.repeated_calls`): then :func:`answer_request` is asked
    instead."""
    return _prompt_mode(request, sent) and repeated_calls(calls, request.messages)


# The reply shape of an answer (reply_schema's text alternative).
_ANSWER = {
    "type": "object",
    "properties": {"content": {"type": "string"}},
    "required": ["content"],
    "additionalProperties": False,
}


def answer_request(request: ChatRequest) -> ChatRequest:
    """``request`` asked again after a reply that repeats answered calls: no tools
    (``tool_choice = "none"``) and the reply held to ``{"content": "..."}``."""
    rf = {"type": "json_schema", "json_schema": {"name": "answer", "schema": _ANSWER}}
    return attrs.evolve(request, tool_choice="none", response_format=rf)


def answer_of(first: ChatResponse, again: ChatResponse) -> ChatResponse:
    """The answer to :func:`answer_request` unwrapped from its JSON, with the usage of
    both generations (``first``, the reply that repeated a call, and ``again``)."""
    content = _answer_text(again.message.text)
    msg = attrs.evolve(again.message, content=content, tool_calls=None)
    return attrs.evolve(again, message=msg, usage=first.usage + again.usage)


def _answer_text(text: str | None) -> str | None:
    """The text of a ``{"content": "..."}`` reply, also when ``max_tokens`` cut it inside
    the string (``finish_reason`` stays ``"length"``): the JSON wrapper is never passed
    on as the answer."""
    content = parse_tool_reply(text, ()).content
    if content != text or not text:
        return content
    try:
        value = jiter.from_json(text.encode(), partial_mode="trailing-strings")
    except ValueError:
        return text
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"])
    return text


def needs_counting(resp: ChatResponse) -> bool:
    """True when the response body had no ``usage``."""
    return isinstance(resp.raw, Mapping) and not resp.raw.get("usage")


def parse_reply(request: ChatRequest, sent: ChatRequest, resp: ChatResponse) -> ChatResponse:
    """``resp`` (the answer to ``sent``, made from ``request``) with prompt-mode tool calls
    parsed (``finish_reason = "tool_calls"`` when calls were found) and missing tool call
    ids filled in."""
    msg = resp.message
    if _prompt_mode(request, sent):
        parsed = parse_tool_reply(msg.text, request.tools or ())
        if parsed.tool_calls:
            msg = attrs.evolve(msg, content=parsed.content, tool_calls=parsed.tool_calls)
            resp = attrs.evolve(resp, finish_reason="tool_calls")
        elif parsed.content != msg.text:
            msg = attrs.evolve(msg, content=parsed.content)
    if msg.tool_calls and any(not tc.id for tc in msg.tool_calls):
        calls = tuple(tc if tc.id else attrs.evolve(tc, id=new_call_id()) for tc in msg.tool_calls)
        msg = attrs.evolve(msg, tool_calls=calls)
    if msg is not resp.message:
        resp = attrs.evolve(resp, message=msg)
    return resp


def finish_response(
    provider: LocalServerProvider, request: ChatRequest, sent: ChatRequest, resp: ChatResponse
) -> ChatResponse:
    """:func:`parse_reply`, and a missing usage counted."""
    resp = parse_reply(request, sent, resp)
    msg = resp.message
    if needs_counting(resp):
        # what the model generated: in prompt mode the JSON text, else text and arguments
        choices = resp.raw.get("choices") or [{}]
        generated = (choices[0].get("message") or {}).get("content")
        text = generated if isinstance(generated, str) else ""
        args = (
            []
            if _prompt_mode(request, sent)
            else [t.function.arguments for t in msg.tool_calls or ()]
        )
        usage, marks = count_usage(provider, sent, text, args)
        resp = attrs.evolve(resp, usage=usage, extra={**resp.extra, **marks})
    return resp


class StreamFixer:
    """Fixes a stream's chunks on their way out: :meth:`feed` each chunk and pass on
    what it returns (``None``: held back, in prompt mode), then the chunks of
    :meth:`tail`."""

    def __init__(self, request: ChatRequest, sent: ChatRequest) -> None:
        self.request = request
        self.sent = sent
        self.prompt_mode = _prompt_mode(request, sent)
        self.acc = StreamAccumulator()
        self.indexes: set[int] = set()
        self.usage_seen = False
        self.calls: tuple[ToolCall, ...] = ()  # of a prompt-mode reply, after tail()

    def feed(self, chunk: ChatChunk) -> ChatChunk | None:
        self.acc.add(chunk)
        if chunk.usage is not None:
            self.usage_seen = True
        if self.prompt_mode:
            return None
        if chunk.tool_calls:
            deltas = []
            for d in chunk.tool_calls:
                if d.index not in self.indexes:
                    self.indexes.add(d.index)
                    if not d.id:
                        d = attrs.evolve(d, id=new_call_id())
                deltas.append(d)
            chunk = attrs.evolve(chunk, tool_calls=tuple(deltas))
        return chunk

    def tail(self) -> list[ChatChunk]:
        """The chunks of a prompt-mode reply (nothing otherwise)."""
        if not self.prompt_mode:
            return []
        resp = self.acc.response()
        parsed = parse_tool_reply(resp.message.text, self.request.tools or ())
        self.calls = parsed.tool_calls
        rid, model = resp.id, resp.model
        out = [ChatChunk(id=rid, model=model, role="assistant")]
        if parsed.content:
            out.append(ChatChunk(id=rid, model=model, content=parsed.content))
        for i, tc in enumerate(parsed.tool_calls):
            delta = ToolCallDelta(i, tc.id, tc.function.name, tc.function.arguments)
            out.append(ChatChunk(id=rid, model=model, tool_calls=(delta,)))
        finish = "tool_calls" if parsed.tool_calls else resp.finish_reason
        extra = dict(resp.extra)
        out.append(
            ChatChunk(id=rid, model=model, finish_reason=finish, usage=self.acc.usage, extra=extra)
        )
        return out

    def usage_chunk(self, provider: LocalServerProvider) -> ChatChunk:
        """The usage-only chunk of a stream that carried none (counting asks the server)."""
        resp = self.acc.response()
        args = [tc.function.arguments for tc in resp.tool_calls]
        usage, marks = count_usage(provider, self.sent, resp.message.text, args)
        return ChatChunk(id=resp.id, model=resp.model, usage=usage, extra=marks)


def fill_stream(
    provider: LocalServerProvider,
    request: ChatRequest,
    sent: ChatRequest,
    first: ChatChunk | None,
    rest: Iterator[ChatChunk],
) -> Iterator[ChatChunk]:
    """The chunks of the stream answering ``sent`` (made from ``request``), whose first
    chunk, already read, is ``first``, fixed as the module docstring says."""
    fx = StreamFixer(request, sent)
    if first is not None:
        out = fx.feed(first)
        if out is not None:
            yield out
        for chunk in rest:
            out = fx.feed(chunk)
            if out is not None:
                yield out
    tail = fx.tail()
    if repeats(request, sent, fx.calls):
        earlier = fx.acc.response()
        if not fx.usage_seen:
            earlier = attrs.evolve(earlier, usage=fx.usage_chunk(provider).usage or Usage())
        yield from replay_chunks(answer_of(earlier, provider.chat(answer_request(request))))
        return
    yield from tail
    if not fx.usage_seen:
        yield fx.usage_chunk(provider)


async def afill_stream(
    provider: LocalServerProvider,
    request: ChatRequest,
    sent: ChatRequest,
    first: ChatChunk | None,
    rest: AsyncIterator[ChatChunk],
) -> AsyncIterator[ChatChunk]:
    """The async twin of :func:`fill_stream` (counting runs in a worker thread)."""
    fx = StreamFixer(request, sent)
    if first is not None:
        out = fx.feed(first)
        if out is not None:
            yield out
        async for chunk in rest:
            out = fx.feed(chunk)
            if out is not None:
                yield out
    tail = fx.tail()
    if repeats(request, sent, fx.calls):
        earlier = fx.acc.response()
        if not fx.usage_seen:
            counted = await asyncio.to_thread(fx.usage_chunk, provider)
            earlier = attrs.evolve(earlier, usage=counted.usage or Usage())
        again = await provider.achat(answer_request(request))
        for chunk in replay_chunks(answer_of(earlier, again)):
            yield chunk
        return
    for chunk in tail:
        yield chunk
    if not fx.usage_seen:
        yield await asyncio.to_thread(fx.usage_chunk, provider)
