"""The public API for plugin authors: everything a provider, cache, retry policy,
token counter or response-format handler needs, in one import.

    from modelbus.plugin import ChatRequest, ChatResponse, error_from_http, hookimpl

``modelbus._*`` modules are private and change without notice; build on this module
(and on ``modelbus``, ``modelbus.errors``, ``modelbus.testing``). Names are imported on
first use (PEP 562), so ``import modelbus.plugin`` costs nothing and the first-party
plugins import only what they use. The tutorial (``docs/plugin-tutorial.md``) builds a
provider for a non-OpenAI wire format on it, ``docs/examples/modelbus-messages``.

What is here (each name's own docstring gives shapes, units and errors):

- **Types** (the OpenAI wire vocabulary every provider maps to and from):
  ``ChatRequest``, ``ChatResponse``, ``ChatChunk``, ``Message``, ``TextPart``,
  ``ImagePart``, ``ImageURL``, ``ToolCall``, ``FunctionCall``, ``ToolCallDelta``,
  ``ToolSpec``, ``FunctionSpec``, ``Usage`` (tokens), ``EmbeddingRequest``,
  ``EmbeddingResponse``.
- **Protocols and registration**: ``hookimpl``, ``Capabilities``, ``SyncProvider``,
  ``AsyncProvider``, ``Cache``, ``LockingCache``, ``CacheStats``, ``RetryPolicy``,
  ``RateLimiter``, ``TokenCounter``, ``ResponseFormatHandler``, ``Clock``;
  ``REQUEST_PARAMS`` (a frozenset: the names of the :class:`ChatRequest` fields a
  caller may set, from which a provider builds its ``Capabilities.params``).
- **Budget stores** (``[modelbus] budget_store``): ``BudgetStore`` (the protocol),
  ``Charge`` (one budget a call charges, amounts in integer nano-dollars) and
  ``Refusal`` (why a reservation did not fit).
- **Pool state stores** (``[modelbus] pool_state``): ``PoolState`` (the protocol) and
  ``DeploymentState`` (one deployment's cooldown, calls in flight and usage).
- **Errors**: ``ProviderError`` and its subclasses by HTTP status:
  ``BadRequestError`` (400/422; ``ContextLengthExceededError``, ``ContentFilterError``),
  ``AuthenticationError`` (401), ``PermissionDeniedError`` (403), ``NotFoundError``
  (404), ``RateLimitError`` (429), ``ServerError`` (>= 500), ``APITimeoutError``,
  ``APIConnectionError``; ``ConfigError``, ``PluginError``, ``ResponseFormatError``,
  ``RefusalError``, ``ModelbusError``.
- **HTTP errors**: ``error_from_http`` (status, headers, body → the ``ProviderError``
  subclass with ``retry_after_s``, ``should_retry``, ``request_id``, ``code``),
  ``read_http_error`` / ``HttpErrorInfo`` (the same, read without choosing a class),
  ``error_for_status``, ``error_for_type``, ``decode_body``, ``request_id_from`` and
  ``REQUEST_ID_HEADERS`` (``("x-request-id", "request-id", "apim-request-id")``, tried
  in that order).
- **Retry hints**: ``retry_after_seconds`` (``retry-after-ms``, ``Retry-After`` as
  seconds or an HTTP-date, RFC 9110 §10.2.3), ``should_retry_header``
  (``x-should-retry``).
- **Streams**: ``SSEDecoder``, ``ServerSentEvent``, ``iter_sse``, ``aiter_sse``
  (WHATWG server-sent events); ``StreamAccumulator`` (chunks → one ``ChatResponse``),
  ``replay_chunks`` (a response → chunks).
- **OpenAI Chat Completions wire format** (for OpenAI-compatible servers):
  ``request_body``, ``parse_chat_response``, ``parse_chat_chunk``,
  ``message_to_openai``, ``message_from_openai``, ``embedding_body``,
  ``parse_embedding_response``.
- **Caches**: ``check_entry`` (the argument checks every ``Cache.set`` makes).
- **Settings**: ``Secret``, ``env_secret``, ``RateLimit``.
- **Secrets in text and cache keys**: ``register_secret`` (mask a credential held as a
  plain string wherever modelbus renders text), ``redact_exception`` (scrub an SDK
  exception and its chain before chaining a ``ProviderError`` to it),
  ``identity_with_credential`` (a ``cache_identity`` with a one-way fingerprint of the
  credential, so that clients with different keys never share cached answers).
- **Tokens**: ``ApproximateCounter``.
- **Structured output**: ``json_schema``, ``class_doc``, ``type_name``, ``structure``,
  ``unstructure``, ``StructureError``, ``describe_error``; ``is_record`` and
  ``record_fields`` / ``RecordField`` (one view of attrs classes, dataclasses,
  ``TypedDict`` and pydantic models).
- **Providers**: ``adapt_provider`` (a sync-only or async-only provider made two-sided
  the way the client does it, for a provider that wraps another).
- **Time limits**: ``attempt_limits`` (a function), the ``AttemptLimits`` of the call in
  flight (seconds left of the call's timeout or the retry deadline, the stream idle
  timeout), read when a request is sent. The core cancels a late async attempt itself;
  nothing can interrupt a sync call from outside, so a sync provider passes them to its
  HTTP client (``docs/how-to/timeouts.md``).
- **Plumbing**: ``get_logger`` (structlog-style, silent until the application
  configures logging), ``lazy_exports`` (PEP 562 lazy names for a plugin package),
  ``close_with_loop`` (a per-event-loop resource, such as an aiohttp session, closed
  when ``asyncio.run`` shuts its loop down).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports as _lazy_exports

_LAZY: dict[str, str] = {
    "ChatChunk": "modelbus._wire.types",
    "ChatRequest": "modelbus._wire.types",
    "ChatResponse": "modelbus._wire.types",
    "EmbeddingRequest": "modelbus._wire.types",
    "EmbeddingResponse": "modelbus._wire.types",
    "FunctionCall": "modelbus._wire.types",
    "FunctionSpec": "modelbus._wire.types",
    "ImagePart": "modelbus._wire.types",
    "ImageURL": "modelbus._wire.types",
    "Message": "modelbus._wire.types",
    "TextPart": "modelbus._wire.types",
    "ToolCall": "modelbus._wire.types",
    "ToolCallDelta": "modelbus._wire.types",
    "ToolSpec": "modelbus._wire.types",
    "Usage": "modelbus._wire.types",
    "AsyncProvider": "modelbus.protocols",
    "Cache": "modelbus.protocols",
    "CacheStats": "modelbus.protocols",
    "Capabilities": "modelbus.protocols",
    "REQUEST_PARAMS": "modelbus._wire.params",
    "LockingCache": "modelbus.protocols",
    "RateLimiter": "modelbus.protocols",
    "ResponseFormatHandler": "modelbus.protocols",
    "RetryPolicy": "modelbus.protocols",
    "SyncProvider": "modelbus.protocols",
    "TokenCounter": "modelbus.protocols",
    "hookimpl": "modelbus.hookspecs",
    "APIConnectionError": "modelbus.errors",
    "APITimeoutError": "modelbus.errors",
    "AuthenticationError": "modelbus.errors",
    "BadRequestError": "modelbus.errors",
    "ConfigError": "modelbus.errors",
    "ContentFilterError": "modelbus.errors",
    "ContextLengthExceededError": "modelbus.errors",
    "ModelbusError": "modelbus.errors",
    "NotFoundError": "modelbus.errors",
    "PermissionDeniedError": "modelbus.errors",
    "PluginError": "modelbus.errors",
    "ProviderError": "modelbus.errors",
    "RateLimitError": "modelbus.errors",
    "RefusalError": "modelbus.errors",
    "ResponseFormatError": "modelbus.errors",
    "ServerError": "modelbus.errors",
    "error_for_status": "modelbus.errors",
    "REQUEST_ID_HEADERS": "modelbus._wire.http_errors",
    "HttpErrorInfo": "modelbus._wire.http_errors",
    "decode_body": "modelbus._wire.http_errors",
    "error_for_type": "modelbus._wire.http_errors",
    "error_from_http": "modelbus._wire.http_errors",
    "read_http_error": "modelbus._wire.http_errors",
    "request_id_from": "modelbus._wire.http_errors",
    "retry_after_seconds": "modelbus._retry.retry_after",
    "should_retry_header": "modelbus._retry.retry_after",
    "Clock": "modelbus._retry.runner",
    "BudgetStore": "modelbus.protocols",
    "PoolState": "modelbus.protocols",
    "DeploymentState": "modelbus._pools.state",
    "Charge": "modelbus._limits.budget_ledger",
    "Refusal": "modelbus._limits.budget_ledger",
    "SSEDecoder": "modelbus._wire.sse",
    "ServerSentEvent": "modelbus._wire.sse",
    "aiter_sse": "modelbus._wire.sse",
    "iter_sse": "modelbus._wire.sse",
    "StreamAccumulator": "modelbus._wire.stream_accumulator",
    "replay_chunks": "modelbus._wire.stream_accumulator",
    "embedding_body": "modelbus._wire.converter",
    "message_from_openai": "modelbus._wire.converter",
    "message_to_openai": "modelbus._wire.converter",
    "parse_chat_chunk": "modelbus._wire.converter",
    "parse_chat_response": "modelbus._wire.converter",
    "parse_embedding_response": "modelbus._wire.converter",
    "request_body": "modelbus._wire.converter",
    "check_entry": "modelbus.builtins.caches",
    "Secret": "modelbus._config.secrets",
    "env_secret": "modelbus._config.secrets",
    "identity_with_credential": "modelbus._config.secrets",
    "register_secret": "modelbus._config.secrets",
    "redact_exception": "modelbus._logging",
    "RateLimit": "modelbus._config.config",
    "get_logger": "modelbus._logging",
    "adapt_provider": "modelbus._engine.provider_adapter",
    "AttemptLimits": "modelbus._engine.timeouts",
    "attempt_limits": "modelbus._engine.timeouts",
    "lazy_exports": "modelbus._lazy",
    "close_with_loop": "modelbus._plugins.loop_close",
    "ApproximateCounter": "modelbus._tokens.counters",
    "class_doc": "modelbus._schemas.json_schema",
    "RecordField": "modelbus._schemas.records",
    "is_record": "modelbus._schemas.records",
    "record_fields": "modelbus._schemas.records",
    "json_schema": "modelbus._schemas.json_schema",
    "type_name": "modelbus._schemas.json_schema",
    "StructureError": "modelbus._schemas.values",
    "describe_error": "modelbus._schemas.values",
    "structure": "modelbus._schemas.values",
    "unstructure": "modelbus._schemas.values",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)

if TYPE_CHECKING:
    from ._config.config import RateLimit as RateLimit
    from ._config.secrets import Secret as Secret
    from ._config.secrets import env_secret as env_secret
    from ._config.secrets import identity_with_credential as identity_with_credential
    from ._config.secrets import register_secret as register_secret
    from ._engine.provider_adapter import adapt_provider as adapt_provider
    from ._engine.timeouts import AttemptLimits as AttemptLimits
    from ._engine.timeouts import attempt_limits as attempt_limits
    from ._lazy import lazy_exports as lazy_exports
    from ._limits.budget_ledger import Charge as Charge
    from ._limits.budget_ledger import Refusal as Refusal
    from ._logging import get_logger as get_logger
    from ._logging import redact_exception as redact_exception
    from ._plugins.loop_close import close_with_loop as close_with_loop
    from ._pools.state import DeploymentState as DeploymentState
    from ._retry.retry_after import retry_after_seconds as retry_after_seconds
    from ._retry.retry_after import should_retry_header as should_retry_header
    from ._retry.runner import Clock as Clock
    from ._schemas.json_schema import class_doc as class_doc
    from ._schemas.json_schema import json_schema as json_schema
    from ._schemas.json_schema import type_name as type_name
    from ._schemas.records import RecordField as RecordField
    from ._schemas.records import is_record as is_record
    from ._schemas.records import record_fields as record_fields
    from ._schemas.values import StructureError as StructureError
    from ._schemas.values import describe_error as describe_error
    from ._schemas.values import structure as structure
    from ._schemas.values import unstructure as unstructure
    from ._tokens.counters import ApproximateCounter as ApproximateCounter
    from ._wire.converter import embedding_body as embedding_body
    from ._wire.converter import message_from_openai as message_from_openai
    from ._wire.converter import message_to_openai as message_to_openai
    from ._wire.converter import parse_chat_chunk as parse_chat_chunk
    from ._wire.converter import parse_chat_response as parse_chat_response
    from ._wire.converter import parse_embedding_response as parse_embedding_response
    from ._wire.converter import request_body as request_body
    from ._wire.http_errors import REQUEST_ID_HEADERS as REQUEST_ID_HEADERS
    from ._wire.http_errors import HttpErrorInfo as HttpErrorInfo
    from ._wire.http_errors import decode_body as decode_body
    from ._wire.http_errors import error_for_type as error_for_type
    from ._wire.http_errors import error_from_http as error_from_http
    from ._wire.http_errors import read_http_error as read_http_error
    from ._wire.http_errors import request_id_from as request_id_from
    from ._wire.params import REQUEST_PARAMS as REQUEST_PARAMS
    from ._wire.sse import ServerSentEvent as ServerSentEvent
    from ._wire.sse import SSEDecoder as SSEDecoder
    from ._wire.sse import aiter_sse as aiter_sse
    from ._wire.sse import iter_sse as iter_sse
    from ._wire.stream_accumulator import StreamAccumulator as StreamAccumulator
    from ._wire.stream_accumulator import replay_chunks as replay_chunks
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
    from .builtins.caches import check_entry as check_entry
    from .errors import APIConnectionError as APIConnectionError
    from .errors import APITimeoutError as APITimeoutError
    from .errors import AuthenticationError as AuthenticationError
    from .errors import BadRequestError as BadRequestError
    from .errors import ConfigError as ConfigError
    from .errors import ContentFilterError as ContentFilterError
    from .errors import ContextLengthExceededError as ContextLengthExceededError
    from .errors import ModelbusError as ModelbusError
    from .errors import NotFoundError as NotFoundError
    from .errors import PermissionDeniedError as PermissionDeniedError
    from .errors import PluginError as PluginError
    from .errors import ProviderError as ProviderError
    from .errors import RateLimitError as RateLimitError
    from .errors import RefusalError as RefusalError
    from .errors import ResponseFormatError as ResponseFormatError
    from .errors import ServerError as ServerError
    from .errors import error_for_status as error_for_status
    from .hookspecs import hookimpl as hookimpl
    from .protocols import AsyncProvider as AsyncProvider
    from .protocols import BudgetStore as BudgetStore
    from .protocols import Cache as Cache
    from .protocols import CacheStats as CacheStats
    from .protocols import Capabilities as Capabilities
    from .protocols import LockingCache as LockingCache
    from .protocols import PoolState as PoolState
    from .protocols import RateLimiter as RateLimiter
    from .protocols import ResponseFormatHandler as ResponseFormatHandler
    from .protocols import RetryPolicy as RetryPolicy
    from .protocols import SyncProvider as SyncProvider
    from .protocols import TokenCounter as TokenCounter
