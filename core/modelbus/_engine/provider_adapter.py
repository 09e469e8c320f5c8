"""Making one-sided providers two-sided.

A provider that implements only ``chat``/``stream``/``embed`` gets async methods that run
them in a worker thread (``asyncio.to_thread``), so the event loop never blocks. One that
implements only ``achat``/``astream``/``aembed`` gets sync methods that run the coroutine
on a private event-loop thread shared by the process (not ``asyncio.run`` per call, which
would build and tear down a loop and its connection pool every time).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from .._wire.types import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse
from ..errors import PluginError
from ..protocols import Capabilities
from .timeouts import AttemptLimits, current_limits, set_limits, within

T = TypeVar("T")

__all__ = ["AdaptedProvider", "adapt_provider", "run_sync"]

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="modelbus-loop", daemon=True).start()
            _loop = loop
        return _loop


def run_sync(coro: Awaitable[T], provider: str | None = None) -> T:
    """Run ``coro`` on the shared background loop and wait for its result (sync callers).
    The caller's attempt limits go along and bound it (``_timeouts.within``; a timeout
    names ``provider``)."""
    bounded = within(coro, current_limits(), provider)
    return asyncio.run_coroutine_threadsafe(bounded, _background_loop()).result()


_DONE = object()


def _iterate_async(agen_factory: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    loop = _background_loop()
    agen = agen_factory()
    try:
        while True:
            # the limits of the attempt in flight (the first next()), for the provider
            limits = current_limits()
            fut = asyncio.run_coroutine_threadsafe(_anext_or_done(agen, limits), loop)
            item = fut.result()
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            asyncio.run_coroutine_threadsafe(aclose(), loop).result()


async def _anext_or_done(agen: AsyncIterator[T], limits: AttemptLimits | None = None) -> Any:
    if limits is not None:
        set_limits(limits)
    try:
        return await agen.__anext__()
    except StopAsyncIteration:
        return _DONE


async def _aiterate_sync(factory: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    it = await asyncio.to_thread(factory)
    try:
        while True:
            item = await asyncio.to_thread(next, it, _DONE)
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


class AdaptedProvider:
    """A provider with both sides, wrapping ``inner``. ``name``, ``capabilities``,
    ``cache_identity`` and ``default_model`` are read from ``inner`` when it has them.

    Methods the inner provider lacks on both sides raise :class:`PluginError` naming the
    provider and the method (e.g. embeddings on a chat-only provider).

    ``fresh``: ``inner``'s class declares ``fresh_responses = True`` (every ``chat``/``achat``
    answer is a response built for that call, kept by nobody else), so the engine
    completes it in place (``totals.with_price``) instead of copying it."""

    __slots__ = (
        "_inner",
        "achat",
        "aembed",
        "astream",
        "chat",
        "embed",
        "fresh",
        "name",
        "stream",
    )

    def __init__(self, inner: Any, name: str) -> None:
        self._inner = inner
        self.name = name
        # Read on the class, as declared: a provider forwarding unknown attributes to a
        # backend it builds on first use (modelbus-local's auto) must not build it here.
        self.fresh: bool = getattr(type(inner), "fresh_responses", False) is True
        self.chat: Callable[[ChatRequest], ChatResponse] = self._pick_sync("chat", "achat")
        self.achat: Callable[[ChatRequest], Awaitable[ChatResponse]] = self._pick_async(
            "achat", "chat"
        )
        self.embed: Callable[[EmbeddingRequest], EmbeddingResponse] = self._pick_sync(
            "embed", "aembed"
        )
        self.aembed: Callable[[EmbeddingRequest], Awaitable[EmbeddingResponse]] = self._pick_async(
            "aembed", "embed"
        )
        self.stream: Callable[[ChatRequest], Iterator[ChatChunk]] = self._pick_stream()
        self.astream: Callable[[ChatRequest], AsyncIterator[ChatChunk]] = self._pick_astream()

    @property
    def inner(self) -> Any:
        """The provider object the plugin's factory returned."""
        return self._inner

    @property
    def capabilities(self) -> Capabilities:
        caps = getattr(self._inner, "capabilities", None)
        return caps if isinstance(caps, Capabilities) else Capabilities()

    @property
    def cache_identity(self) -> str:
        return str(getattr(self._inner, "cache_identity", "") or "")

    @property
    def default_model(self) -> str | None:
        return getattr(self._inner, "default_model", None)

    def _missing(self, method: str) -> Callable[..., Any]:
        def missing(*_a: Any, **_k: Any) -> Any:
            raise PluginError(
                f"provider {self.name!r} does not implement {method!r} (sync or async)",
                plugin=self.name,
            )

        return missing

    def _pick_sync(self, sync: str, async_: str) -> Any:
        fn = getattr(self._inner, sync, None)
        if fn is not None:
            return fn
        afn = getattr(self._inner, async_, None)
        if afn is None:
            return self._missing(sync)
        return lambda req: run_sync(afn(req), self.name)

    def _pick_async(self, async_: str, sync: str) -> Any:
        afn = getattr(self._inner, async_, None)
        if afn is not None:
            return afn
        fn = getattr(self._inner, sync, None)
        if fn is None:
            return self._missing(async_)

        async def in_thread(req: Any) -> Any:
            return await asyncio.to_thread(fn, req)

        return in_thread

    def _pick_stream(self) -> Any:
        fn = getattr(self._inner, "stream", None)
        if fn is not None:
            return fn
        afn = getattr(self._inner, "astream", None)
        if afn is None:
            return self._missing("stream")
        return lambda req: _iterate_async(lambda: afn(req))

    def _pick_astream(self) -> Any:
        afn = getattr(self._inner, "astream", None)
        if afn is not None:
            return afn
        fn = getattr(self._inner, "stream", None)
        if fn is None:
            return self._missing("astream")
        return lambda req: _aiterate_sync(lambda: fn(req))

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()
        elif getattr(self._inner, "aclose", None) is not None:
            run_sync(self._inner.aclose())

    async def aclose(self) -> None:
        aclose = getattr(self._inner, "aclose", None)
        if aclose is not None:
            await aclose()
        elif getattr(self._inner, "close", None) is not None:
            await asyncio.to_thread(self._inner.close)


def adapt_provider(inner: Any, name: str | None = None) -> AdaptedProvider:
    """Wrap a provider object so it has both the sync and the async side.

    Raises :class:`PluginError` if it has neither ``chat`` nor ``achat``."""
    pname = name or getattr(inner, "name", None) or type(inner).__name__
    if isinstance(inner, AdaptedProvider):
        return inner
    if getattr(inner, "chat", None) is None and getattr(inner, "achat", None) is None:
        raise PluginError(
            f"provider {pname!r} ({type(inner).__qualname__}) has neither chat nor achat",
            plugin=pname,
        )
    return AdaptedProvider(inner, pname)
