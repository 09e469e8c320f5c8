"""modelbus: a plugin-based LLM client.

``import modelbus`` is cheap: it loads no plugin, imports no provider SDK and does no I/O.
Names below are imported on first use (PEP 562).

    >>> import modelbus
    >>> client = modelbus.Client()            # config from ./modelbus.toml, env, defaults
    >>> client.chat("Hello").content
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "errors": ".errors",
    "Client": "._client",
    "UsageTotals": "._client",
    "Config": "._config",
    "CoreSettings": "._config",
    "ModelAlias": "._config",
    "RateLimit": "._config",
    "RetryBudgetSettings": "._config",
    "BatchResult": "._batch",
    "Message": "._types",
    "TextPart": "._types",
    "ImagePart": "._types",
    "ImageURL": "._types",
    "ToolCall": "._types",
    "FunctionCall": "._types",
    "ToolSpec": "._types",
    "FunctionSpec": "._types",
    "ChatRequest": "._types",
    "ChatResponse": "._types",
    "ChatChunk": "._types",
    "ToolCallDelta": "._types",
    "Usage": "._types",
    "EmbeddingRequest": "._types",
    "EmbeddingResponse": "._types",
    "converter": "._converter",
    "Secret": "._secrets",
    "env_secret": "._secrets",
    "hookimpl": ".hookspecs",
    "hookspec": ".hookspecs",
    "adapt_provider": "._adapt",
    "adapt_cache": "._cache_adapt",
    "Capabilities": ".protocols",
    "CacheStats": ".protocols",
    "ChatStream": "._engine",
    "AsyncChatStream": "._engine",
    "StreamAccumulator": "._stream",
    "Catalog": "._catalog",
    "CatalogEntry": "._catalog",
    "cache_key": "._cache_key",
    "Clock": "._retry",
    "AttemptLimits": "._timeouts",
    "attempt_limits": "._timeouts",
    "is_retryable": "._retry",
    "load_plugins": "._plugins",
    "reset_plugins": "._plugins",
    "tool": "._tools",
    "Tool": "._tools",
    "ToolRegistry": "._tools",
    "json_schema": "._schema",
    "Conversation": "._conversation",
    "PromptTemplate": "._templates",
    "render_template": "._templates",
}

__all__ = sorted([*_LAZY, "__version__"])

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


if TYPE_CHECKING:
    from . import errors as errors
    from ._adapt import adapt_provider as adapt_provider
    from ._batch import BatchResult as BatchResult
    from ._cache_adapt import adapt_cache as adapt_cache
    from ._cache_key import cache_key as cache_key
    from ._catalog import Catalog as Catalog
    from ._catalog import CatalogEntry as CatalogEntry
    from ._client import Client as Client
    from ._client import UsageTotals as UsageTotals
    from ._config import Config as Config
    from ._config import CoreSettings as CoreSettings
    from ._config import ModelAlias as ModelAlias
    from ._config import RateLimit as RateLimit
    from ._config import RetryBudgetSettings as RetryBudgetSettings
    from ._conversation import Conversation as Conversation
    from ._converter import converter as converter
    from ._engine import AsyncChatStream as AsyncChatStream
    from ._engine import ChatStream as ChatStream
    from ._plugins import load_plugins as load_plugins
    from ._plugins import reset_plugins as reset_plugins
    from ._retry import Clock as Clock
    from ._retry import is_retryable as is_retryable
    from ._schema import json_schema as json_schema
    from ._secrets import Secret as Secret
    from ._secrets import env_secret as env_secret
    from ._stream import StreamAccumulator as StreamAccumulator
    from ._templates import PromptTemplate as PromptTemplate
    from ._templates import render_template as render_template
    from ._timeouts import AttemptLimits as AttemptLimits
    from ._timeouts import attempt_limits as attempt_limits
    from ._tools import Tool as Tool
    from ._tools import ToolRegistry as ToolRegistry
    from ._tools import tool as tool
    from ._types import ChatChunk as ChatChunk
    from ._types import ChatRequest as ChatRequest
    from ._types import ChatResponse as ChatResponse
    from ._types import EmbeddingRequest as EmbeddingRequest
    from ._types import EmbeddingResponse as EmbeddingResponse
    from ._types import FunctionCall as FunctionCall
    from ._types import FunctionSpec as FunctionSpec
    from ._types import ImagePart as ImagePart
    from ._types import ImageURL as ImageURL
    from ._types import Message as Message
    from ._types import TextPart as TextPart
    from ._types import ToolCall as ToolCall
    from ._types import ToolCallDelta as ToolCallDelta
    from ._types import ToolSpec as ToolSpec
    from ._types import Usage as Usage
    from .hookspecs import hookimpl as hookimpl
    from .hookspecs import hookspec as hookspec
    from .protocols import CacheStats as CacheStats
    from .protocols import Capabilities as Capabilities
