"""Time and size limits of one HTTP exchange of the OpenAI-compatible provider.

Time (seconds; see ``modelbus._engine.timeouts`` for where the limits come from):

- connect: ``connect_timeout_s`` (default 5 s, openai-python's
  ``DEFAULT_TIMEOUT = Timeout(600, connect=5.0)``), cut to what the attempt has left;
- a whole answer (``chat``, embeddings, models): the whole exchange — connect, send,
  wait, read the body — ends when the attempt's time is up: the call's ``timeout=``,
  else the model's or the provider's ``timeout_s``, cut to what is left of
  ``deadline_s`` (the provider's ``timeout_s`` too when nothing else is in force, so a
  body trickling in cannot stretch it; the aiohttp path makes it the request's
  ``total``, see ``_aio.client_timeout``);
- a stream: each read waits at most ``stream_idle_timeout_s`` (60 s), also cut to what
  the attempt has left.

httpx/httpcore fix a read timeout per response, so the total of a whole answer is also
checked between the pieces of its body (a server trickling bytes cannot stretch it).

Size: :data:`DEFAULT_MAX_RESPONSE_BYTES` (``max_response_bytes``) for a whole body
(decoded, so a compressed bomb is caught too) and for each SSE event; an embeddings
answer may be :data:`EMBEDDING_BYTES_PER_INPUT` larger per input. Reading stops at
the cap with a :class:`~modelbus.errors.ProviderError` (``code="response_too_large"``,
not retryable: the same request gets the same answer); nothing is read whole first.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any

from modelbus import attempt_limits
from modelbus.errors import APITimeoutError, ProviderError

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "EMBEDDING_BYTES_PER_INPUT",
    "BodyReader",
    "SseGuard",
    "check_declared",
    "check_read",
    "request_timeout",
]

#: 10 MiB. A chat completion of 128k output tokens is about 1 MiB; ``top_logprobs=20``
#: adds about 1.3 KiB per token, so only a long answer with logprobs comes near it.
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
#: Added to the cap of an embeddings answer per input: a 3072-d float32 vector is 16 KiB
#: in base64 (the default encoding) and about 40 KiB as JSON floats (servers without
#: base64), so a full batch of 2048 never meets the cap.
EMBEDDING_BYTES_PER_INPUT = 64 * 1024


_MIN_WAIT_S = 0.001


# (id(base), stream, overrides, idle) → (base, timeout, total): the timeout of attempts
# without a time limit of their own (the default: no timeout=, no deadline_s) is the
# same on every call, so it is built once rather than per request.
_FIXED: dict[tuple[int, bool, bool, float | None], tuple[Any, Any, float | None]] = {}


def request_timeout(base: Any, stream: bool) -> tuple[Any, float | None]:
    """The ``httpx2.Timeout`` of one request made under the attempt in flight, from the
    provider's ``base`` timeout, and the ``time.monotonic()`` at which its time is up
    (``None``: no limit): the attempt's end, and for a whole answer at most the
    provider's timeout from now (``timeout_s`` bounds the whole exchange; a stream's
    reads are bounded one by one instead)."""
    lim = attempt_limits()
    fixed = lim.ends_at is None
    if fixed:
        key = (id(base), stream, lim.overrides, lim.stream_idle_timeout_s)
        known = _FIXED.get(key)
        if known is not None and known[0] is base:
            total = known[2]
            return known[1], None if total is None else time.monotonic() + total
    import httpx2

    total = lim.timeout(base.read)
    read = lim.read_timeout(base.read, stream)

    def cut(v: float | None) -> float | None:
        if total is None:
            return v
        # never 0: httpx would make the socket non-blocking, aiohttp read it as "none"
        return max(_MIN_WAIT_S, total if v is None else min(v, total))

    if read is not None:
        read = max(_MIN_WAIT_S, read)
    timeout = httpx2.Timeout(
        connect=cut(base.connect), read=read, write=cut(base.write), pool=cut(base.pool)
    )
    if fixed:
        # A whole answer ends at most ``total`` from now (``timeout_s`` bounds it all);
        # a stream's reads are bounded one by one (the read timeout) instead.
        whole = None if stream else total
        if len(_FIXED) >= 256:
            _FIXED.clear()
        _FIXED[key] = (base, timeout, whole)
        return timeout, None if whole is None else time.monotonic() + whole
    return timeout, None if total is None else time.monotonic() + total


def _request_id(headers: Mapping[str, str]) -> str | None:
    h = {k.lower(): v for k, v in headers.items()}
    return h.get("x-request-id") or h.get("apim-request-id")


def too_large(
    provider: str, what: str, cap: int, status: int | None, headers: Mapping[str, str]
) -> ProviderError:
    """The error of an answer over ``cap`` bytes."""
    return ProviderError(
        f"{what} is larger than max_response_bytes={cap} ({cap / 1048576:g} MiB); stopped reading",
        provider=provider,
        status_code=status,
        request_id=_request_id(headers),
        code="response_too_large",
        retryable=False,
        hint="the server (or a proxy) sent far more than an answer should be; if it is "
        f"legitimate, raise [providers.{provider}] max_response_bytes",
    )


def _timed_out(provider: str) -> APITimeoutError:
    return APITimeoutError(
        "the answer did not arrive in full within the attempt's timeout", provider=provider
    )


def check_declared(
    provider: str,
    cap: int,
    status: int,
    headers: Mapping[str, str],
    declared: str | None = None,
) -> None:
    """Refuse at once a body whose ``Content-Length`` is over ``cap`` bytes
    (``declared``: the header's value when the caller has read it already)."""
    if declared is None:
        declared = headers.get("content-length") or headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise too_large(provider, "the response", cap, status, headers)


def check_read(
    provider: str,
    size: int,
    cap: int,
    ends_at: float | None,
    status: int,
    headers: Mapping[str, str],
) -> None:
    """Stop once ``size`` bytes read are over ``cap`` or the attempt's time is up
    (``ends_at``, ``time.monotonic()``; ``None``: no limit)."""
    if size > cap:
        raise too_large(provider, "the response", cap, status, headers)
    if ends_at is not None and time.monotonic() > ends_at:
        raise _timed_out(provider)


class BodyReader:
    """Reads a response body in pieces, stopping at ``cap`` bytes and at ``ends_at``
    (``time.monotonic()``; ``None``: no limit)."""

    def __init__(self, provider: str, cap: int, ends_at: float | None) -> None:
        self.provider = provider
        self.cap = cap
        self.ends_at = ends_at
        self._buf = bytearray()

    def start(self, status: int, headers: Mapping[str, str]) -> None:
        """Refuse at once a body whose ``Content-Length`` is over the cap."""
        check_declared(self.provider, self.cap, status, headers)

    def add(self, piece: bytes, status: int, headers: Mapping[str, str]) -> None:
        self._buf += piece
        check_read(self.provider, len(self._buf), self.cap, self.ends_at, status, headers)

    def content(self) -> bytes:
        return bytes(self._buf)


# An SSE event ends at a blank line; its line ends are CR, LF or CRLF (WHATWG HTML
# "Server-sent events" §9.2.6), so a blank line is one of these pairs.
_EVENT_ENDS = (b"\n\n", b"\r\r", b"\n\r\n")
# A ``data`` field at the start of a line: an event with content, not a keep-alive
# comment (``: ping``) — WHATWG HTML "Server-sent events" §9.2.6.
_DATA_FIELD = re.compile(rb"(?:^|[\r\n])data[:\r\n]")


class SseGuard:
    """Watches the bytes of an event stream: raises once one event grows over ``cap``
    bytes (before the SSE decoder would buffer it), and, until :meth:`delivered` is
    called or an event with a ``data`` field arrives, once ``first_by`` (seconds on
    ``clock``, by default ``time.monotonic``; tests pass a fake one) has passed — a
    server sending only keep-alive comments cannot stretch the wait for the first
    chunk."""

    def __init__(
        self,
        provider: str,
        cap: int,
        headers: Mapping[str, str],
        first_by: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.clock = clock
        self.cap = cap
        self.headers = headers
        self.first_by = first_by
        self.pending = 0  # bytes since the last event end
        self.tail = b""
        self.data_tail = b""  # the last bytes read, for a "data:" split between pieces

    def delivered(self) -> None:
        """The first chunk went out: from now on only the idle timeout applies."""
        self.first_by = None

    def check(self, piece: bytes) -> None:
        data = self.tail + piece
        end = -1
        for e in _EVENT_ENDS:
            i = data.rfind(e)
            if i >= 0:
                end = max(end, i + len(e))
        self.pending = len(data) - end if end >= 0 else self.pending + len(piece)
        self.tail = data[-2:]
        if self.pending > self.cap:
            raise too_large(self.provider, "a stream event", self.cap, 200, self.headers)
        if self.first_by is None:
            return
        look = self.data_tail + piece
        self.data_tail = look[-6:]
        if _DATA_FIELD.search(look):
            # The first event with content is arriving: what is left is the decoder's
            # and the idle timeout's. Bytes read past first_by may have been sent in
            # time (a busy loop or thread read them late): failing them would re-send a
            # request already answered.
            self.first_by = None
        elif self.clock() > self.first_by:
            raise APITimeoutError(
                "no chunk within the attempt's timeout (only keep-alives arrived)",
                provider=self.provider,
            )

    def watch(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        """``pieces``, each checked."""
        for piece in pieces:
            self.check(piece)
            yield piece

    async def awatch(self, pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The async twin of :meth:`watch`."""
        async for piece in pieces:
            self.check(piece)
            yield piece
