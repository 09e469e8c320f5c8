"""Choosing a token counter for a model, and the approximate fallback."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._types import Message, ToolSpec
from .protocols import TokenCounter

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["ApproximateCounter", "pick_counter"]


class ApproximateCounter:
    """About 4 characters per token (OpenAI's rule of thumb for English text, "What are
    tokens and how to count them"), plus the cookbook's per-message overhead. ``exact`` is
    False: use it for budgets and limits, never for billing."""

    exact = False

    def serves(self, model: str) -> bool:
        return True

    def count_text(self, text: str, model: str) -> int:
        return (len(text) + 3) // 4

    def count_messages(self, messages: Sequence[Message], model: str,
                       tools: Sequence[ToolSpec] | None = None) -> int:
        n = 3  # every reply is primed with <|start|>assistant<|message|>
        for m in messages:
            n += 3 + self.count_text(m.text, model)
            if m.name:
                n += 1
            for tc in m.tool_calls or ():
                n += self.count_text(tc.function.name + tc.function.arguments, model)
        if tools:
            from ._converter import converter

            n += self.count_text(json.dumps([converter.unstructure(t) for t in tools]), model)
        return n


_APPROX = ApproximateCounter()


def pick_counter(c: Client, model: str, provider: str | None = None) -> TokenCounter:
    """The provider's own counter when it has one that serves ``model``, else the
    registered counters (exact first, in registration order), else the approximation."""
    if provider is not None:
        own = getattr(c.provider(provider).inner, "token_counter", None)
        if own is not None and own.serves(model):
            return own  # type: ignore[no-any-return]
    counters = c._counters
    if not counters:
        with c._lock:
            for reg in c.registry.of_kind("token_counters"):
                if reg.name not in counters:
                    counters[reg.name] = c._build("token_counters", reg.name)
    chosen = c.config.modelbus.token_counter
    if chosen is not None:
        return counters[chosen] if chosen in counters else c.registry.get(
            "token_counters", chosen).factory()
    serving = [t for t in counters.values() if t.serves(model)]
    for t in serving:
        if t.exact:
            return t
    return serving[0] if serving else _APPROX
