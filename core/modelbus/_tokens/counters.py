"""Choosing a token counter for a model, the approximate fallback, and counting CLI input."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._wire.types import ImagePart, Message, ToolSpec
from ..errors import ConfigError
from ..protocols import TokenCounter
from .images import image_tokens

if TYPE_CHECKING:
    from .._client import Client
    from .._engine import Engine

__all__ = ["ApproximateCounter", "count_input", "pick_counter"]


class ApproximateCounter:
    """About 4 characters per token (OpenAI's rule of thumb for English text, "What are
    tokens and how to count them"), plus the cookbook's per-message overhead and OpenAI's
    image rule (``modelbus._tokens.images``). ``exact`` is False: use it for budgets and limits,
    never for billing."""

    exact = False

    def serves(self, model: str) -> bool:
        return True

    def count_text(self, text: str, model: str) -> int:
        return (len(text) + 3) // 4

    def count_messages(
        self, messages: Sequence[Message], model: str, tools: Sequence[ToolSpec] | None = None
    ) -> int:
        n = 3  # every reply is primed with <|start|>assistant<|message|>
        for m in messages:
            n += 3 + self.count_text(m.text, model)
            if m.name:
                n += 1 + self.count_text(m.name, model)
            if isinstance(m.content, tuple):
                for part in m.content:
                    if isinstance(part, ImagePart):
                        n += image_tokens(part.image_url.url, part.image_url.detail)
            for tc in m.tool_calls or ():
                n += self.count_text(tc.function.name + tc.function.arguments, model)
        if tools:
            from .._wire.converter import converter

            n += self.count_text(json.dumps([converter.unstructure(t) for t in tools]), model)
        return n


_APPROX = ApproximateCounter()


def pick_counter(c: Engine, model: str, provider: str | None = None) -> TokenCounter:
    """The provider's own counter when it has one that serves ``model``, else the
    registered counters (exact first, in registration order), else the approximation."""
    if provider is not None:
        try:
            own = getattr(c.provider(provider).inner, "token_counter", None)
        except ConfigError:
            own = None  # counting needs no provider (e.g. no API key): a counter will do
        if own is not None and own.serves(model):
            return own  # type: ignore[no-any-return]
    counters = c.start_counters()
    chosen = c.config.modelbus.token_counter
    if chosen is not None:
        # A counter that failed to start is left out above: asked for by name, it raises.
        return counters[chosen] if chosen in counters else c.build("token_counters", chosen)
    serving = [t for t in counters.values() if t.serves(model)]
    for t in serving:
        if t.exact:
            return t
    return serving[0] if serving else _APPROX


def count_input(c: Client, text: str, model: str | None = None) -> int:
    """Tokens of CLI input (``modelbus tokens``) on ``model`` (default: the client's).

    ``text`` is a JSON list of OpenAI messages, a JSON object with ``messages`` (and
    optionally ``tools``, as in a request body), or anything else, counted as plain text
    (no message overhead). Raises ``ValueError`` for a JSON list or object that is not
    messages, naming what is wrong."""
    stripped = text.lstrip()
    data: Any = None
    if stripped[:1] in ("[", "{"):
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError):
            data = None  # not JSON after all: plain text that starts with a bracket
    if isinstance(data, dict):
        if "messages" not in data:
            raise ValueError(
                "JSON input is an object without 'messages'; give a list of "
                "messages, a request body with 'messages', or plain text"
            )
        try:
            return c.count_tokens(data["messages"], model=model, tools=data.get("tools"))
        except TypeError as exc:
            raise ValueError(f"JSON input: {exc}") from exc
    if isinstance(data, list):
        try:
            return c.count_tokens(data, model=model)
        except TypeError as exc:
            raise ValueError(f"JSON input: {exc}") from exc
    model_name, provider = counting_route(c, model)
    return c.token_counter(model_name, provider).count_text(text, model_name)


def counting_route(c: Client, model: str | None) -> tuple[str, str | None]:
    """``(model, provider)`` to count tokens for ``model``: its route, or the name alone
    (provider ``None``) when it routes nowhere; ``ConfigError`` when no model is given
    and the default route does not resolve."""
    try:
        route = c.route(model)
    except ConfigError:
        if model is None:
            raise
        return model, None  # counting needs no provider, only a counter for the model
    assert route.model is not None
    return route.model, route.provider


def count_prompt(c: Client, messages: Any, model: str | None, tools: Any = None) -> int:
    """``Client.count_tokens``: prompt tokens of ``messages`` (and ``tools``) on ``model``."""
    from .._routing.resolve import build_messages, build_request

    model_name, provider = counting_route(c, model)
    msgs = build_messages(messages)
    specs = build_request(msgs, model_name, {"tools": tools}).tools if tools else None
    return c.token_counter(model_name, provider).count_messages(msgs, model_name, specs)
