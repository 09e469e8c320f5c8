"""The call engine: one call value, decisions written once (``plan``), thin sync and
async drivers for chat (``chat``) and streams (``streams``, ``fanout``), and the
:class:`Engine` that holds what calls share."""

from __future__ import annotations

from .chat_stream import AsyncChatStream, ChatStream
from .engine import Engine, UsageTotals
from .options import CACHE_MODES, CacheMode, Call, CallOptions, call_options, check_cache_tags

__all__ = [
    "CACHE_MODES",
    "AsyncChatStream",
    "CacheMode",
    "Call",
    "CallOptions",
    "ChatStream",
    "Engine",
    "UsageTotals",
    "call_options",
    "check_cache_tags",
]
