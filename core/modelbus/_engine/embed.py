"""The embeddings drivers, sync and async: retry policy around the provider call, then
who answered, attempts, cost and latency."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._retry.runner import aretry_call, retry_call
from .._wire.types import EmbeddingRequest

if TYPE_CHECKING:
    from .._routing.resolve import Route
    from .._wire.types import EmbeddingResponse
    from .engine import Engine

__all__ = ["aembed", "embed", "embedding_request"]


def embedding_request(
    route: Route, input: str | Iterable[str], params: Mapping[str, Any]
) -> tuple[Route, EmbeddingRequest]:
    """``route`` and the request embedding ``input`` (one text or many, in order) on its
    model, with the call's ``params`` (``dimensions``, ``user``, ``extra_body``)."""
    texts = (input,) if isinstance(input, str) else tuple(input)
    assert route.model is not None
    return route, EmbeddingRequest(model=route.model, input=texts, **params)


def _finished(
    e: Engine, route: Route, req: EmbeddingRequest, resp: EmbeddingResponse, n: int, t0: float
) -> EmbeddingResponse:
    model = resp.model or req.model
    return attrs.evolve(
        resp,
        provider=route.provider,
        model=model,
        attempts=n,
        cost_usd=e.catalog.cost(model, resp.usage),
        latency_s=time.perf_counter() - t0,
    )


def embed(e: Engine, route: Route, req: EmbeddingRequest, t0: float) -> EmbeddingResponse:
    """Embed ``req`` on ``route`` (sync); observed when the client has observers."""
    p = e.provider(route.provider)

    def run(scope: Any = None) -> EmbeddingResponse:
        resp, n = retry_call(
            lambda: p.embed(req),
            e.policy(route),
            clock=e.clock,
            on_retry=scope and scope.retry,
            budget=e.retry_quota(route.provider),
        )
        return _finished(e, route, req, resp, n, t0)

    if e.observers is not None:
        return e.observers.observed(e, route, req, run, "embeddings")
    return run()


async def aembed(e: Engine, route: Route, req: EmbeddingRequest, t0: float) -> EmbeddingResponse:
    """The async twin of :func:`embed`."""
    p = e.provider(route.provider)

    async def run(scope: Any = None) -> EmbeddingResponse:
        resp, n = await aretry_call(
            lambda: p.aembed(req),
            e.policy(route),
            clock=e.clock,
            on_retry=scope and scope.retry,
            budget=e.retry_quota(route.provider),
        )
        return _finished(e, route, req, resp, n, t0)

    if e.observers is not None:
        return await e.observers.aobserved(e, route, req, run, "embeddings")
    return await run()
