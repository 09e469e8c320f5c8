"""A scripted fake provider and a controllable clock, for tests of apps and plugins."""

from __future__ import annotations

import hashlib
import random
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import attrs

from .._wire.stream_accumulator import replay_chunks
from .._wire.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
)
from ..errors import APIConnectionError, APITimeoutError, ProviderError, error_for_status
from ..protocols import Capabilities

__all__ = ["FakeClock", "FakeProvider", "FakeReply", "RandomFaults"]


class FakeClock:
    """A clock whose time moves only when slept on. ``sleeps`` records every sleep in
    seconds; ``monotonic()`` returns the sum. Pass ``modelbus.Clock(fc.monotonic,
    fc.sleep, fc.asleep)`` (or ``fc.as_clock()``) to a client."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def as_clock(self) -> Any:
        from .._retry.runner import Clock

        return Clock(self.monotonic, self.sleep, self.asleep)


@attrs.frozen
class FakeReply:
    """One scripted reply: a response, or an error to raise, or neither (the provider's
    default answer, e.g. ``FakeReply(latency_s=2)``); ``latency_s`` is slept on the
    provider's clock before answering (a FakeClock makes it free; a LoopClock lets other
    tasks run meanwhile, in fake time). ``cut_after``: the connection drops after that
    many chunks of the response's stream (``APIConnectionError``; a non-streamed call
    fails the same way, its body cut)."""

    response: ChatResponse | None = None
    error: BaseException | None = None
    latency_s: float = 0.0
    cut_after: int | None = None


def _error(
    status: int, message: str, headers: Mapping[str, str] | None, provider: str, code: str | None
) -> ProviderError:
    from .._retry.retry_after import retry_after_seconds

    h = {k.lower(): v for k, v in (headers or {}).items()}
    should = h.get("x-should-retry")
    return error_for_status(status)(
        message,
        provider=provider,
        status_code=status,
        request_id=h.get("x-request-id"),
        retry_after_s=retry_after_seconds(h),
        should_retry=None if should is None else should.lower() == "true",
        code=code,
        body={"error": {"message": message, "code": code}},
        retryable=False if code == "insufficient_quota" else None,
    )


@attrs.frozen
class RandomFaults:
    """Transient faults drawn per attempt from a seeded RNG, for a :class:`FakeProvider`
    whose script is empty: attempt ``n`` (1-based) of the request keyed ``key`` (its last
    user message) fails with probability ``rate`` (0 to 1), with one of ``kinds``: an
    HTTP status (``500``, ``429``...: the :class:`ProviderError` subclass for it),
    ``"reset"`` (:class:`APIConnectionError`, a connection reset) or ``"timeout"``
    (:class:`APITimeoutError`).

    Each draw depends only on ``(seed, key, n)``, never on the order in which concurrent
    calls arrive, so a test can compute which requests must fail (:meth:`fails_every`)
    and compare with what failed under any concurrency."""

    rate: float = attrs.field(validator=[attrs.validators.ge(0), attrs.validators.le(1)])
    seed: int = 0
    kinds: tuple[int | str, ...] = (500, 429, "reset")

    def draw(self, key: str, attempt: int) -> int | str | None:
        """The fault of attempt ``attempt`` of ``key``, or ``None`` (it succeeds)."""
        rng = random.Random(f"{self.seed}\x1f{key}\x1f{attempt}")
        if rng.random() >= self.rate:
            return None
        return self.kinds[rng.randrange(len(self.kinds))]

    def fails_every(self, key: str, attempts: int) -> bool:
        """Whether each of attempts ``1..attempts`` of ``key`` draws a fault."""
        return all(self.draw(key, n) is not None for n in range(1, attempts + 1))

    def error(self, kind: int | str, provider: str = "fake") -> ProviderError:
        """The exception a fault of ``kind`` raises."""
        if kind == "reset":
            return APIConnectionError("connection reset by peer (injected)", provider=provider)
        if kind == "timeout":
            return APITimeoutError("no answer within timeout_s (injected)", provider=provider)
        return _error(int(kind), f"injected {kind}", None, provider, None)


def _vector(text: str, dims: int) -> tuple[float, ...]:
    digest = hashlib.sha256(text.encode()).digest() * (dims // 32 + 1)
    return tuple(b / 255.0 for b in digest[:dims])


class FakeProvider:
    """A provider that answers from a script and records every request.

    - ``enqueue_text("hi", usage=...)``, ``enqueue_tool_call(name, arguments)``,
      ``enqueue_response(ChatResponse)``, ``enqueue_error(status, message, headers=...,
      code=...)`` (a :class:`ProviderError` subclass chosen by status, with
      ``retry_after_s`` and ``should_retry`` parsed from the headers), ``enqueue(reply)``.
    - With an empty script it answers ``default_text`` (default: echoes the last user
      message as ``"echo: ..."``), so unscripted calls still work.
    - ``faults``: a :class:`RandomFaults` drawing a transient fault per attempt when the
      script is empty (attempts are counted per last user message).
    - ``requests`` lists every ChatRequest received, in order; ``calls`` counts them.
    - Both sides are native (``chat``/``stream`` and ``achat``/``astream``), plus
      ``embed``/``aembed`` giving deterministic vectors.
    """

    capabilities = Capabilities(embeddings=True, vision=True)

    def __init__(
        self,
        name: str = "fake",
        *,
        model: str = "fake-model",
        default_text: str | None = None,
        clock: FakeClock | None = None,
        cache_identity: str = "fake://",
        faults: RandomFaults | None = None,
    ) -> None:
        self.name = name
        self.default_model = model
        self.default_text = default_text
        self.cache_identity = cache_identity
        self.clock = clock
        self.faults = faults
        self._attempts: dict[str, int] = {}
        self._script: deque[FakeReply] = deque()
        self._lock = threading.Lock()
        self.requests: list[ChatRequest] = []
        self.embed_requests: list[EmbeddingRequest] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    def enqueue(self, *replies: FakeReply) -> FakeProvider:
        self._script.extend(replies)
        return self

    def enqueue_response(self, resp: ChatResponse, latency_s: float = 0.0) -> FakeProvider:
        return self.enqueue(FakeReply(resp, latency_s=latency_s))

    def enqueue_text(
        self,
        text: str,
        *,
        usage: Usage | None = None,
        finish_reason: str = "stop",
        latency_s: float = 0.0,
    ) -> FakeProvider:
        u = usage or Usage(10, 5, 15)
        resp = ChatResponse(
            id=f"fake-{len(self._script)}",
            model=self.default_model,
            message=Message("assistant", text),
            finish_reason=finish_reason,
            usage=u,
        )
        return self.enqueue_response(resp, latency_s)

    def enqueue_tool_call(
        self, name: str, arguments: str, *, call_id: str = "call_1", usage: Usage | None = None
    ) -> FakeProvider:
        msg = Message(
            "assistant", None, tool_calls=(ToolCall(call_id, FunctionCall(name, arguments)),)
        )
        resp = ChatResponse(
            id="fake-tool",
            model=self.default_model,
            message=msg,
            finish_reason="tool_calls",
            usage=usage or Usage(10, 5, 15),
        )
        return self.enqueue_response(resp)

    def enqueue_tool_calls(self, calls: Sequence[tuple[str, str, str]]) -> FakeProvider:
        """Parallel tool calls: ``(call_id, name, arguments)`` each."""
        msg = Message(
            "assistant",
            None,
            tool_calls=tuple(ToolCall(i, FunctionCall(n, a)) for i, n, a in calls),
        )
        return self.enqueue_response(
            ChatResponse(
                id="fake-tools",
                model=self.default_model,
                message=msg,
                finish_reason="tool_calls",
                usage=Usage(10, 5, 15),
            )
        )

    def enqueue_error(
        self,
        status: int,
        message: str = "scripted error",
        *,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
        latency_s: float = 0.0,
    ) -> FakeProvider:
        return self.enqueue(
            FakeReply(error=_error(status, message, headers, self.name, code), latency_s=latency_s)
        )

    def _take(self, request: ChatRequest) -> FakeReply | ChatResponse:
        """The scripted (or fault) reply for ``request``, or the default answer."""
        with self._lock:
            self.requests.append(request)
            reply = self._script.popleft() if self._script else None
            users = [m for m in request.messages if m.role == "user"]
            last = (users[-1].text or "") if users else ""
            if reply is None and self.faults is not None:
                n = self._attempts[last] = self._attempts.get(last, 0) + 1
                kind = self.faults.draw(last, n)
                if kind is not None:
                    reply = FakeReply(error=self.faults.error(kind, self.name))
        if reply is not None and (reply.response is not None or reply.error is not None):
            return reply
        text = self.default_text
        if text is None:
            text = "echo: " + last
        default = ChatResponse(
            id="fake-default",
            model=request.model or self.default_model,
            message=Message("assistant", text),
            finish_reason="stop",
            usage=Usage(10, 5, 15),
        )
        return default if reply is None else attrs.evolve(reply, response=default)

    def _cut(self, after: int) -> APIConnectionError:
        return APIConnectionError(
            f"connection dropped after {after} chunks (scripted)", provider=self.name
        )

    def _settle(self, reply: FakeReply) -> ChatResponse:
        if reply.error is not None:
            raise reply.error
        assert reply.response is not None
        return reply.response

    def _next(self, request: ChatRequest) -> ChatResponse:
        """The scripted answer to ``request`` after its latency (a scripted error is
        raised): what ``chat`` returns, for subclasses that shape it further."""
        return self._whole(self._timed(request))

    def _timed(self, request: ChatRequest) -> FakeReply | ChatResponse:
        got = self._take(request)
        if isinstance(got, FakeReply) and got.latency_s and self.clock is not None:
            self.clock.sleep(got.latency_s)
        return got

    async def _atimed(self, request: ChatRequest) -> FakeReply | ChatResponse:
        got = self._take(request)
        if isinstance(got, FakeReply) and got.latency_s and self.clock is not None:
            await self.clock.asleep(got.latency_s)
        return got

    def _whole(self, got: FakeReply | ChatResponse) -> ChatResponse:
        if isinstance(got, ChatResponse):
            return got
        if got.cut_after is not None:
            raise self._cut(got.cut_after)
        return self._settle(got)

    def _chunks(self, got: FakeReply | ChatResponse) -> Iterator[ChatChunk]:
        if isinstance(got, ChatResponse):
            yield from replay_chunks(got)
            return
        for i, chunk in enumerate(replay_chunks(self._settle(got))):
            if got.cut_after is not None and i >= got.cut_after:
                raise self._cut(got.cut_after)
            yield chunk
        if got.cut_after is not None:
            raise self._cut(got.cut_after)

    def chat(self, request: ChatRequest) -> ChatResponse:
        return self._whole(self._timed(request))

    async def achat(self, request: ChatRequest) -> ChatResponse:
        return self._whole(await self._atimed(request))

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        got = self._timed(request)
        if isinstance(got, FakeReply) and got.cut_after is None:
            return replay_chunks(self._settle(got))  # a scripted error raises here, at once
        return self._chunks(got)

    async def astream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        for chunk in self._chunks(await self._atimed(request)):
            yield chunk

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        with self._lock:
            self.embed_requests.append(request)
        dims = request.dimensions or 8
        vectors = tuple(_vector(text, dims) for text in request.input)
        tokens = sum(len(t.split()) for t in request.input)
        return EmbeddingResponse(
            model=request.model, vectors=vectors, usage=Usage(tokens, 0, tokens)
        )

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        return self.embed(request)
