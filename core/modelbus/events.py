"""Call events: what an observer plugin sees of each call (``modelbus_register_observers``).

Every call the client makes (``chat``, ``achat``, ``stream``, ``astream``, ``embed``,
``aembed``, and the tool loop around chat calls) emits, in order:

1. :class:`CallStarted` once;
2. while it runs: :class:`CacheHit` or :class:`CacheMissed` (when a cache is consulted),
   :class:`RetryScheduled` per failed attempt that will be retried,
   :class:`FallbackTaken` when another model takes over, :class:`FirstChunk` for a
   stream, :class:`CacheStored` when the answer was written to the cache, and for the
   tool loop :class:`ToolStarted` / :class:`ToolFinished` around each tool execution;
3. :class:`CallFinished` or :class:`CallFailed` once.

All events of one call carry its ``call_id`` (an int unique in the process). A call
made inside another (each round of the tool loop) names the outer one in
``CallStarted.parent_id``. The sync and async twins emit the same events.

Events are frozen attrs classes, delivered synchronously on the caller's thread or task,
in the order above: an observer must return quickly (queue slow work). An observer that
raises is reported once, as a ``modelbus.observer_failed`` warning naming it and the
event, and the call goes on unchanged.

Events hold no secret: requests and responses hold what the caller sent and the model
answered, never credentials (those live in the provider's settings), and errors are
given as :class:`ErrorInfo`, whose message has secrets masked
(:func:`modelbus._logging.redact`: API-key-shaped strings and every
:class:`modelbus.Secret` value).
"""

from __future__ import annotations

from typing import Literal

import attrs
from attrs import frozen

from ._wire.types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Usage

__all__ = [
    "CacheHit",
    "CacheMissed",
    "CacheStored",
    "CallEvent",
    "CallFailed",
    "CallFinished",
    "CallStarted",
    "ErrorInfo",
    "FallbackTaken",
    "FirstChunk",
    "RetryScheduled",
    "ToolFinished",
    "ToolStarted",
]

Operation = Literal["chat", "embeddings", "tool_loop"]


@frozen
class ErrorInfo:
    """An error as observers see it: ``type`` (the exception's class name, e.g.
    ``"RateLimitError"``), ``message`` with secrets masked, and when the error came from a
    provider its HTTP ``status_code``, ``request_id`` and error ``code``."""

    type: str
    message: str
    status_code: int | None = None
    request_id: str | None = None
    code: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        """The redacted view of ``exc``."""
        from ._logging import redact

        return cls(
            type=type(exc).__name__,
            message=redact(str(exc)),
            status_code=getattr(exc, "status_code", None),
            request_id=getattr(exc, "request_id", None),
            code=getattr(exc, "code", None),
        )


@frozen
class CallEvent:
    """The base of every event: ``call_id`` names the call it belongs to."""

    call_id: int


@frozen
class CallStarted(CallEvent):
    """A call began. ``operation``: ``"chat"`` (chat and streams), ``"embeddings"`` or
    ``"tool_loop"`` (the loop around chat rounds: each round is a ``"chat"`` call whose
    ``parent_id`` is the loop's ``call_id``). ``provider`` / ``model``: the route's
    (aliases resolved); ``request``: the :class:`ChatRequest` or :class:`EmbeddingRequest`
    as built from the call (``None`` for a tool loop); ``stream``: whether chunks are
    streamed; ``endpoint``: the provider's ``cache_identity`` (its base URL, never a
    secret), ``None`` when unknown."""

    parent_id: int | None
    operation: Operation
    provider: str
    model: str
    request: ChatRequest | EmbeddingRequest | None
    stream: bool = False
    endpoint: str | None = None


@frozen
class RetryScheduled(CallEvent):
    """Attempt number ``attempt`` (1-based) failed with ``error`` and the next one starts
    after ``delay_s`` seconds."""

    attempt: int
    error: ErrorInfo
    delay_s: float


@frozen
class CacheHit(CallEvent):
    """The answer came from the cache entry ``key`` (a hex digest); no provider call."""

    key: str


@frozen
class CacheMissed(CallEvent):
    """The cache had no usable entry for ``key``; the provider will be called (or, with
    ``cache="only"``, :class:`modelbus.errors.CacheMiss` is raised)."""

    key: str


@frozen
class CacheStored(CallEvent):
    """The answer was written to the cache under ``key`` for ``ttl_s`` seconds (``None``:
    no expiry)."""

    key: str
    ttl_s: float | None


@frozen
class FallbackTaken(CallEvent):
    """``from_provider/from_model`` failed with ``error`` and the call goes on with
    ``to_provider/to_model``; ``reason`` is ``"unavailable"`` (``fallbacks``) or
    ``"context_window"`` (``context_window_fallback``)."""

    from_provider: str
    from_model: str
    to_provider: str
    to_model: str
    reason: str
    error: ErrorInfo


@frozen
class FirstChunk(CallEvent):
    """A stream's first chunk reached the caller ``time_to_first_chunk_s`` seconds after
    the call started (replayed cache hits included)."""

    time_to_first_chunk_s: float


@frozen
class ToolStarted(CallEvent):
    """The tool loop ``call_id`` runs tool ``name`` for the model's call ``tool_call_id``
    with ``arguments`` (the model's JSON text; message content)."""

    tool_call_id: str
    name: str
    arguments: str


@frozen
class ToolFinished(CallEvent):
    """Tool ``name`` returned ``result`` (the ``role: "tool"`` message's text sent back to
    the model) after ``duration_s`` seconds; ``failed``: the tool raised or its arguments
    did not parse (the text then says why, as the model sees it)."""

    tool_call_id: str
    name: str
    result: str
    duration_s: float
    failed: bool = False


@frozen
class CallFinished(CallEvent):
    """The call returned ``response``. ``usage`` (tokens), ``cost_usd`` (US dollars,
    ``None`` when the price is unknown), ``latency_s`` (seconds), ``attempts`` (provider
    attempts, 0 for a cache hit) and ``cached`` repeat the response's fields; for a tool
    loop they are summed over its rounds. ``operation`` repeats CallStarted's.

    ``cache`` says where the answer came from: ``"hit"`` (the cache), ``"miss"`` (a
    provider call, after a cache lookup), ``"bypass"`` (a provider call, no cache
    consulted), ``"shared"`` (an identical call already in flight answered it:
    single-flight, whose usage that call reports) or ``""`` for a tool loop."""

    response: ChatResponse | EmbeddingResponse
    usage: Usage = attrs.field(factory=Usage)
    cost_usd: float | None = None
    latency_s: float = 0.0
    attempts: int = 0
    cached: bool = False
    operation: Operation = "chat"
    cache: str = "bypass"

    @property
    def billed(self) -> bool:
        """Whether ``usage`` and ``cost_usd`` were spent by this call's own provider call:
        not a cache hit, not a shared answer, not a tool loop (its rounds report their
        own). Summing ``usage`` over billed events counts every token once."""
        return self.cache in ("miss", "bypass")


@frozen
class CallFailed(CallEvent):
    """The call raised ``error`` after ``latency_s`` seconds. A stream left before its end
    fails too: with ``error.type`` ``"GeneratorExit"`` when it is closed (``close()`` /
    ``aclose()``, leaving its ``with`` block, or its iterator collected after a
    ``break``), ``"CancelledError"`` when its task or event loop is cancelled."""

    error: ErrorInfo
    latency_s: float = 0.0
