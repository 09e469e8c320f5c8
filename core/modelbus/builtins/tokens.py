"""Built-in token counter ``tiktoken`` (OpenAI models)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from .._types import Message, ToolSpec
from ..hookspecs import hookimpl

__all__ = ["TiktokenCounter", "encoding_name_for"]

_O200K = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss")
_CL100K = ("gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada-002")


def encoding_name_for(model: str) -> str | None:
    """The tiktoken encoding of an OpenAI model name (prefix match, dated snapshots
    included): o200k_base for gpt-4o, gpt-4.1, gpt-5 and the o-series; cl100k_base for
    gpt-4, gpt-3.5-turbo and text-embedding-3-*; ``None`` for models it does not serve."""
    for p in _O200K:
        if model.startswith(p):
            return "o200k_base"
    for p in _CL100K:
        if model.startswith(p):
            return "cl100k_base"
    return None


@functools.cache
def _encoding(name: str) -> Any:
    import tiktoken  # loads the BPE file (honours TIKTOKEN_CACHE_DIR) once per process

    return tiktoken.get_encoding(name)


class TiktokenCounter:
    """Counts like the OpenAI cookbook "How to count tokens with tiktoken": 3 tokens per
    message, +1 per ``name``, +3 to prime the reply. ``exact`` is True for the models it
    serves."""

    exact = True

    def serves(self, model: str) -> bool:
        return encoding_name_for(model) is not None

    def count_text(self, text: str, model: str) -> int:
        enc = _encoding(encoding_name_for(model) or "o200k_base")
        return len(enc.encode(text, disallowed_special=()))

    def count_messages(self, messages: Sequence[Message], model: str,
                       tools: Sequence[ToolSpec] | None = None) -> int:
        n = 3
        for m in messages:
            n += 3 + self.count_text(m.role, model) + self.count_text(m.text, model)
            if m.name:
                n += 1 + self.count_text(m.name, model)
        return n


@hookimpl
def modelbus_register_token_counters(register: Callable[..., None]) -> None:
    register("tiktoken", TiktokenCounter, description="OpenAI models via tiktoken")
