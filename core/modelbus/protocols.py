"""The small typed protocols that registered objects implement.

Hooks are only for discovery: a plugin's hook registers a *factory*; the client calls it
once with the structured settings object and keeps what it returns. The per-call path
calls these objects directly and never goes through pluggy.

A provider may implement only the sync side (``chat``/``stream``/``embed``) or only the
async side (``achat``/``astream``/``aembed``); :func:`modelbus.adapt_provider` fills in
the other side (a worker thread for sync-only, a private event-loop thread for
async-only). Built-in providers implement both natively.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from ._config.config import RateLimit
    from ._limits.budget_ledger import Charge, Refusal
    from ._pools.state import DeploymentState
    from ._retry.runner import Clock
    from ._wire.types import (
        ChatChunk,
        ChatRequest,
        ChatResponse,
        Message,
        ToolSpec,
    )
    from .events import CallEvent

__all__ = [
    "AsyncProvider",
    "BudgetStore",
    "Cache",
    "CacheStats",
    "Capabilities",
    "LockingCache",
    "Observer",
    "PoolState",
    "RateLimiter",
    "ResponseFormatHandler",
    "RetryPolicy",
    "SyncProvider",
    "TokenCounter",
]


def _param_set(value: Iterable[str] | None) -> frozenset[str] | None:
    """``Capabilities.params`` as a frozenset, checked against the request's fields."""
    if value is None:
        return None
    from ._wire.params import REQUEST_PARAMS  # lazily: protocols stays import-light

    names = frozenset(value)
    unknown = sorted(names - REQUEST_PARAMS)
    if unknown:
        raise ValueError(
            f"Capabilities.params: {unknown} are not ChatRequest fields; "
            f"accepted: {sorted(REQUEST_PARAMS)}"
        )
    return names


@attrs.frozen
class Capabilities:
    """What a provider supports, used to choose modes (structured output, tool calling)
    and to fit requests to the provider before sending.

    ``json_schema``: native Structured Outputs (``response_format`` ``json_schema``);
    ``json_object``: ``response_format`` ``json_object``; ``grammar``: llama.cpp-style
    ``grammar``/``json_schema`` body parameters; ``tools``: native ``tools``.

    ``params``: the :class:`~modelbus.ChatRequest` fields the provider honours (names
    from ``modelbus.plugin.REQUEST_PARAMS``; any iterable of them, kept as a frozenset);
    ``None`` (the default) claims every field. A field set on a request and missing
    here never reaches the provider: the client drops it with a ``params_adapted`` note,
    or refuses it by name with :class:`~modelbus.errors.BadRequestError`
    (``code="unsupported_parameter"``) under ``[modelbus] unsupported_params =
    "error"`` and, in any policy, for what the reply must obey (``tools``,
    ``response_format``, ``stop``, ``web_search_options``...; see
    :func:`modelbus._engine.param_support.fit_to_provider`). ``extra_body`` is always passed
    on. Raises ``ValueError`` for a name that is not a request field.
    """

    chat: bool = True
    stream: bool = True
    embeddings: bool = False
    tools: bool = True
    json_schema: bool = True
    json_object: bool = True
    grammar: bool = False
    vision: bool = False
    params: frozenset[str] | None = attrs.field(default=None, converter=_param_set)


@runtime_checkable
class SyncProvider(Protocol):
    """A provider's sync side. ``name`` is the registered name; ``cache_identity`` names the
    endpoint (base URL; for Azure endpoint + deployment + api-version) for the cache key
    and must not contain a secret. Errors raised are :class:`modelbus.errors.ProviderError`
    subclasses.

    Time limits: while the core runs an attempt, :func:`modelbus.attempt_limits` gives
    its :class:`modelbus.AttemptLimits`. A provider passes ``limits.timeout(own)``
    (seconds left, ``own`` being its configured timeout) to its transport, and for a
    stream ``limits.read_timeout(own, stream=True)`` as the wait of each read (at most
    ``stream_idle_timeout_s``), raising :class:`modelbus.errors.APITimeoutError` when
    one runs out. Read it when the request is sent (a stream's first ``next()``). The
    async pipeline also cancels an attempt or a silent stream itself; a sync call
    cannot be interrupted from outside, so only the provider can keep these bounds.

    Optional, not part of the protocol: a class attribute ``fresh_responses = True``
    promises that every ``chat``/``achat`` answer is a :class:`ChatResponse` built for
    that call that the provider keeps no reference to (parsed anew from the body, say).
    The core then writes ``provider``, ``model``, ``attempts``, ``cost_usd`` and
    ``latency_s`` on it in place instead of copying it (one response fewer per call).
    Without it (a provider that may hand out a response it keeps) the answer is copied."""

    name: str

    def chat(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request`` (``model`` already resolved to the provider's name) with the
        first choice. Raises :class:`modelbus.errors.ProviderError` subclasses carrying
        ``status_code``, ``request_id`` and ``retry_after_s`` (seconds) when known."""
        ...

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """Yield the reply as :class:`ChatChunk` deltas; ``usage`` on the last chunk (or on
        every chunk, the last one counting). Errors before the first content (chunks with
        only a role or nothing are held back) are retried by the core; errors after it
        are raised to the caller as they are. Raise :class:`~modelbus.errors.ProviderError`
        subclasses (:func:`modelbus.plugin.error_from_http`), never the HTTP library's
        own errors: the core retries only ProviderErrors."""
        ...


@runtime_checkable
class AsyncProvider(Protocol):
    """A provider's async side (see :class:`SyncProvider`)."""

    name: str

    async def achat(self, request: ChatRequest) -> ChatResponse:
        """The async twin of :meth:`SyncProvider.chat` (same result and errors)."""
        ...

    def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """An async iterator of :class:`ChatChunk` (see :meth:`SyncProvider.stream`)."""
        ...


@attrs.define
class CacheStats:
    """Counters of a cache since it was created — for a store shared by processes (a
    file, a server), since the store was created, summed over the processes; ``clear()``
    keeps them. ``hits``/``misses`` count ``get`` calls, ``sets`` stored values,
    ``evictions`` entries removed to respect a size limit (not expirations), ``errors``
    failed backend operations. ``entries`` and ``bytes`` (value bytes) are the live
    entries when the cache knows them. ``CacheContract`` checks these rules."""

    hits: int = 0
    misses: int = 0
    sets: int = 0
    evictions: int = 0
    errors: int = 0
    bytes: int = 0
    entries: int = 0


@runtime_checkable
class Cache(Protocol):
    """A response cache. Values are ``bytes`` of JSON made by the core converter (never
    pickle); ``ttl_s`` is seconds (``None``: the cache's default; ``0`` or less: do not
    store). ``delete`` returns whether the key existed; ``invalidate_tags`` and ``clear``
    return how many keys they removed. The async methods (``aget``, ``aset``, ``adelete``,
    ``ainvalidate_tags``, ``aclear``) are optional: :func:`modelbus.adapt_cache` supplies
    them for a cache that has only the sync side."""

    def get(self, key: str) -> bytes | None:
        """The stored bytes of ``key`` (a 64-hex-char cache key), or ``None`` when absent or
        expired. Counts a hit or a miss."""
        ...

    def set(
        self, key: str, value: bytes, ttl_s: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds (``None``: the cache's
        default; ``<= 0``: remove instead), replacing any value and its tags."""
        ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; whether a live entry was removed."""
        ...

    def invalidate_tags(self, tags: Sequence[str]) -> int:
        """Remove every entry carrying any of ``tags``; how many live entries went."""
        ...

    def clear(self) -> int:
        """Remove every entry (of this cache's namespace, for shared stores); how many."""
        ...

    def stats(self) -> CacheStats:
        """The counters (see :class:`CacheStats`)."""
        ...


@runtime_checkable
class LockingCache(Protocol):
    """Optional methods of a cache shared between processes: cross-process single-flight.

    On a cache miss (mode ``"use"``, not ``"refresh"``), after the in-process
    single-flight, the pipeline (``modelbus._engine.cache_lock``) enters ``lock(key)`` when the
    cache has it:

    - ``lock(key, ttl_s=None)`` returns a context manager yielding ``True`` when this
      caller should call the provider (it holds the lock, which expires after ``ttl_s``
      seconds, default the cache's own setting, in case the holder dies; or the cache
      cannot coordinate right now), ``False`` when another caller holds it or the value
      was stored since the miss. The pipeline calls the provider and stores the response
      *inside* the ``with`` block, so the value is there when the lock is released.
    - ``wait_for(key, timeout_s=None)`` waits at most ``timeout_s`` seconds (default the
      cache's own setting) for the value of ``key`` and returns its bytes, or ``None``
      (timed out, or the holder released the lock without storing); on ``None`` the
      caller calls the provider itself.
    - ``alock``/``await_for``: the async twins (``alock`` returns an async context
      manager). The async pipeline uses only these: a cache with only ``lock`` is not
      locked there.

    Neither may raise for a backend failure (yield ``True`` / return ``None``); the
    pipeline logs and proceeds unlocked if one does. modelbus-redis-cache implements it
    with ``SET NX PX`` and pub/sub.
    """

    def lock(self, key: str, ttl_s: float | None = None) -> AbstractContextManager[bool]: ...

    def wait_for(self, key: str, timeout_s: float | None = None) -> bytes | None: ...

    def alock(self, key: str, ttl_s: float | None = None) -> AbstractAsyncContextManager[bool]: ...

    async def await_for(self, key: str, timeout_s: float | None = None) -> bytes | None: ...


@runtime_checkable
class RetryPolicy(Protocol):
    """A pure retry decision.

    ``next_delay(attempt, error, elapsed_s, previous_delay_s)`` gets the 1-based number of
    the attempt that just failed, its error, the seconds since the first attempt started
    and the previous delay (``None`` after the first attempt); it returns the delay in
    seconds before the next attempt, or ``None`` to stop. It must not sleep or read a
    clock: the caller injects both.

    An optional ``max_retry_after_s`` attribute (seconds, default 120) tells the runner
    above which server ``Retry-After`` to fail at once with ``RateLimitError``; an
    optional ``deadline_s`` attribute (seconds, ``None``: none) bounds the whole call:
    the runner cuts the attempt in flight to what is left of it (``modelbus._engine.timeouts``).
    ``modelbus.testing.RetryPolicyContract`` checks a policy against these rules.
    """

    def next_delay(
        self,
        attempt: int,
        error: BaseException,
        elapsed_s: float,
        previous_delay_s: float | None = None,
    ) -> float | None: ...


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens for the models it ``serves``. ``exact`` is True only where the count is
    known to equal what the API bills as ``usage.prompt_tokens``."""

    exact: bool

    def serves(self, model: str) -> bool:
        """Whether this counter knows ``model``'s tokenizer (the core asks before using it)."""
        ...

    def count_text(self, text: str, model: str) -> int:
        """Tokens of ``text`` alone (no message overhead) on ``model``."""
        ...

    def count_messages(
        self, messages: Sequence[Message], model: str, tools: Sequence[ToolSpec] | None = None
    ) -> int:
        """Prompt tokens of ``messages`` and ``tools`` on ``model``, overheads included (for
        OpenAI models: the cookbook "How to count tokens with tiktoken" rules)."""
        ...


@runtime_checkable
class RateLimiter(Protocol):
    """Client-side request/token budget. ``acquire`` blocks (``aacquire`` awaits) until
    one request and ``tokens`` (estimated prompt tokens + max_tokens) fit the budget of
    ``key`` (``"provider"`` or ``"provider/model"``), then counts them; both return the
    seconds waited.

    ``limit`` is the configured :class:`modelbus.RateLimit` of ``key`` (``rpm``/``tpm``;
    the core owns the config, the limiter owns the state, which may be shared between
    processes). ``clock`` is the client's :class:`modelbus.Clock`: wait with
    ``clock.sleep``/``clock.asleep`` and measure with ``clock.monotonic`` (never
    ``time.sleep``), so tests run on a fake clock.
    """

    def acquire(self, key: str, tokens: int, limit: RateLimit, clock: Clock) -> float: ...

    async def aacquire(self, key: str, tokens: int, limit: RateLimit, clock: Clock) -> float: ...


@runtime_checkable
class BudgetStore(Protocol):
    """Where cost budgets are kept (``[modelbus] budget_store``): spent and reserved
    amounts per key, in integer nano-dollars (1e-9 USD), see ``modelbus._limits.budget_ledger``.

    ``reserve`` adds ``amount`` to the reserved sum of every charge if each one has room
    (``spent + reserved + amount <= charge.limit``), else changes nothing and returns the
    :class:`modelbus._limits.budget_ledger.Refusal` of the first charge without room: atomically, as
    seen by every client sharing the store. ``settle`` releases ``reserved`` from every
    charge (never below zero) and adds ``cost`` to what it spent (``cost = 0``: a
    refund). A store that cannot answer raises; the client then refuses the call with
    :class:`~modelbus.errors.BudgetExceededError` (it never sends unchecked). A
    ``charge.expires_at`` (epoch seconds) says when a key may be dropped.
    ``areserve``/``asettle`` are the async twins and must not block the event loop.
    """

    def reserve(self, charges: Sequence[Charge], amount: int) -> Refusal | None: ...

    async def areserve(self, charges: Sequence[Charge], amount: int) -> Refusal | None: ...

    def settle(self, charges: Sequence[Charge], reserved: int, cost: int) -> None: ...

    async def asettle(self, charges: Sequence[Charge], reserved: int, cost: int) -> None: ...


@runtime_checkable
class PoolState(Protocol):
    """Where deployment pools keep what their router reads (``[modelbus] pool_state``):
    per ``pool`` (a name unique to the pool and the client's namespace) and
    ``deployment`` (``"instance/model"``), the seconds left of its cooldown, its calls
    in flight, the requests and tokens it served in the current minute, and the moving
    average of its latency.

    - ``read`` returns a :class:`modelbus._pools.state.DeploymentState` per deployment,
      in order;
    - ``cool`` starts a cooldown of ``seconds``, never shortening a longer one already
      running (atomically, as every sharer sees it);
    - ``begin`` counts a call sent (in flight +1, requests +1); ``end`` its answer or
      failure (in flight -1, ``tokens`` added; ``latency_s``, the seconds to the answer
      or a stream's first chunk when it succeeded, folded into the latency average with
      :func:`modelbus._pools.state.ewma`). A shared store must stop counting the calls
      in flight of a process that died (the ``redis`` store: per-process leases).

    ``now`` is the client's ``clock.monotonic()`` in seconds: a store local to the
    process measures time with it (so tests run on a fake clock); a shared store keeps
    its own time (the server's), since monotonic clocks differ between processes.
    A store that cannot answer raises: ``read`` and ``begin`` fail the attempt
    (visibly, nothing sent); ``cool`` and ``end`` failures are logged
    (``pool_state_failed``). ``aread``/``acool``/``abegin``/``aend`` are the async twins
    and must not block the event loop.
    """

    def read(self, pool: str, deployments: Sequence[str], now: float) -> list[DeploymentState]: ...

    def cool(self, pool: str, deployment: str, seconds: float, now: float) -> None: ...

    def begin(self, pool: str, deployment: str, now: float) -> None: ...

    def end(
        self,
        pool: str,
        deployment: str,
        tokens: int,
        now: float,
        latency_s: float | None = None,
    ) -> None: ...

    async def aread(
        self, pool: str, deployments: Sequence[str], now: float
    ) -> list[DeploymentState]: ...

    async def acool(self, pool: str, deployment: str, seconds: float, now: float) -> None: ...

    async def abegin(self, pool: str, deployment: str, now: float) -> None: ...

    async def aend(
        self,
        pool: str,
        deployment: str,
        tokens: int,
        now: float,
        latency_s: float | None = None,
    ) -> None: ...


@runtime_checkable
class ResponseFormatHandler(Protocol):
    """Turns a non-dict ``response_format`` (an attrs class, ``list[X]``...) into requests
    and parses the reply (modelbus-structured-output registers one).

    The client asks each registered handler's ``matches(response_format)`` and uses the
    first that says yes (none: ``TypeError``). ``run``/``arun`` get the request built
    without ``response_format``, the format, a ``call`` that sends a request through the
    rest of the pipeline (cache, retry, provider, usage totals) and the provider's
    :class:`Capabilities`; they return the final response with ``parsed`` set.
    ``stream``/``astream`` (used by ``client.stream``/``astream``) get an ``open_stream``
    that returns a :class:`modelbus.ChatStream` / ``AsyncChatStream`` for a request, and
    return what the caller iterates."""

    def matches(self, response_format: Any) -> bool: ...

    def run(
        self,
        request: ChatRequest,
        response_format: Any,
        call: Callable[[ChatRequest], ChatResponse],
        capabilities: Capabilities,
    ) -> ChatResponse: ...

    async def arun(
        self,
        request: ChatRequest,
        response_format: Any,
        call: Callable[[ChatRequest], Awaitable[ChatResponse]],
        capabilities: Capabilities,
    ) -> ChatResponse: ...

    def stream(
        self,
        request: ChatRequest,
        response_format: Any,
        open_stream: Callable[[ChatRequest], Any],
        capabilities: Capabilities,
    ) -> Any: ...

    def astream(
        self,
        request: ChatRequest,
        response_format: Any,
        open_stream: Callable[[ChatRequest], Any],
        capabilities: Capabilities,
    ) -> Any: ...


@runtime_checkable
class Observer(Protocol):
    """Receives every call event (:mod:`modelbus.events`) of the clients configured with
    it (``[modelbus] observers``).

    ``on_event`` is called on the caller's thread or task, in the order the call makes
    them, so it must return quickly (hand slow work to a queue or thread). What it
    raises is reported once and ignored: the call goes on unchanged."""

    def on_event(self, event: CallEvent) -> None: ...
