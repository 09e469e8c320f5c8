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
    "Config": "._config.config",
    "CoreSettings": "._config.config",
    "ModelAlias": "._config.config",
    "RateLimit": "._config.config",
    "RetryBudgetSettings": "._config.config",
    "BatchResult": "._batch.runner",
    "Message": "._wire.types",
    "TextPart": "._wire.types",
    "ImagePart": "._wire.types",
    "ImageURL": "._wire.types",
    "ToolCall": "._wire.types",
    "FunctionCall": "._wire.types",
    "ToolSpec": "._wire.types",
    "FunctionSpec": "._wire.types",
    "ChatRequest": "._wire.types",
    "ChatResponse": "._wire.types",
    "ChatChunk": "._wire.types",
    "ToolCallDelta": "._wire.types",
    "Usage": "._wire.types",
    "EmbeddingRequest": "._wire.types",
    "EmbeddingResponse": "._wire.types",
    "converter": "._wire.converter",
    "Secret": "._config.secrets",
    "env_secret": "._config.secrets",
    "hookimpl": ".hookspecs",
    "hookspec": ".hookspecs",
    "adapt_provider": "._engine.provider_adapter",
    "adapt_cache": "._caching.async_side",
    "Capabilities": ".protocols",
    "CacheStats": ".protocols",
    "ChatStream": "._engine",
    "AsyncChatStream": "._engine",
    "StreamAccumulator": "._wire.stream_accumulator",
    "Catalog": "._catalog",
    "CatalogEntry": "._catalog",
    "cache_key": "._caching.key",
    "Clock": "._retry.runner",
    "AttemptLimits": "._engine.timeouts",
    "attempt_limits": "._engine.timeouts",
    "is_retryable": "._retry.runner",
    "load_plugins": "._plugins.loading",
    "reset_plugins": "._plugins.loading",
    "tool": "._tools.registry",
    "Tool": "._tools.registry",
    "ToolRegistry": "._tools.registry",
    "json_schema": "._schemas.json_schema",
    "Conversation": "._prompts.conversation",
    "PromptTemplate": "._prompts.templates",
    "render_template": "._prompts.templates",
}

__all__ = sorted([*_LAZY, "__version__"])

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


if TYPE_CHECKING:
    from . import errors as errors
    from ._batch.runner import BatchResult as BatchResult
    from ._caching.async_side import adapt_cache as adapt_cache
    from ._caching.key import cache_key as cache_key
    from ._catalog import Catalog as Catalog
    from ._catalog import CatalogEntry as CatalogEntry
    from ._client import Client as Client
    from ._client import UsageTotals as UsageTotals
    from ._config.config import Config as Config
    from ._config.config import CoreSettings as CoreSettings
    from ._config.config import ModelAlias as ModelAlias
    from ._config.config import RateLimit as RateLimit
    from ._config.config import RetryBudgetSettings as RetryBudgetSettings
    from ._config.secrets import Secret as Secret
    from ._config.secrets import env_secret as env_secret
    from ._engine import AsyncChatStream as AsyncChatStream
    from ._engine import ChatStream as ChatStream
    from ._engine.provider_adapter import adapt_provider as adapt_provider
    from ._engine.timeouts import AttemptLimits as AttemptLimits
    from ._engine.timeouts import attempt_limits as attempt_limits
    from ._plugins.loading import load_plugins as load_plugins
    from ._plugins.loading import reset_plugins as reset_plugins
    from ._prompts.conversation import Conversation as Conversation
    from ._prompts.templates import PromptTemplate as PromptTemplate
    from ._prompts.templates import render_template as render_template
    from ._retry.runner import Clock as Clock
    from ._retry.runner import is_retryable as is_retryable
    from ._schemas.json_schema import json_schema as json_schema
    from ._tools.registry import Tool as Tool
    from ._tools.registry import ToolRegistry as ToolRegistry
    from ._tools.registry import tool as tool
    from ._wire.converter import converter as converter
    from ._wire.stream_accumulator import StreamAccumulator as StreamAccumulator
    from ._wire.types import ChatChunk as ChatChunk
    from ._wire.types import ChatRequest as ChatRequest
    from ._wire.types import ChatResponse as ChatResponse
    from ._wire.types import EmbeddingRequest as EmbeddingRequest
    from ._wire.types import EmbeddingResponse as EmbeddingResponse
    from ._wire.types import FunctionCall as FunctionCall
    from ._wire.types import FunctionSpec as FunctionSpec
    from ._wire.types import ImagePart as ImagePart
    from ._wire.types import ImageURL as ImageURL
    from ._wire.types import Message as Message
    from ._wire.types import TextPart as TextPart
    from ._wire.types import ToolCall as ToolCall
    from ._wire.types import ToolCallDelta as ToolCallDelta
    from ._wire.types import ToolSpec as ToolSpec
    from ._wire.types import Usage as Usage
    from .hookspecs import hookimpl as hookimpl
    from .hookspecs import hookspec as hookspec
    from .protocols import CacheStats as CacheStats
    from .protocols import Capabilities as Capabilities
