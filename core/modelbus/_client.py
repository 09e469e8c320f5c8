"""``modelbus.Client``: the composition of providers, cache, retry, tokens and catalog."""

from __future__ import annotations

import asyncio
import operator
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from . import _pipeline
from ._adapt import AdaptedProvider, adapt_provider
from ._budgeting import close_store
from ._catalog import Catalog
from ._config import Config
from ._context import TruncateOption
from ._instances import with_instances
from ._logging import calls_logged
from ._observe import note_cache
from ._pipeline import check_cache_tags
from ._plugins import load_plugins
from ._registry import Registry, start, start_each
from ._retry import Clock, RetryQuota, RetryTicket
from ._routing import Route, build_messages, build_request, pick_default_provider, resolve_route
from ._singleflight import AsyncSingleFlight, SingleFlight
from ._streaming import AsyncChatStream, ChatStream
from ._types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Message, Usage
from .errors import ConfigError
from .protocols import (
    Cache,
    Capabilities,
    RateLimiter,
    ResponseFormatHandler,
    RetryPolicy,
    TokenCounter,
)

if TYPE_CHECKING:
    from ._batch import BatchResult
    from ._budgeting import Hold
    from ._conversation import Conversation

T = TypeVar("T")

__all__ = ["Client", "UsageTotals"]


@attrs.frozen
class UsageTotals:
    """What a client has spent: ``requests`` answered by providers (cache hits excluded),
    summed ``usage`` in tokens, ``cost_usd`` in US dollars (calls of unknown price add
    nothing and are counted in ``unpriced_requests``), ``cache_hits``, and ``shared``:
    calls answered by an identical call already in flight (single-flight), which add
    nothing to ``requests``, ``usage`` or ``cost_usd``: one provider call is counted once,
    however many callers it answered."""

    requests: int = 0
    cache_hits: int = 0
    shared: int = 0
    usage: Usage = attrs.field(factory=Usage)
    cost_usd: float = 0.0
    unpriced_requests: int = 0


_RESPONSE_FIELDS = tuple(a.name for a in attrs.fields(ChatResponse))
_response_values = operator.attrgetter(*_RESPONSE_FIELDS)
_LATENCY = _RESPONSE_FIELDS.index("latency_s")
_EXTRA = _RESPONSE_FIELDS.index("extra")


def _with_latency(resp: ChatResponse, latency_s: float) -> ChatResponse:
    """``attrs.evolve(resp, latency_s=...)`` at a third of the cost, for ChatResponse
    itself (whose fields take no validators or converters); subclasses use evolve."""
    if type(resp) is not ChatResponse:
        return attrs.evolve(resp, latency_s=latency_s)
    values = list(_response_values(resp))
    values[_LATENCY] = latency_s
    # Each caller its own extra (the pipeline keeps decoded hits; their extras hold only
    # immutable values, so a shallow copy is enough).
    values[_EXTRA] = dict(values[_EXTRA]) if values[_EXTRA] else {}
    return ChatResponse(*values)


def _needs_handler(params: Mapping[str, Any]) -> bool:
    """A ``response_format`` that is not an OpenAI dict goes to a response-format handler."""
    fmt = params.get("response_format")
    return fmt is not None and not isinstance(fmt, Mapping)


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
        if isinstance(config, Config):
            cfg = config
        elif isinstance(config, Mapping):
            cfg = Config.from_dict(config)
        else:
            cfg = Config.load(config)
        if overrides:
            try:
                cfg = cfg.evolve(**overrides)
            except TypeError as exc:
                raise ConfigError(
                    f"unknown client override: {exc}",
                    source="Client(...)",
                    accepted=[a.name for a in attrs.fields(type(cfg.modelbus))],
                ) from None
        self.config = cfg
        self.namespace = namespace
        self.clock = clock or Clock()
        core = cfg.modelbus
        from ._logging import get_logger, setup_default_logging

        setup_default_logging(core.log_format, core.log_level)
        self._log = get_logger("modelbus")
        loaded = load_plugins(core.plugins.allow, core.plugins.block)
        self.plugins = loaded
        self.registry = registry if registry is not None else loaded.registry
        self.registry = with_instances(cfg, self.registry, self)  # named instances, pools
        cfg.check_sections(self.registry)
        self._lock = threading.RLock()
        self._providers: dict[str, AdaptedProvider] = {}
        self._counters: dict[str, TokenCounter] | None = None  # started on first count
        self._budgets: dict[str, RetryQuota] = {}
        self._flight = SingleFlight()
        self._aflights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncSingleFlight] = (
            weakref.WeakKeyDictionary()
        )
        self._totals = UsageTotals()
        self._cache_hits = 0  # kept apart: a hit must not rebuild UsageTotals (hot path)
        self._shared = 0  # callers answered by another's call in flight (counted once)
        self._routes: dict[str | None, Route] = {}
        self._format_handlers: list[tuple[str, ResponseFormatHandler]] | None = None
        self.cache: Cache | None = (
            None if core.cache == "none" else self._build("caches", core.cache)
        )
        self.retry_policy: RetryPolicy = self._build("retry_policies", core.retry_policy)
        self.rate_limiter: RateLimiter = self._build("rate_limiters", core.rate_limiter)
        catalog_layers = [{r.name: r.factory} for r in self.registry.of_kind("catalog")]
        try:
            self.catalog = Catalog.load(*catalog_layers, cfg.catalog)
        except ValueError as exc:
            raise ConfigError(str(exc), key="catalog", source=cfg.source) from exc
        self._default_provider: tuple[str, str] | None = None
        from ._observe import build_observers

        # None without observers: the call path then tests this one attribute, no more.
        self._observers = build_observers(self, core.observers)

    @classmethod
    def from_config(cls, path: str | os.PathLike[str] | None = None, **overrides: Any) -> Client:
        """A client from the config file at ``path`` (or the one found by search)."""
        return cls(Config.load(path), **overrides)

    # --- composition -------------------------------------------------------------------
    def _build(self, kind: str, name: str) -> Any:
        return start(self.registry.get(kind, name), self.config)

    @property
    def default_provider(self) -> str:
        """The provider used when a call names none (see ``pick_default_provider``)."""
        if self._default_provider is None:
            self._default_provider = pick_default_provider(self.config, self.registry)
        return self._default_provider[0]

    @property
    def default_provider_reason(self) -> str:
        """One line saying which provider is the default and why."""
        _ = self.default_provider
        assert self._default_provider is not None
        return self._default_provider[1]

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
        """Where a call for ``model`` (or the default) goes; the provider's default model
        fills in when neither call nor config names one."""
        known = self._routes.get(model)
        if known is not None:
            return known
        route = resolve_route(
            model, self.config, self.registry, lambda: self.default_provider, self.catalog
        )
        if route.model is None:
            dm = self.provider(route.provider).default_model
            if dm is None:
                raise ConfigError(
                    f"no model given and provider {route.provider!r} has no default model",
                    key="modelbus.model",
                    source=self.config.source,
                )
            route = attrs.evolve(route, model=dm)
        if len(self._routes) < 1024:  # bounded: model names come from callers
            self._routes[model] = route
        return route

    # --- hooks used by the pipeline ----------------------------------------------------
    def _prepare(
        self, route: Route, req: ChatRequest, truncate: TruncateOption = None
    ) -> tuple[ChatRequest, Hold | None]:
        from ._prepare import prepare

        return prepare(self, route, req, truncate)

    async def _aprepare(
        self, route: Route, req: ChatRequest, truncate: TruncateOption = None
    ) -> tuple[ChatRequest, Hold | None]:
        from ._prepare import aprepare

        return await aprepare(self, route, req, truncate)

    def _retry_budget(self, provider: str) -> RetryTicket | None:
        """A new request's ticket on ``provider``'s retry quota (AWS standard mode, see
        ``RetryQuota``), which the retry runner pays each retry with and refunds on
        success; ``None`` when ``[modelbus.retry_budget] enabled = false``. Called once per
        request, never per retry."""
        settings = self.config.modelbus.retry_budget
        if not settings.enabled:
            return None
        quota = self._budgets.get(provider)
        if quota is None:
            with self._lock:
                quota = self._budgets.get(provider)
                if quota is None:
                    quota = self._budgets[provider] = RetryQuota(
                        settings.capacity,
                        retry_cost=settings.retry_cost,
                        timeout_retry_cost=settings.timeout_retry_cost,
                        throttling_retry_cost=settings.throttling_retry_cost,
                        no_retry_increment=settings.no_retry_increment,
                    )
        return quota.ticket()

    def _aflight(self) -> AsyncSingleFlight:
        loop = asyncio.get_running_loop()
        f = self._aflights.get(loop)
        if f is None:
            f = self._aflights[loop] = AsyncSingleFlight()
        return f

    def _guard(self, fn: Callable[[], T], event: str) -> T | None:
        """Run a cache operation; a failure is logged and counted, never raised."""
        try:
            return fn()
        except Exception as exc:
            self._log_warning(event, error=f"{type(exc).__name__}: {exc}")
            return None

    async def _aguard(self, aw: Awaitable[T], event: str) -> T | None:
        try:
            return await aw
        except Exception as exc:
            self._log_warning(event, error=f"{type(exc).__name__}: {exc}")
            return None

    def _log_warning(self, event: str, **kw: Any) -> None:
        from ._logging import redact

        self._log.warning(event, **{k: redact(v, k) for k, v in kw.items()})

    def _done(self, route: Route, resp: ChatResponse, t0: float, cache: str) -> ChatResponse:
        latency = time.perf_counter() - t0
        resp = _with_latency(resp, latency)
        with self._lock:
            t = self._totals
            if resp.cached:
                self._cache_hits += 1
            elif cache == "shared":
                self._shared += 1  # the leader's _done counted the provider call
            else:
                self._totals = attrs.evolve(
                    t,
                    requests=t.requests + 1,
                    usage=t.usage + resp.usage,
                    cost_usd=t.cost_usd + (resp.cost_usd or 0.0),
                    unpriced_requests=t.unpriced_requests + (resp.cost_usd is None),
                )
        if self._observers is not None:
            note_cache(cache)
        # Asked per call: the application may configure structlog after this client is
        # built; an event nobody would see is not built.
        if not calls_logged():
            return resp
        self._log.info(
            "modelbus.call",
            provider=resp.provider or route.provider,
            model=resp.model,
            latency_ms=round(latency * 1000, 3),
            prompt_tokens=resp.usage.prompt_tokens,
            completion_tokens=resp.usage.completion_tokens,
            cost_usd=resp.cost_usd,
            cache=cache,
            attempts=resp.attempts,
            finish_reason=resp.finish_reason,
        )
        return resp

    @property
    def usage_totals(self) -> UsageTotals:
        """Tokens and US dollars spent by this client so far."""
        with self._lock:
            return attrs.evolve(self._totals, cache_hits=self._cache_hits, shared=self._shared)

    # --- public calls ------------------------------------------------------------------
    def _request(
        self,
        messages: Any,
        model: str | None,
        system: str | None,
        params: Mapping[str, Any],
        stream: bool = False,
    ) -> tuple[Route, ChatRequest]:
        route = self.route(model)
        merged = {**route.params, **params} if route.params else params
        assert route.model is not None
        return route, build_request(
            build_messages(messages, system), route.model, merged, stream=stream
        )

    def _format_handler(self, response_format: Any) -> ResponseFormatHandler:
        """The first registered response-format handler that ``matches`` the format
        (handlers are built once per client); ``TypeError`` naming the installed ones."""
        handlers = self._format_handlers
        if handlers is None:
            with self._lock:
                if self._format_handlers is None:
                    self._format_handlers = start_each(
                        self.registry, "response_formats", self.config
                    )
                handlers = self._format_handlers
        for _name, h in handlers:
            if h.matches(response_format):
                return h
        installed = ", ".join(name for name, _ in handlers) or "none"
        raise TypeError(
            f"response_format={response_format!r} is not an OpenAI dict and no installed "
            f"response-format handler accepts it (installed handlers: {installed}); for "
            "attrs classes, list[X] and Literal: pip install modelbus-structured-output"
        )

    def _format_request(
        self,
        messages: Any,
        model: str | None,
        system: str | None,
        params: Mapping[str, Any],
        stream: bool = False,
    ) -> tuple[ResponseFormatHandler, Any, Route, ChatRequest, Capabilities]:
        """The handler for ``params["response_format"]``, the format, and the route and
        request built without it (the handler adds what its mode sends)."""
        fmt = params["response_format"]
        handler = self._format_handler(fmt)
        rest = {k: v for k, v in params.items() if k != "response_format"}
        route, req = self._request(messages, model, system, rest, stream=stream)
        return handler, fmt, route, req, self.provider(route.provider).capabilities

    def chat(
        self,
        messages: str | Iterable[Any] | Message | None = None,
        *,
        model: str | None = None,
        system: str | None = None,
        cache: _pipeline.CacheMode = "use",
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
        the attempt in flight included (see ``modelbus._timeouts``).

        ``template``/``variables``: start from a prompt template (``modelbus._templates``);
        ``messages`` then follow its messages. ``tools`` holding functions, ``Tool``
        objects, a ``ToolRegistry`` or plugin tool names runs the tool loop
        (``modelbus._toolloop``) for at most ``max_tool_rounds`` rounds (default 10);
        OpenAI tool dicts and ``ToolSpec`` objects are only sent.

        Raises :class:`ProviderError` subclasses (not retryable, or retries disabled),
        :class:`RetryError` (retries exhausted), :class:`APITimeoutError` (an attempt ran
        out of time; retried like any timeout), :class:`ContextLengthExceededError`
        (checked locally before sending), :class:`BudgetExceededError` (``max_cost_usd``),
        :class:`ToolError` (tool round limit), :class:`TemplateError`, ``TypeError`` for
        an unknown parameter.
        """
        return self._dispatch(  # type: ignore[no-any-return]
            False,
            messages,
            model,
            system,
            cache,
            cache_ttl_s,
            cache_tags,
            truncate,
            timeout,
            template,
            variables,
            max_tool_rounds,
            params,
        )

    async def achat(
        self,
        messages: str | Iterable[Any] | Message | None = None,
        *,
        model: str | None = None,
        system: str | None = None,
        cache: _pipeline.CacheMode = "use",
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
        return await self._dispatch(  # type: ignore[no-any-return]
            True,
            messages,
            model,
            system,
            cache,
            cache_ttl_s,
            cache_tags,
            truncate,
            timeout,
            template,
            variables,
            max_tool_rounds,
            params,
        )

    def _dispatch(
        self,
        is_async: bool,
        messages: Any,
        model: str | None,
        system: str | None,
        cache: _pipeline.CacheMode,
        cache_ttl_s: float | None,
        cache_tags: Iterable[str],
        truncate: TruncateOption,
        timeout: float | None,
        template: str | None,
        variables: Mapping[str, Any] | None,
        max_tool_rounds: int | None,
        params: dict[str, Any],
    ) -> Any:
        """What :meth:`chat` (``is_async=False``: a ChatResponse) and :meth:`achat` (an
        awaitable of one) run: the template, then the tool loop, a response-format
        handler, or the plain pipeline. The plain path comes last but allocates nothing
        extra: it is the per-call hot path."""
        if template is not None or messages is None or variables is not None:
            from ._templates import apply_template

            messages, model, system, params = apply_template(
                self, template, variables, messages, model, system, params
            )
        if max_tool_rounds is not None or params.get("tools") is not None:
            from . import _toolloop

            if max_tool_rounds is not None or _toolloop.wants_loop(params["tools"]):
                return (_toolloop.arun if is_async else _toolloop.run)(
                    self,
                    messages,
                    model=model,
                    system=system,
                    max_tool_rounds=max_tool_rounds,
                    chat_kwargs=dict(
                        cache=cache,
                        cache_ttl_s=cache_ttl_s,
                        cache_tags=check_cache_tags(cache_tags),
                        truncate=truncate,
                        timeout=timeout,
                    ),
                    **params,
                )
        # One of each pair, chosen once: typed Any since the two sides differ only in
        # returning a ChatResponse or an awaitable of one.
        send: Any = _pipeline.achat if is_async else _pipeline.chat
        if _needs_handler(params):
            opts = _pipeline.call_options(cache, cache_ttl_s, cache_tags, truncate, timeout)
            h, fmt, route, req, caps = self._format_request(messages, model, system, params)
            run_format: Any = h.arun if is_async else h.run
            return run_format(
                req, fmt, lambda r: send(self, route, r, opts, time.perf_counter()), caps
            )
        t0 = time.perf_counter()
        route, req = self._request(messages, model, system, params)
        opts = _pipeline.call_options(cache, cache_ttl_s, cache_tags, truncate, timeout)
        return send(self, route, req, opts, t0)

    def stream(
        self,
        messages: str | Iterable[Any] | Message,
        *,
        model: str | None = None,
        system: str | None = None,
        cache: _pipeline.CacheMode = "use",
        cache_ttl_s: float | None = None,
        cache_tags: Iterable[str] = (),
        truncate: TruncateOption = None,
        timeout: float | None = None,
        **params: Any,
    ) -> ChatStream | Any:
        """Stream a chat reply: iterate the returned :class:`ChatStream` for
        :class:`ChatChunk`; its ``.response`` is the aggregated response afterwards.

        With a non-dict ``response_format`` (an attrs class...), the response-format
        handler's stream is returned instead: it yields partial values as the reply
        fills in (modelbus-structured-output documents them).

        ``timeout`` (seconds) bounds the wait for the first chunk of each attempt; once
        chunks flow, a silence longer than ``[modelbus] stream_idle_timeout_s`` (60 s)
        raises :class:`APITimeoutError` (see ``modelbus._timeouts``)."""
        return self._stream_dispatch(
            ChatStream,
            messages,
            model,
            system,
            cache,
            cache_ttl_s,
            cache_tags,
            truncate,
            timeout,
            params,
        )

    def astream(
        self,
        messages: str | Iterable[Any] | Message,
        *,
        model: str | None = None,
        system: str | None = None,
        cache: _pipeline.CacheMode = "use",
        cache_ttl_s: float | None = None,
        cache_tags: Iterable[str] = (),
        truncate: TruncateOption = None,
        timeout: float | None = None,
        **params: Any,
    ) -> AsyncChatStream | Any:
        """The async twin of :meth:`stream` (``async for chunk in client.astream(...)``)."""
        return self._stream_dispatch(
            AsyncChatStream,
            messages,
            model,
            system,
            cache,
            cache_ttl_s,
            cache_tags,
            truncate,
            timeout,
            params,
        )

    def _stream_dispatch(
        self,
        kind: type[ChatStream] | type[AsyncChatStream],
        messages: Any,
        model: str | None,
        system: str | None,
        cache: _pipeline.CacheMode,
        cache_ttl_s: float | None,
        cache_tags: Iterable[str],
        truncate: TruncateOption,
        timeout: float | None,
        params: dict[str, Any],
    ) -> Any:
        """The stream :meth:`stream` / :meth:`astream` return (``kind`` says which), or a
        response-format handler's stream of partial values."""
        opts = _pipeline.call_options(cache, cache_ttl_s, cache_tags, truncate, timeout)
        if _needs_handler(params):
            h, fmt, route, req, caps = self._format_request(
                messages, model, system, params, stream=True
            )
            open_stream = h.astream if kind is AsyncChatStream else h.stream
            return open_stream(req, fmt, lambda r: kind(self, route, r, opts), caps)
        route, req = self._request(messages, model, system, params, stream=True)
        return kind(self, route, req, opts)

    def _embed_request(
        self, input: str | Iterable[str], model: str | None, params: Mapping[str, Any]
    ) -> tuple[Route, EmbeddingRequest]:
        route = self.route(model)
        texts = (input,) if isinstance(input, str) else tuple(input)
        assert route.model is not None
        return route, EmbeddingRequest(model=route.model, input=texts, **params)

    def embed(
        self, input: str | Iterable[str], *, model: str | None = None, **params: Any
    ) -> EmbeddingResponse:
        """Embed one text or many; returns one vector per input, in input order.
        ``params``: ``dimensions`` (output width), ``user``, ``extra_body``."""
        from ._retry import retry_call

        t0 = time.perf_counter()
        route, req = self._embed_request(input, model, params)
        p = self.provider(route.provider)

        def run(scope: Any = None) -> EmbeddingResponse:
            resp, n = retry_call(
                lambda: p.embed(req),
                self.retry_policy,
                clock=self.clock,
                on_retry=scope and scope.retry,
                budget=self._retry_budget(route.provider),
            )
            return self._embedded(route, req, resp, n, t0)

        if self._observers is not None:
            from ._observe import observed

            return observed(self, route, req, run, "embeddings")
        return run()

    async def aembed(
        self, input: str | Iterable[str], *, model: str | None = None, **params: Any
    ) -> EmbeddingResponse:
        """The async twin of :meth:`embed`."""
        from ._retry import aretry_call

        t0 = time.perf_counter()
        route, req = self._embed_request(input, model, params)
        p = self.provider(route.provider)

        async def run(scope: Any = None) -> EmbeddingResponse:
            resp, n = await aretry_call(
                lambda: p.aembed(req),
                self.retry_policy,
                clock=self.clock,
                on_retry=scope and scope.retry,
                budget=self._retry_budget(route.provider),
            )
            return self._embedded(route, req, resp, n, t0)

        if self._observers is not None:
            from ._observe import aobserved

            return await aobserved(self, route, req, run, "embeddings")
        return await run()

    def _embedded(
        self, route: Route, req: EmbeddingRequest, resp: EmbeddingResponse, n: int, t0: float
    ) -> EmbeddingResponse:
        model = resp.model or req.model
        return attrs.evolve(
            resp,
            provider=route.provider,
            model=model,
            attempts=n,
            cost_usd=self.catalog.cost(model, resp.usage),
            latency_s=time.perf_counter() - t0,
        )

    def batch(
        self, requests: Iterable[Any], *, concurrency: int = 8, progress: bool = False
    ) -> list[BatchResult]:
        """Run many chat requests on ``concurrency`` threads; returns one
        :class:`modelbus.BatchResult` per request, in input order (``.response`` or
        ``.error``; ``.to_openai()`` is the OpenAI batch output line). A request is a chat
        body dict (``{"messages": [...], "model": ...}``), an OpenAI Batch API line
        (``{"custom_id", "method", "url", "body"}``) or a prompt string. One failed
        request never stops the others. ``progress`` shows a rich bar on stderr.
        Raises ``ValueError`` for a duplicate ``custom_id`` (see ``modelbus._batch``)."""
        from ._batch import batch

        return batch(self, requests, concurrency=concurrency, progress=progress)

    async def abatch(
        self, requests: Iterable[Any], *, concurrency: int = 8, progress: bool = False
    ) -> list[BatchResult]:
        """The async twin of :meth:`batch` (``concurrency`` tasks)."""
        from ._batch import abatch

        return await abatch(self, requests, concurrency=concurrency, progress=progress)

    def token_counter(self, model: str, provider: str | None = None) -> TokenCounter:
        """The counter for ``model``: the provider's own (e.g. a llama.cpp tokenizer), else
        the first registered exact counter serving it, else the first serving it, else the
        approximate fallback (``exact=False``)."""
        from ._tokens import pick_counter

        return pick_counter(self, model, provider)

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
        model_name, provider = self._counting_route(model)
        msgs = build_messages(messages)
        specs = build_request(msgs, model_name, {"tools": tools}).tools if tools else None
        counter = self.token_counter(model_name, provider)
        return counter.count_messages(msgs, model_name, specs)

    def _counting_route(self, model: str | None) -> tuple[str, str | None]:
        try:
            route = self.route(model)
        except ConfigError:
            if model is None:
                raise
            return model, None  # counting needs no provider, only a counter for the model
        assert route.model is not None
        return route.model, route.provider

    def conversation(
        self, *, system: str | None = None, model: str | None = None, **kwargs: Any
    ) -> Conversation:
        """A :class:`~modelbus._conversation.Conversation` on this client that keeps its
        history (``messages``, ``tools``, OpenAI parameters in ``kwargs``)."""
        from ._conversation import Conversation

        return Conversation(self, system=system, model=model, **kwargs)

    # --- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close providers' connection pools, the cache, the rate limiter and the
        budget store (each that has a ``close``)."""
        with self._lock:
            providers, self._providers = list(self._providers.values()), {}
        for p in providers:
            p.close()
        for part in (self.cache, self.rate_limiter, close_store(self)):
            close = getattr(part, "close", None)
            if close is not None:
                close()

    async def aclose(self) -> None:
        """The async twin of :meth:`close` (``aclose`` preferred where a part has one)."""
        with self._lock:
            providers, self._providers = list(self._providers.values()), {}
        for p in providers:
            await p.aclose()
        for part in (self.cache, self.rate_limiter, close_store(self)):
            aclose = getattr(part, "aclose", None)
            if aclose is not None:
                await aclose()
                continue
            close = getattr(part, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
