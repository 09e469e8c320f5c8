"""The call engine: one call value, decisions written once (``plan``), thin sync and
async drivers for chat (``chat``) and streams (``streams``, ``fanout``), and the
:class:`Engine` that holds what calls share.

The names below load on first use: low-level modules (config, limits) import single
submodules of this package (``timeouts``), which must not pull the whole engine in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY = {
    "AsyncChatStream": ".chat_stream",
    "ChatStream": ".chat_stream",
    "Engine": ".engine",
    "UsageTotals": ".totals",
    "CACHE_MODES": ".options",
    "Call": ".options",
    "CacheMode": ".options",
    "CallOptions": ".options",
    "call_options": ".options",
    "check_cache_tags": ".options",
}

if TYPE_CHECKING:
    from .chat_stream import AsyncChatStream as AsyncChatStream
    from .chat_stream import ChatStream as ChatStream
    from .engine import Engine as Engine
    from .options import CACHE_MODES as CACHE_MODES
    from .options import CacheMode as CacheMode
    from .options import Call as Call
    from .options import CallOptions as CallOptions
    from .options import call_options as call_options
    from .options import check_cache_tags as check_cache_tags
    from .totals import UsageTotals as UsageTotals

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
