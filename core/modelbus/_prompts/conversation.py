"""Conversations: a chat that keeps its history, counts its tokens and saves to JSONL.

    conv = client.conversation(system="You are terse.", model="gpt-4o-mini")
    conv.send("Hi").content
    conv.send("And again?")
    conv.save("chat.jsonl")
    conv2 = Conversation.load(client, "chat.jsonl", model="gpt-4o-mini")

Each ``send`` is an ordinary ``client.chat`` over the whole history, so cache, retry,
the tool loop (``tools=``) and the context policy (``[modelbus] truncate`` or
``truncate=``: what is *sent* may be cut to fit the context window; the conversation
keeps every message) apply. A failed send leaves the history as it was.

The dialogue log is JSONL, one JSON object per message: the OpenAI message fields
(``role``, ``content``, ``tool_calls``, ``tool_call_id``, ``name``, ``refusal``,
``reasoning_content``) plus ``timestamp`` (ISO 8601, UTC), and on each answer
``usage`` (OpenAI's ``usage`` shape, summed over tool rounds), ``model``, ``provider``
and ``cost_usd``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .._routing.resolve import build_messages
from .._wire.converter import message_from_openai, message_to_openai, parse_usage, prompt_details
from .._wire.types import ChatResponse, Message, Usage

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["Conversation", "Turn"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen
class Turn:
    """One message of the history with what is known about it: when it was added
    (``timestamp``, aware UTC) and, for an answer, the ``usage`` (tokens), ``model``,
    ``provider`` and ``cost_usd`` (US dollars, ``None`` when unpriced)."""

    message: Message
    timestamp: dt.datetime
    usage: Usage | None = None
    model: str | None = None
    provider: str | None = None
    cost_usd: float | None = None

    def to_json(self) -> dict[str, Any]:
        d = message_to_openai(self.message, for_request=False)
        d["timestamp"] = self.timestamp.isoformat()
        if self.usage is not None:
            u = self.usage
            d["usage"] = {
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "total_tokens": u.total_tokens,
                "prompt_tokens_details": prompt_details(u),
                "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
            }
        for key in ("model", "provider", "cost_usd"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Turn:
        ts = d.get("timestamp")
        return cls(
            message_from_openai(d),
            dt.datetime.fromisoformat(ts) if isinstance(ts, str) else _utcnow(),
            parse_usage(d.get("usage")),
            d.get("model"),
            d.get("provider"),
            d.get("cost_usd"),
        )


class Conversation:
    """A chat history bound to a client (see the module doc).

    ``system`` starts the history with a system message; ``model`` (model, alias or
    ``provider/model``; default from config), ``tools`` and ``params`` (OpenAI
    parameters, ``truncate``...) apply to every send; ``now`` gives timestamps (tests).
    One send at a time: a second concurrent send raises ``RuntimeError``.
    """

    def __init__(
        self,
        client: Client,
        *,
        system: str | None = None,
        model: str | None = None,
        messages: Iterable[Any] = (),
        tools: Any = None,
        now: Callable[[], dt.datetime] | None = None,
        **params: Any,
    ) -> None:
        self.client = client
        self.model = model
        self.tools = tools
        self.params = params
        self._now = now or _utcnow
        self._turns: list[Turn] = []
        self._tokens: list[int] = []  # per message, filled lazily by .tokens
        self._counted_for: tuple[str, str] | None = None
        self._busy = False
        start = self._now()
        self._turns.extend(Turn(m, start) for m in build_messages(list(messages), system))

    @property
    def messages(self) -> tuple[Message, ...]:
        """The history, oldest first."""
        return tuple(t.message for t in self._turns)

    @property
    def turns(self) -> tuple[Turn, ...]:
        """The history with timestamps and usage."""
        return tuple(self._turns)

    @property
    def usage(self) -> Usage:
        """Tokens billed over every send so far."""
        total = Usage()
        for t in self._turns:
            if t.usage is not None:
                total = total + t.usage
        return total

    @property
    def tokens(self) -> int:
        """Prompt tokens the whole history would cost on the conversation's model now
        (before any truncation). Counted per message and only for new messages
        (``count_messages([m]) - count_messages([])``: message counts add up, OpenAI
        cookbook "How to count tokens with tiktoken")."""
        route = self.client.route(self.model)
        assert route.model is not None
        key = (route.provider, route.model)
        counter = self.client.token_counter(route.model, route.provider)
        if key != self._counted_for:
            self._tokens, self._counted_for = [], key
        base = counter.count_messages((), route.model)
        for m in self.messages[len(self._tokens) :]:
            self._tokens.append(counter.count_messages((m,), route.model) - base)
        return base + sum(self._tokens)

    def _start(self, content: Any) -> tuple[list[Message], list[Message]]:
        if self._busy:
            raise RuntimeError("a Conversation sends one message at a time")
        self._busy = True
        return list(self.messages), list(build_messages(content))

    def _chat_kwargs(self, params: dict[str, Any]) -> dict[str, Any]:
        kw = {**self.params, **params}
        if self.tools is not None and "tools" not in kw:
            kw["tools"] = self.tools
        return {"model": self.model, **kw}

    def _finish(
        self,
        history: Sequence[Message],
        new: Sequence[Message],
        sent: dt.datetime,
        resp: ChatResponse,
    ) -> ChatResponse:
        added = resp.transcript[len(history) :] if resp.transcript else (*new, resp.message)
        done = self._now()
        for i, m in enumerate(added[:-1]):
            self._turns.append(Turn(m, sent if i < len(new) else done))
        self._turns.append(
            Turn(added[-1], done, resp.usage, resp.model, resp.provider, resp.cost_usd)
        )
        return resp

    def send(self, content: str | Message | Iterable[Any], **params: Any) -> ChatResponse:
        """Add ``content`` (a user prompt, a Message or a list of messages), ask the model
        and keep its answer; ``params`` override the conversation's for this send.
        Raises what ``client.chat`` raises, leaving the history unchanged."""
        history, new = self._start(content)
        try:
            sent = self._now()
            resp = self.client.chat([*history, *new], **self._chat_kwargs(params))
            return self._finish(history, new, sent, resp)
        finally:
            self._busy = False

    async def asend(self, content: str | Message | Iterable[Any], **params: Any) -> ChatResponse:
        """The async twin of :meth:`send`."""
        history, new = self._start(content)
        try:
            sent = self._now()
            resp = await self.client.achat([*history, *new], **self._chat_kwargs(params))
            return self._finish(history, new, sent, resp)
        finally:
            self._busy = False

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the history as JSONL (UTF-8), replacing the file atomically; returns it."""
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for t in self._turns:
                f.write(json.dumps(t.to_json(), ensure_ascii=False) + "\n")
        os.replace(tmp, p)
        return p

    @classmethod
    def load(cls, client: Client, path: str | os.PathLike[str], **kwargs: Any) -> Conversation:
        """A conversation continuing the JSONL log at ``path``; ``kwargs`` as for the
        constructor (``model``, ``tools``, params; the system message is in the log).
        Raises ``ValueError`` naming the file and line of a malformed record."""
        conv = cls(client, **kwargs)
        p = Path(path)
        with p.open(encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    if not isinstance(d, dict) or "role" not in d:
                        raise ValueError("not a message object with a 'role'")
                    conv._turns.append(Turn.from_json(d))
                except (ValueError, TypeError, RecursionError) as exc:
                    raise ValueError(f"{p}:{i}: bad conversation record: {exc}") from None
        return conv
