"""``modelbus.Client``: composition (config and plugins), routing, and the public calls.

Every call is built into one :class:`~modelbus._engine.Call` and handed to the engine
(``modelbus._engine``), which runs it; the four modes (``chat``, ``achat``, ``stream``,
``astream``) take the same arguments and reach the same decisions.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from ._catalog import Catalog
from ._config.config import Config
from ._engine import AsyncChatStream, CacheMode, Call, ChatStream, UsageTotals
from ._engine.compose import EnginePart, compose_engine
from ._engine.dispatch import RUN
from ._engine.embed import aembed, embed, embedding_request
from ._engine.options import call_options
from ._engine.provider_adapter import AdaptedProvider, adapt_provider
from ._plugins.loading import load_plugins
from ._plugins.registry import Registry, start
from ._retry.runner import Clock
from ._routing.instances import with_instances
from ._routing.resolve import Route
from ._routing.table import RouteTable, request_for
from ._schemas.formats import ResponseFormats, needs_handler
from ._tokens.context_window import TruncateOption
from ._wire.types import ChatResponse, EmbeddingResponse, Message
from .protocols import Cache, RateLimiter, RetryPolicy, TokenCounter

if TYPE_CHECKING:
    from ._batch.runner import BatchResult
    from ._prompts.conversation import Conversation

__all__ = ["Client", "UsageTotals"]

Mode = Literal["chat", "achat", "stream", "astream"]
_STREAMS = ("stream", "astream")


class Client:
    """An LLM client composed from config.

    ``config`` is a :class:`modelbus.Config`, a dict of the ``modelbus.toml`` shape, a path
    to such a file, or ``None`` (search ``$MODELBUS_CONFIG``, ``./modelbus.toml``, the
    user config dir). ``overrides`` replace ``[modelbus]`` keys (``provider=``,
    ``model=``, ``cache=``...). ``clock`` injects time and sleep (tests); ``namespace``
    separates cache keys of apps sharing a cache; ``registry`` replaces plugin discovery
    (``modelbus.testing.make_client`` uses it).

    Raises :class:`ConfigError` for a bad config and :class:`PluginError` for an unknown
    plugin name (naming the installed ones). Thread-safe; one client can serve many
    threads and tasks.
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        clock: Clock | None = None,
        namespace: str = "",
        registry: Registry | None = None,
        **overrides: Any,
    ) -> None:
        self.config = cfg = Config.coerce(config, overrides)
        self.clock = clock or Clock()
        core = cfg.modelbus
        from ._logging import setup_default_logging

        setup_default_logging(core.log_format, core.log_level)
        loaded = load_plugins(core.plugins.allow, core.plugins.block)
        self.plugins = loaded
        self.registry = registry if registry is not None else loaded.registry
        self.registry = with_instances(cfg, self.registry, self)  # named instances, pools
        cfg.check_sections(self.registry)
        self._lock = threading.RLock()
        self._providers: dict[str, AdaptedProvider] = {}
        self._routes = RouteTable(cfg, self.registry, lambda: self.catalog, self.provider)
        self._formats = ResponseFormats(lambda: self.registry, cfg)
        self.engine = compose_engine(self, cfg, namespace, self._build)
        """The call engine (``modelbus._engine``): cache, single-flight, retry, budgets,
        rate limits, observers and usage totals of this client."""

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, **overrides: Any) -> Client:
        """A client from the config file at ``path`` (or the one found by search)."""
        return cls(Config.load(path), **overrides)

    # --- the parts: the engine holds them; replaceable, e.g. by tests ------------------
    namespace = EnginePart[str]("What separates this client's cache keys and budgets.")
    cache = EnginePart[Cache | None]('The cache (``None`` with ``cache = "none"``).')
    retry_policy = EnginePart[RetryPolicy]("The retry policy (``[modelbus] retry_policy``).")
    rate_limiter = EnginePart[RateLimiter]("The rate limiter (``[modelbus] rate_limiter``).")
    catalog = EnginePart[Catalog]("Model prices, limits and flags (``modelbus._catalog``).")

    @property
    def usage_totals(self) -> UsageTotals:
        """Tokens and US dollars spent by this client so far."""
        return self.engine.usage_totals

    # --- composition and routing ---------------------------------------------------------
    def _build(self, kind: str, name: str) -> Any:
        return start(self.registry.get(kind, name), self.config)

    @property
    def default_provider(self) -> str:
        """The provider used when a call names none (see ``pick_default_provider``)."""
        return self._routes.default()[0]

    @property
    def default_provider_reason(self) -> str:
        """One line saying which provider is the default and why."""
        return self._routes.default()[1]

    def provider(self, name: str) -> AdaptedProvider:
        """The provider registered as ``name``, built on first use and kept."""
        p = self._providers.get(name)
        if p is None:
            with self._lock:
                p = self._providers.get(name)
                if p is None:
                    p = self._providers[name] = adapt_provider(self._build("providers", name), name)
        return p

    def route(self, model: str | None = None) -> Route:
        """Where a call for ``model`` (or the default) goes (``modelbus._routing.resolve``)."""
        return self._routes.route(model)

    # --- public calls --------------------------------------------------------------------
    def chat(
        self,
        messages: str | Iterable[Any] | Message | None = None,
        *,
        model: str | None = None,
        system: str | None = None,
        cache: CacheMode = "use",
        cache_ttl_s: float | None = None,
        cache_tags: Iterable[str] = (),
        truncate: TruncateOption = None,
        timeout: float | None = None,
        template: str | None = None,
        variables: Mapping[str, Any] | None = None,
        max_tool_rounds: int | None = None,
        **params: Any,
    ) -> ChatResponse:
        """Send a chat request; returns the :class:`ChatResponse`.

        ``messages``: a prompt string, a :class:`Message`, an OpenAI message dict or a list
        of those; ``model``: a model, alias or ``provider/model`` (default from config);
        ``system``: a system prompt to prepend; ``params``: OpenAI parameters
        (``temperature``, ``max_tokens``, ``tools``, ``response_format``, ``seed``...).
        ``cache``: ``use`` (default), ``refresh`` (call and overwrite), ``bypass``,
        ``only`` (raise :class:`CacheMiss` instead of calling). ``truncate``: when the
        prompt would not fit the model's context window, ``"oldest"`` drops the oldest
        non-system messages and ``"middle"`` cuts the middle of the longest one; ``False``
        raises; ``None`` (default) uses ``[modelbus] truncate``. ``timeout``: seconds each
        attempt may take (replaces ``[models.X] timeout_s`` and the provider's
        ``timeout_s``); the retry policy's ``deadline_s`` still bounds the whole call,
        the attempt in flight included (see ``modelbus._engine.timeouts``).

        ``template``/``variables``: start from a prompt template (``modelbus._prompts.templates``);
        ``messages`` then follow its messages. ``tools`` holding functions, ``Tool``
        objects, a ``ToolRegistry`` or plugin tool names runs the tool loop
        (``modelbus._tools.loop``) for at most ``max_tool_rounds`` rounds (default 10);
        OpenAI tool dicts and ``ToolSpec`` objects are only sent. A non-dict
        ``response_format`` (a pydantic model, dataclass, TypedDict, attrs class) goes to
        a response-format handler, and ``.parsed`` holds the value.

        Raises :class:`ProviderError` subclasses (not retryable, or retries disabled),
        :class:`RetryError` (retries exhausted), :class:`APITimeoutError` (an attempt ran
        out of time; retried like any timeout), :class:`ContextLengthExceededError`
        (checked locally before sending), :class:`BudgetExceededError` (``max_cost_usd``),
        :class:`ToolError` (tool round limit), :class:`TemplateError`, ``TypeError`` for
        an unknown parameter.
        """
        return self._dispatch(  # type: ignore[no-any-return]
            "chat", messages, model, system, cache, cache_ttl_s, cache_tags, truncate,
            timeout, template, variables, max_tool_rounds, params,
        )  # fmt: skip

    async def achat(
        self,
        messages: str | Iterable[Any] | Message | None = None,
        *,
        model: str | None = None,
        system: str | None = None,
        cache: CacheMode = "use",
        cache_ttl_s: float | None = None,
        cache_tags: Iterable[str] = (),
        truncate: TruncateOption = None,
        timeout: float | None = None,
        template: str | None = None,
        variables: Mapping[str, Any] | None = None,
        max_tool_rounds: int | None = None,
        **params: Any,
    ) -> ChatResponse:
        """The async twin of :meth:`chat` (a round's tool calls run concurrently)."""
        call = self._dispatch(
            "achat", messages, model, system, cache, cache_ttl_s, cache_tags, truncate,
            timeout, template, variables, max_tool_rounds, params,
        )  # fmt: skip
        # The request is built: the keyword dict need not stay alive (and be walked by
        # every young collection) while the call is in flight.
        del params
        return await call  # type: ignore[no-any-return]

    def stream(
        self,
        messages: str | Iterable[Any] | Message | None = None,
        *,
        model: str | None = None,
        system: str | None = None,
        cache: CacheMode = "use",
        cache_ttl_s: float | None = None,
        cache_tags: Iterable[str] = (),
        truncate: TruncateOption = None,
        timeout: float | None = None,
        template: str | None = None,
        variables: Mapping[str, Any] | None = None,
        max_tool_rounds: int | None = None,
        **params: Any,
    ) -> ChatStream | Any:
        """Stream a chat reply: iterate the returned :class:`ChatStream` for
        :class:`ChatChunk`; its ``.response`` is the aggregated response afterwards.

        Takes the arguments of :meth:`chat` and gives the same guarantees: cache (a hit
        is replayed as chunks), single-flight (identical streams in flight share one
        provider stream, each caller getting every chunk), retries and fallbacks until
        the first content, templates, the tool loop (every round's chunks, then
        ``.response`` as :meth:`chat` returns it) and response formats (the handler's
        stream yields partial values as the reply fills in).

        ``timeout`` (seconds) bounds the wait for the first chunk of each attempt; once
        chunks flow, a silence longer than ``[modelbus] stream_idle_timeout_s`` (60 s)
        raises :class:`APITimeoutError` (see ``modelbus._engine.timeouts``)."""
        return self._dispatch(
            "stream", messages, model, system, cache, cache_ttl_s, cache_tags, truncate,
            timeout, template, variables, max_tool_rounds, params,
        )  # fmt: skip

    def astream(
        self,
        messages: str | Iterable[Any] | Message | None = None,
        *,
        model: str | None = None,
        system: str | None = None,
        cache: CacheMode = "use",
        cache_ttl_s: float | None = None,
        cache_tags: Iterable[str] = (),
        truncate: TruncateOption = None,
        timeout: float | None = None,
        template: str | None = None,
        variables: Mapping[str, Any] | None = None,
        max_tool_rounds: int | None = None,
        **params: Any,
    ) -> AsyncChatStream | Any:
        """The async twin of :meth:`stream` (``async for chunk in client.astream(...)``)."""
        return self._dispatch(
            "astream", messages, model, system, cache, cache_ttl_s, cache_tags, truncate,
            timeout, template, variables, max_tool_rounds, params,
        )  # fmt: skip

    def _dispatch(
        self,
        mode: Mode,
        messages: Any,
        model: str | None,
        system: str | None,
        cache: CacheMode,
        cache_ttl_s: float | None,
        cache_tags: Iterable[str],
        truncate: TruncateOption,
        timeout: float | None,
        template: str | None,
        variables: Mapping[str, Any] | None,
        max_tool_rounds: int | None,
        params: dict[str, Any],
    ) -> Any:
        t0 = time.perf_counter()
        opts = call_options(cache, cache_ttl_s, cache_tags, truncate, timeout)
        if (  # the plain call: the per-call hot path
            template is None
            and messages is not None
            and variables is None
            and max_tool_rounds is None
            and params.get("tools") is None
            and not needs_handler(params)
        ):
            route = self._routes.route(model)
            req = request_for(route, messages, system, params, mode in _STREAMS)
            return RUN[mode](self.engine, Call(route, req, opts, t0))
        from ._engine.dispatch import dispatch

        return dispatch(
            self, self._formats, mode, messages, model, system, opts, template, variables,
            max_tool_rounds, params, t0,
        )  # fmt: skip

    def embed(
        self, input: str | Iterable[str], *, model: str | None = None, **params: Any
    ) -> EmbeddingResponse:
        """Embed one text or many; returns one vector per input, in input order.
        ``params``: ``dimensions`` (output width), ``user``, ``extra_body``."""
        t0 = time.perf_counter()
        return embed(self.engine, *embedding_request(self.route(model), input, params), t0)

    async def aembed(
        self, input: str | Iterable[str], *, model: str | None = None, **params: Any
    ) -> EmbeddingResponse:
        """The async twin of :meth:`embed`."""
        t0 = time.perf_counter()
        req = embedding_request(self.route(model), input, params)
        return await aembed(self.engine, *req, t0)

    def batch(
        self, requests: Iterable[Any], *, concurrency: int = 8, progress: bool = False
    ) -> list[BatchResult]:
        """Run many chat requests on ``concurrency`` threads; returns one
        :class:`modelbus.BatchResult` per request, in input order (``.response`` or
        ``.error``; ``.to_openai()`` is the OpenAI batch output line). A request is a chat
        body dict (``{"messages": [...], "model": ...}``), an OpenAI Batch API line
        (``{"custom_id", "method", "url", "body"}``) or a prompt string. One failed
        request never stops the others. ``progress`` shows a rich bar on stderr.
        Raises ``ValueError`` for a duplicate ``custom_id`` (see ``modelbus._batch.runner``)."""
        from ._batch.runner import batch

        return batch(self, requests, concurrency=concurrency, progress=progress)

    async def abatch(
        self, requests: Iterable[Any], *, concurrency: int = 8, progress: bool = False
    ) -> list[BatchResult]:
        """The async twin of :meth:`batch` (``concurrency`` tasks)."""
        from ._batch.runner import abatch

        return await abatch(self, requests, concurrency=concurrency, progress=progress)

    # --- tokens --------------------------------------------------------------------------
    def token_counter(self, model: str, provider: str | None = None) -> TokenCounter:
        """The counter for ``model``: the provider's own (e.g. a llama.cpp tokenizer), else
        the first registered exact counter serving it, else the first serving it, else the
        approximate fallback (``exact=False``)."""
        return self.engine.token_counter(model, provider)

    def count_tokens(
        self,
        messages: str | Iterable[Any] | Message,
        *,
        model: str | None = None,
        tools: Iterable[Any] | None = None,
    ) -> int:
        """Prompt tokens ``messages`` (and ``tools``) would cost on ``model`` (an int, in
        tokens, as billed in ``usage.prompt_tokens`` when the counter is ``exact``).

        A named ``model`` is counted even when no provider is available (registered
        counters, else the approximation); without one, the default route must resolve
        (:class:`ConfigError` otherwise)."""
        from ._tokens.counters import count_prompt

        return count_prompt(self, messages, model, tools)

    def conversation(
        self, *, system: str | None = None, model: str | None = None, **kwargs: Any
    ) -> Conversation:
        """A :class:`~modelbus._prompts.conversation.Conversation` on this client that keeps its
        history (``messages``, ``tools``, OpenAI parameters in ``kwargs``)."""
        from ._prompts.conversation import Conversation

        return Conversation(self, system=system, model=model, **kwargs)

    # --- lifecycle -----------------------------------------------------------------------
    def _take_providers(self) -> list[AdaptedProvider]:
        with self._lock:
            providers, self._providers = list(self._providers.values()), {}
        return providers

    def close(self) -> None:
        """Close providers' connection pools, the cache, the rate limiter and the
        budget store (each that has a ``close``)."""
        self.engine.close(self._take_providers())

    async def aclose(self) -> None:
        """The async twin of :meth:`close` (``aclose`` preferred where a part has one)."""
        await self.engine.aclose(self._take_providers())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
