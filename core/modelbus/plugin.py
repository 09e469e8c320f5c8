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
- **Plumbing**: ``get_logger`` (structlog-style, silent until the application
  configures logging), ``lazy_exports`` (PEP 562 lazy names for a plugin package).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports as _lazy_exports

_LAZY: dict[str, str] = {
    "ChatChunk": "modelbus._types",
    "ChatRequest": "modelbus._types",
    "ChatResponse": "modelbus._types",
    "EmbeddingRequest": "modelbus._types",
    "EmbeddingResponse": "modelbus._types",
    "FunctionCall": "modelbus._types",
    "FunctionSpec": "modelbus._types",
    "ImagePart": "modelbus._types",
    "ImageURL": "modelbus._types",
    "Message": "modelbus._types",
    "TextPart": "modelbus._types",
    "ToolCall": "modelbus._types",
    "ToolCallDelta": "modelbus._types",
    "ToolSpec": "modelbus._types",
    "Usage": "modelbus._types",
    "AsyncProvider": "modelbus.protocols",
    "Cache": "modelbus.protocols",
    "CacheStats": "modelbus.protocols",
    "Capabilities": "modelbus.protocols",
    "REQUEST_PARAMS": "modelbus._params",
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
    "REQUEST_ID_HEADERS": "modelbus._http_errors",
    "HttpErrorInfo": "modelbus._http_errors",
    "decode_body": "modelbus._http_errors",
    "error_for_type": "modelbus._http_errors",
    "error_from_http": "modelbus._http_errors",
    "read_http_error": "modelbus._http_errors",
    "request_id_from": "modelbus._http_errors",
    "retry_after_seconds": "modelbus._retry_after",
    "should_retry_header": "modelbus._retry_after",
    "Clock": "modelbus._retry",
    "BudgetStore": "modelbus.protocols",
    "PoolState": "modelbus.protocols",
    "DeploymentState": "modelbus._pool_state",
    "Charge": "modelbus._budget",
    "Refusal": "modelbus._budget",
    "SSEDecoder": "modelbus._sse",
    "ServerSentEvent": "modelbus._sse",
    "aiter_sse": "modelbus._sse",
    "iter_sse": "modelbus._sse",
    "StreamAccumulator": "modelbus._stream",
    "replay_chunks": "modelbus._stream",
    "embedding_body": "modelbus._converter",
    "message_from_openai": "modelbus._converter",
    "message_to_openai": "modelbus._converter",
    "parse_chat_chunk": "modelbus._converter",
    "parse_chat_response": "modelbus._converter",
    "parse_embedding_response": "modelbus._converter",
    "request_body": "modelbus._converter",
    "check_entry": "modelbus.builtins.caches",
    "Secret": "modelbus._secrets",
    "env_secret": "modelbus._secrets",
    "identity_with_credential": "modelbus._secrets",
    "register_secret": "modelbus._secrets",
    "redact_exception": "modelbus._logging",
    "RateLimit": "modelbus._config",
    "get_logger": "modelbus._logging",
    "adapt_provider": "modelbus._adapt",
    "lazy_exports": "modelbus._lazy",
    "ApproximateCounter": "modelbus._tokens",
    "class_doc": "modelbus._schema",
    "RecordField": "modelbus._records",
    "is_record": "modelbus._records",
    "record_fields": "modelbus._records",
    "json_schema": "modelbus._schema",
    "type_name": "modelbus._schema",
    "StructureError": "modelbus._schema_convert",
    "describe_error": "modelbus._schema_convert",
    "structure": "modelbus._schema_convert",
    "unstructure": "modelbus._schema_convert",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)

if TYPE_CHECKING:
    from ._adapt import adapt_provider as adapt_provider
    from ._budget import Charge as Charge
    from ._budget import Refusal as Refusal
    from ._config import RateLimit as RateLimit
    from ._converter import embedding_body as embedding_body
    from ._converter import message_from_openai as message_from_openai
    from ._converter import message_to_openai as message_to_openai
    from ._converter import parse_chat_chunk as parse_chat_chunk
    from ._converter import parse_chat_response as parse_chat_response
    from ._converter import parse_embedding_response as parse_embedding_response
    from ._converter import request_body as request_body
    from ._http_errors import REQUEST_ID_HEADERS as REQUEST_ID_HEADERS
    from ._http_errors import HttpErrorInfo as HttpErrorInfo
    from ._http_errors import decode_body as decode_body
    from ._http_errors import error_for_type as error_for_type
    from ._http_errors import error_from_http as error_from_http
    from ._http_errors import read_http_error as read_http_error
    from ._http_errors import request_id_from as request_id_from
    from ._lazy import lazy_exports as lazy_exports
    from ._logging import get_logger as get_logger
    from ._logging import redact_exception as redact_exception
    from ._params import REQUEST_PARAMS as REQUEST_PARAMS
    from ._pool_state import DeploymentState as DeploymentState
    from ._records import RecordField as RecordField
    from ._records import is_record as is_record
    from ._records import record_fields as record_fields
    from ._retry import Clock as Clock
    from ._retry_after import retry_after_seconds as retry_after_seconds
    from ._retry_after import should_retry_header as should_retry_header
    from ._schema import class_doc as class_doc
    from ._schema import json_schema as json_schema
    from ._schema import type_name as type_name
    from ._schema_convert import StructureError as StructureError
    from ._schema_convert import describe_error as describe_error
    from ._schema_convert import structure as structure
    from ._schema_convert import unstructure as unstructure
    from ._secrets import Secret as Secret
    from ._secrets import env_secret as env_secret
    from ._secrets import identity_with_credential as identity_with_credential
    from ._secrets import register_secret as register_secret
    from ._sse import ServerSentEvent as ServerSentEvent
    from ._sse import SSEDecoder as SSEDecoder
    from ._sse import aiter_sse as aiter_sse
    from ._sse import iter_sse as iter_sse
    from ._stream import StreamAccumulator as StreamAccumulator
    from ._stream import replay_chunks as replay_chunks
    from ._tokens import ApproximateCounter as ApproximateCounter
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
