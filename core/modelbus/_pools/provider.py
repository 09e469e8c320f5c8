"""Deployment pools: one logical model served by several deployments.

``[models.gpt-4o] deployments = ["azure-east/gpt-4o", "azure-west/gpt-4o",
"openai/gpt-4o"]`` routes ``gpt-4o`` to the provider ``pool:gpt-4o``, a
:class:`PoolProvider`. The pipeline treats it as any provider: cache, budgets, rate
limits and the retry runner wrap it. Each *attempt* (``chat``, a stream's first
``next()``, ``embed``) asks the router (``modelbus._pools.router``, pure) for a deployment,
given the pool state (``modelbus._pools.state``: cooldowns, calls in flight, usage this
minute, latency averages; shared between processes with ``[modelbus] pool_state =
"redis"``), the weights and a random draw; sends the request there with the
deployment's model; and records the outcome (its latency when it answered: to the
answer, or to a stream's first chunk):

- a 429, a 5xx, a 408/409, a timeout or a connection error cools the deployment down
  for its ``Retry-After`` (else ``cooldown_s``), then the error is raised as it is, so
  the retry runner retries and its next attempt goes to another deployment. While
  another deployment is healthy the error's ``retry_after_s`` is cleared: the wait the
  server asked for is this deployment's, not the pool's (a ``Retry-After`` above
  ``max_retry_after_s`` then no longer ends the call);
- an account failure (429 ``insufficient_quota``, 401, 403: this deployment's account
  or key cannot serve, another one can) cools it for ``account_cooldown_s`` and logs
  ``pool_deployment_refused``; while another deployment is healthy the error is made
  retryable (``should_retry = True``) so the call moves on within its retries, else it
  is raised as it is (not retryable) with a hint naming what to fix;
- any other error (400, 404, ...) is raised without a cooldown: another deployment
  would not fix the request.

A call's cache key is the logical model's: the provider ``pool:NAME``, the model it
carries (``logical_model``) and the identity ``pool:NAME``, whichever deployment
answers. ``ChatResponse.provider`` is ``pool:NAME``; ``extra["deployment"]`` names the
deployment that answered. ``[rate_limits."instance"]`` and
``[rate_limits."instance/model"]`` limit each deployment (waited on inside the
attempt); ``[rate_limits."pool:NAME"]`` the pool as a whole.
"""

from __future__ import annotations

import asyncio
import random as _random
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._engine.timeouts import attempt_timed_out
from .._routing.instances import pool_name
from .._routing.resolve import Route
from .._wire.types import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse
from ..errors import APITimeoutError, PluginError, ProviderError
from ..protocols import Capabilities, PoolState
from .accounts import refused
from .router import DeploymentView, Failure, account_failure, after_failure, choose
from .state import with_latency

if TYPE_CHECKING:
    from .._config.config import RateLimit
    from .._engine.provider_adapter import AdaptedProvider
    from .state import DeploymentState

__all__ = ["Deployment", "PoolProvider"]


@attrs.frozen
class Deployment:
    """One deployment of a pool: ``name`` (``"instance/model"``), the ``provider``
    (instance) and ``model`` it sends to, its ``weight``."""

    name: str
    provider: str
    model: str
    weight: float = 1.0


class PoolProvider:
    """The provider ``pool:NAME`` of ``[models.NAME] deployments`` (module doc).

    ``providers(name)`` returns the provider of a deployment's instance; ``state`` is
    the pool state store and ``pool`` its key there; ``now()`` the client's monotonic
    seconds; ``random()`` a float in ``[0, 1)`` (injectable); ``limit``/``alimit`` wait
    on a deployment's rate limits (``(route, request)``); ``warn(event, **kw)`` logs."""

    def __init__(
        self,
        alias: str,
        model: str,
        deployments: Sequence[Deployment],
        *,
        strategy: str,
        cooldown_s: float,
        account_cooldown_s: float = 600.0,
        providers: Callable[[str], AdaptedProvider],
        state: PoolState,
        now: Callable[[], float],
        pool: str | None = None,
        random: Callable[[], float] = _random.random,
        limit: Callable[[Route, ChatRequest], None] | None = None,
        alimit: Callable[[Route, ChatRequest], Any] | None = None,
        warn: Callable[..., None] | None = None,
        limits: Mapping[str, RateLimit] | None = None,
        on_close: Callable[[], None] | None = None,
        state_name: str = "memory",
    ) -> None:
        self.alias = alias
        self.name = pool_name(alias)
        self.default_model = model
        self.cache_identity = self.name
        self.deployments = tuple(deployments)
        self.strategy = strategy
        self.cooldown_s = cooldown_s
        self.account_cooldown_s = account_cooldown_s
        self.state = with_latency(state)
        self.pool = pool or alias
        self.random = random
        self._names = [d.name for d in self.deployments]
        self._providers = providers
        self._now = now
        self._limit = limit
        self._alimit = alimit
        self._warn = warn
        self._limits = limits or {}
        self._on_close = on_close
        self._state_name = state_name

    @property
    def capabilities(self) -> Capabilities:
        """The first deployment's (a pool's deployments serve the same model)."""
        return self._providers(self.deployments[0].provider).capabilities

    # --- the decision and its records -----------------------------------------------------
    def _views(self, states: Sequence[DeploymentState]) -> list[DeploymentView]:
        return [
            DeploymentView(d.weight, s.cooldown_s, s.in_flight, s.latency_s, self._headroom(d, s))
            for d, s in zip(self.deployments, states, strict=True)
        ]

    def _headroom(self, d: Deployment, s: DeploymentState) -> float | None:
        if self.strategy != "usage" or not self._limits:
            return None
        room: float | None = None
        for key in (d.provider, d.name):
            lim = self._limits.get(key)
            if lim is None:
                continue
            for cap, used in ((lim.rpm, s.requests), (lim.tpm, s.tokens)):
                if cap:
                    left = max(0.0, 1.0 - used / cap)
                    room = left if room is None else min(room, left)
        return room

    def _read_failed(self, exc: Exception) -> PluginError:
        return PluginError(
            f"pool {self.name!r}: the pool state store {self._state_name!r} cannot be read "
            f"({type(exc).__name__}: {exc}); nothing was sent (a pool never routes on "
            "state it could not read; see [modelbus] pool_state)",
            plugin="pool_states",
        )

    def _pick(self, states: Sequence[DeploymentState]) -> tuple[int, list[DeploymentView]]:
        views = self._views(states)
        return choose(self.strategy, views, self.random()), views

    def _failure(self, i: int, exc: Exception, views: list[DeploymentView]) -> Failure:
        return after_failure(
            views,
            i,
            exc,
            cooldown_s=self.cooldown_s,
            account_cooldown_s=self.account_cooldown_s,
        )

    def _after_failure(self, i: int, exc: Exception, f: Failure) -> None:
        """Point the retry at another deployment (module doc) and say so on the error."""
        name = self._names[i]
        if isinstance(exc, ProviderError):
            exc.retry_after_s = f.retry_after_s
            if f.move_on:
                exc.should_retry = True  # this deployment cannot serve; another one can
        exc.add_note(f"pool {self.name}: deployment {name} cooled down for {f.cooldown_s:g}s")
        if isinstance(exc, ProviderError) and account_failure(exc):
            d = self.deployments[i]
            others = [n for j, n in enumerate(self._names) if j != i]
            refused(exc, f, self.name, self.alias, d, others, self._warn)

    def _logged(self, what: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:  # the answer exists; the record is what failed
            self._state_failed(what, exc)

    def _state_failed(self, what: str, exc: BaseException) -> None:
        if self._warn is not None:
            self._warn(
                "pool_state_failed", pool=self.name, step=what, error=f"{type(exc).__name__}: {exc}"
            )

    def _sub(self, i: int, req: Any) -> Any:
        model = self.deployments[i].model
        return req if req.model == model else attrs.evolve(req, model=model)

    def _provider(self, i: int) -> AdaptedProvider:
        # Built on first use (a deployment never drawn never starts); before the latency
        # clock starts, so a first call's SDK import is not counted as the deployment's.
        return self._providers(self.deployments[i].provider)

    def _route(self, i: int) -> Route:
        d = self.deployments[i]
        return Route(d.provider, d.model)

    def _answered(self, i: int, resp: ChatResponse) -> ChatResponse:
        return attrs.evolve(resp, extra={**resp.extra, "deployment": self._names[i]})

    def _tagged(self, i: int, chunk: ChatChunk) -> ChatChunk:
        # on a stream's first chunk: the aggregated response's extra gets it from there
        return attrs.evolve(chunk, extra={**chunk.extra, "deployment": self._names[i]})

    # --- sync ----------------------------------------------------------------------------
    def _start(self) -> tuple[int, list[DeploymentView]]:
        try:
            states = self.state.read(self.pool, self._names, self._now())
        except Exception as exc:
            raise self._read_failed(exc) from exc
        return self._pick(states)

    def _send(self, i: int, req: ChatRequest | None) -> float:
        if req is not None and self._limit is not None:
            self._limit(self._route(i), req)
        now = self._now()
        try:
            self.state.begin(self.pool, self._names[i], now)
        except Exception as exc:
            raise self._read_failed(exc) from exc
        return now

    def _fail(
        self, i: int, exc: Exception, views: list[DeploymentView], latency_s: float | None = None
    ) -> None:
        name = self._names[i]
        f = self._failure(i, exc, views)
        if f.cooldown_s > 0:
            s = f.cooldown_s
            self._logged("cool", lambda: self.state.cool(self.pool, name, s, self._now()))
            self._after_failure(i, exc, f)
        self._end(i, 0, latency_s)

    def _end(self, i: int, tokens: int, latency_s: float | None) -> None:
        name = self._names[i]
        self._logged("end", lambda: self.state.end(self.pool, name, tokens, self._now(), latency_s))

    def _one(self, method: str, request: Any, limited: bool) -> tuple[int, Any]:
        """One attempt of a whole call (chat, embed): pick, send, record."""
        i, views = self._start()
        sub = self._sub(i, request)
        send = getattr(self._provider(i), method)  # built before the clock starts
        t0 = self._send(i, sub if limited else None)
        try:
            resp = send(sub)
        except Exception as exc:
            self._fail(i, exc, views)
            raise
        except BaseException:  # interrupted (Ctrl-C): no fault of the deployment's
            self._end(i, 0, None)
            raise
        self._end(i, resp.usage.total_tokens, self._now() - t0)
        return i, resp

    def chat(self, request: ChatRequest) -> ChatResponse:
        return self._answered(*self._one("chat", request, True))

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        return self._one("embed", request, False)[1]  # type: ignore[no-any-return]

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        i, views = self._start()
        sub = self._sub(i, request)
        provider = self._provider(i)
        t0 = self._send(i, sub)
        tokens, ended = 0, False
        latency: float | None = None
        try:
            for chunk in provider.stream(sub):
                if latency is None:  # a stream's latency: to its first chunk
                    latency = self._now() - t0
                    chunk = self._tagged(i, chunk)
                if chunk.usage is not None:
                    tokens = chunk.usage.total_tokens
                yield chunk
        except Exception as exc:
            ended = True
            self._fail(i, exc, views, latency)
            raise
        finally:
            if not ended:  # finished, or closed early by the caller
                self._end(i, tokens, latency)

    # --- async ---------------------------------------------------------------------------
    async def _astart(self) -> tuple[int, list[DeploymentView]]:
        try:
            states = await self.state.aread(self.pool, self._names, self._now())
        except Exception as exc:
            raise self._read_failed(exc) from exc
        return self._pick(states)

    async def _asend(self, i: int, req: ChatRequest | None) -> float:
        if req is not None and self._alimit is not None:
            await self._alimit(self._route(i), req)
        now = self._now()
        try:
            await self.state.abegin(self.pool, self._names[i], now)
        except Exception as exc:
            raise self._read_failed(exc) from exc
        return now

    async def _afail(
        self, i: int, exc: Exception, views: list[DeploymentView], latency_s: float | None = None
    ) -> None:
        f = self._failure(i, exc, views)
        if f.cooldown_s > 0:
            try:
                await self.state.acool(self.pool, self._names[i], f.cooldown_s, self._now())
            except Exception as failed:
                self._state_failed("cool", failed)
            self._after_failure(i, exc, f)
        await self._aend(i, 0, latency_s)

    async def _acancelled(
        self, i: int, views: list[DeploymentView], latency_s: float | None = None
    ) -> None:
        """An attempt cancelled in flight: by the pipeline when its time ran out (the
        async attempt timeout or deadline cancels the provider call, so no
        ``APITimeoutError`` passes through here), which cools the deployment as a timeout
        raised by the provider would; else by the caller. Either way it is no longer in
        flight (else ``least-busy`` would count it for ever)."""
        if attempt_timed_out():
            timeout = APITimeoutError("the attempt's time ran out", provider=self._names[i])
            await self._afail(i, timeout, views, latency_s)
        else:
            await self._aend(i, 0, latency_s)

    async def _aend(self, i: int, tokens: int, latency_s: float | None) -> None:
        try:
            await self.state.aend(self.pool, self._names[i], tokens, self._now(), latency_s)
        except Exception as failed:
            self._state_failed("end", failed)

    async def _aone(self, method: str, request: Any, limited: bool) -> tuple[int, Any]:
        i, views = await self._astart()
        sub = self._sub(i, request)
        send = getattr(self._provider(i), method)
        t0 = await self._asend(i, sub if limited else None)
        try:
            resp = await send(sub)
        except Exception as exc:
            await self._afail(i, exc, views)
            raise
        except asyncio.CancelledError:
            await self._acancelled(i, views)
            raise
        await self._aend(i, resp.usage.total_tokens, self._now() - t0)
        return i, resp

    async def achat(self, request: ChatRequest) -> ChatResponse:
        return self._answered(*await self._aone("achat", request, True))

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        return (await self._aone("aembed", request, False))[1]  # type: ignore[no-any-return]

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        i, views = await self._astart()
        sub = self._sub(i, request)
        provider = self._provider(i)
        t0 = await self._asend(i, sub)
        tokens, ended = 0, False
        latency: float | None = None
        try:
            async for chunk in provider.astream(sub):
                if latency is None:
                    latency = self._now() - t0
                    chunk = self._tagged(i, chunk)
                if chunk.usage is not None:
                    tokens = chunk.usage.total_tokens
                yield chunk
        except Exception as exc:
            ended = True
            await self._afail(i, exc, views, latency)
            raise
        except asyncio.CancelledError:
            ended = True
            await self._acancelled(i, views, latency)
            raise
        finally:
            if not ended:
                await self._aend(i, tokens, latency)

    def close(self) -> None:
        """Close the client's pool state store (the client closes the deployments'
        providers itself)."""
        if self._on_close is not None:
            self._on_close()

    async def aclose(self) -> None:
        """The async twin of :meth:`close`."""
        self.close()
