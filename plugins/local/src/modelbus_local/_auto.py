"""``server = "auto"`` as the client builds it: nothing is probed until a call needs it.

A cache hit must not pay for the four-server probe (and, without a server, for loading
the embedded model): ``modelbus chat`` run twice answers the second time from the cache
in a fraction of a second. So the provider the client builds answers ``cache_identity``
and ``default_model`` from the settings alone, and probes (``plugin.resolve_auto``) on
the first call, token count or attribute that needs the backend.

What the cache key records is therefore the *configured* identity: ``auto``, the URLs
probed and the embedded fallback's file (``model_path``, the bundled SmolLM2, or the tiny
random-weights model). ``default_model`` is the embedded fallback's model name (``model``
when set); when a server answers instead, a request for that name goes to the server's
own default model, and the response names the model that answered.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from modelbus.plugin import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Message,
    ToolSpec,
)

from ._settings import LocalSettings

__all__ = ["AutoProvider", "embedded_fallback"]


def embedded_fallback(settings: LocalSettings) -> tuple[str, str]:
    """``(model name, file label)`` of the embedded model ``auto`` falls back to, from the
    settings and what is installed, without building or loading anything: ``model_path``;
    else the bundled SmolLM2 (``modelbus-local[model]``); else the tiny random-weights
    model."""
    if settings.model_path is not None:
        path = Path(settings.model_path).expanduser()
        return settings.model or path.stem, str(path)
    from ._default_model import bundled_model

    real = bundled_model()
    if real is not None:
        return settings.model or real.stem, str(real)
    from .plugin import TINY_MODEL_NAME

    return settings.model or TINY_MODEL_NAME, f"tiny:{TINY_MODEL_NAME}"


class _MappedCounter:
    """The backend's token counter, asked with the name the client routes by (see
    :meth:`AutoProvider.wire_model`)."""

    def __init__(self, inner: Any, wire: Callable[[str | None], str | None]) -> None:
        self._inner = inner
        self._wire = wire

    @property
    def exact(self) -> bool:
        return bool(self._inner.exact)

    def serves(self, model: str) -> bool:
        return bool(self._inner.serves(self._wire(model) or model))

    def count_text(self, text: str, model: str | None = None) -> int:
        return int(self._inner.count_text(text, self._wire(model)))

    def count_messages(
        self,
        messages: Sequence[Message],
        model: str | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> int:
        return int(self._inner.count_messages(messages, self._wire(model), tools))


class AutoProvider:
    """The ``local`` provider with ``server = "auto"``, probing on first use (see the
    module doc). ``resolve(settings, name)`` builds the backend (a
    :class:`~modelbus_local._server.LocalServerProvider` or an
    :class:`~modelbus_local._embedded.EmbeddedProvider`); its errors (an unreachable
    ``base_url``: :class:`~modelbus.errors.APIConnectionError`) are raised by the call that
    needed it, and the next call probes again. Attributes this class does not define are
    the backend's (``kind``, ``base_url``, ``list_models``...), which resolves it."""

    def __init__(
        self,
        settings: LocalSettings,
        *,
        name: str = "local",
        resolve: Callable[[LocalSettings, str], Any],
    ) -> None:
        self.name = name
        self.settings = settings
        self._resolve_backend = resolve
        self._backend: Any = None
        self._adapted: Any = None
        self._lock = threading.Lock()
        model, fallback = embedded_fallback(settings)
        self.default_model: str = model
        if settings.base_url:
            where = settings.base_url.rstrip("/")
            fallback = "none"  # with base_url set, auto never falls back
        else:
            from .plugin import preset_candidates

            where = ",".join(url for _, url in preset_candidates())
        self.cache_identity = f"auto:{where}|embedded:{fallback}"

    # -- the backend ------------------------------------------------------------------
    @property
    def resolved(self) -> Any:
        """The backend when a call has built it, else ``None`` (nothing probed yet)."""
        return self._backend

    def backend(self) -> Any:
        """The backend, probing and building it on first use (once, under a lock)."""
        b = self._backend
        if b is None:
            with self._lock:
                b = self._backend
                if b is None:
                    from modelbus.plugin import adapt_provider

                    b = self._resolve_backend(self.settings, self.name)
                    self._adapted = adapt_provider(b, self.name)
                    self._backend = b
        return b

    def _side(self) -> Any:
        self.backend()
        return self._adapted

    def wire_model(self, model: str | None) -> str | None:
        """The backend's name for ``model``: the routing default stands for a server's own
        default model when a server answered and no ``model`` is configured."""
        b = self.backend()
        if model == self.default_model and self.settings.model is None:
            return b.default_model  # type: ignore[no-any-return]
        return model

    def _chat_request(self, req: ChatRequest) -> ChatRequest:
        wire = self.wire_model(req.model)
        return req if wire == req.model or wire is None else attrs.evolve(req, model=wire)

    def _embed_request(self, req: EmbeddingRequest) -> EmbeddingRequest:
        wire = self.wire_model(req.model)
        return req if wire == req.model or wire is None else attrs.evolve(req, model=wire)

    # -- the provider protocol ---------------------------------------------------------
    @property
    def capabilities(self) -> Any:
        return self._side().capabilities

    @property
    def token_counter(self) -> Any:
        inner = getattr(self.backend(), "token_counter", None)
        return None if inner is None else _MappedCounter(inner, self.wire_model)

    def chat(self, request: ChatRequest) -> ChatResponse:
        side = self._side()
        return side.chat(self._chat_request(request))  # type: ignore[no-any-return]

    async def achat(self, request: ChatRequest) -> ChatResponse:
        side = self._side()
        return await side.achat(self._chat_request(request))  # type: ignore[no-any-return]

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        side = self._side()
        return side.stream(self._chat_request(request))  # type: ignore[no-any-return]

    def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        side = self._side()
        return side.astream(self._chat_request(request))  # type: ignore[no-any-return]

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        side = self._side()
        return side.embed(self._embed_request(request))  # type: ignore[no-any-return]

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        side = self._side()
        return await side.aembed(self._embed_request(request))  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._adapted is not None:
            self._adapted.close()

    async def aclose(self) -> None:
        if self._adapted is not None:
            await self._adapted.aclose()

    def __getattr__(self, attr: str) -> Any:
        # Only reached for names not set above. Private names and ``inner`` (the core
        # adapter's, probed with getattr(p, "inner", p)) are never the backend's: asking
        # must not probe.
        if attr.startswith("_") or attr == "inner":
            raise AttributeError(attr)
        return getattr(self.backend(), attr)
