"""``Reply``: one scripted HTTP response of the WireServer, faults included."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias, get_args

import attrs
from attrs import field, frozen

from ._server_fixtures import FixtureFile, find_fixture

__all__ = ["Fault", "HeadersLike", "Reply", "SSEChunk", "sse_events"]

Fault = Literal["reset", "close", "truncate", "cut"]
HeadersLike: TypeAlias = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]

# The server frames every body itself, so recorded framing headers would lie about it.
FRAMING_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive"}
)
DONE_EVENT = b"data: [DONE]\n\n"


def _header_pairs(value: HeadersLike | None) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items: Iterable[tuple[str, Any]] = value.items() if isinstance(value, Mapping) else value
    pairs: list[tuple[str, str]] = []
    for name, raw in items:
        if not isinstance(name, str) or not name or any(c in name for c in ": \r\n"):
            raise ValueError(f"Reply header name {name!r} is not a valid HTTP field name")
        values = [raw] if isinstance(raw, str | int | float) else list(raw)
        for v in values:
            text = str(v)
            if "\r" in text or "\n" in text:
                raise ValueError(f"Reply header {name!r} has a line break in its value")
            if name.lower() not in FRAMING_HEADERS:
                pairs.append((name, text))
    return tuple(pairs)


def sse_events(body: bytes) -> tuple[bytes, ...]:
    """Split a raw ``text/event-stream`` body into events, each ending in a blank line
    (WHATWG HTML "server-sent events": events are separated by blank lines)."""
    normalized = body.replace(b"\r\n", b"\n")
    return tuple(part + b"\n\n" for part in normalized.split(b"\n\n") if part.strip())


SSEChunk: TypeAlias = Mapping[str, Any] | str | bytes | tuple[str, Mapping[str, Any] | str | bytes]


def _event(chunk: SSEChunk) -> bytes:
    if isinstance(chunk, tuple):
        name, payload = chunk
        if not name or any(c in name for c in "\r\n"):
            raise ValueError(f"SSE event name {name!r} must be one non-empty line")
        return b"event: " + name.encode() + b"\n" + _event(payload)
    if isinstance(chunk, bytes):
        data = chunk
    elif isinstance(chunk, str):
        data = chunk.encode()
    else:
        data = json.dumps(chunk, separators=(",", ":"), ensure_ascii=False).encode()
    return b"data: " + data + b"\n\n"


def _has(headers: tuple[tuple[str, str], ...], name: str) -> bool:
    return any(k.lower() == name for k, _ in headers)


def _with_content_type(
    headers: HeadersLike | None, content_type: str
) -> tuple[tuple[str, str], ...]:
    pairs = _header_pairs(headers)
    return pairs if _has(pairs, "content-type") else (("Content-Type", content_type), *pairs)


def _check(instance: Reply, attribute: attrs.Attribute[Any], value: Any) -> None:
    name = attribute.name
    if name == "status" and value is not None and not 100 <= value <= 599:
        raise ValueError(f"Reply.status must be 100..599, got {value}")
    if name == "fault" and value is not None and value not in get_args(Fault):
        raise ValueError(f"Reply.fault must be one of {get_args(Fault)}, got {value!r}")
    if name in ("latency", "event_delay") and value is not None and value < 0:
        raise ValueError(f"Reply.{name} is in seconds and must be >= 0, got {value}")
    if name in ("cut_after", "truncate_to", "pause_after") and value is not None and value < 0:
        raise ValueError(f"Reply.{name} must be >= 0, got {value}")


@frozen
class Reply:
    """One response: a body or SSE events, plus an optional fault and latency.

    ``body is None and events is None`` means "the route's default reply" (for example
    the canned chat completion); the other fields then modify that default.

    Fields: ``status`` (None = 200, or the route's status), ``headers`` (pairs; framing
    headers Content-Length/Transfer-Encoding/Content-Encoding/Connection are dropped, the
    server computes its own), ``body`` (bytes sent with Content-Length), ``events``
    (complete SSE events sent with chunked transfer coding, one HTTP chunk each),
    ``fault`` (``"reset"``: TCP RST before any byte; ``"close"``: FIN before any byte;
    ``"truncate"``: Content-Length promises the whole body, ``truncate_to`` bytes (default
    half) are sent, then FIN; ``"cut"``: the first ``cut_after`` SSE events without
    ``[DONE]``, then FIN without the last chunk), ``latency`` (seconds before the reply;
    None = the server's default), ``event_delay`` (seconds between SSE events),
    ``pause_after``/``pause`` (after that many SSE events, or body bytes, wait ``pause``
    seconds with the connection open, then send the rest: a stall mid-answer).
    """

    status: int | None = field(default=None, validator=_check)
    headers: tuple[tuple[str, str], ...] = field(default=(), converter=_header_pairs)
    body: bytes | None = None
    events: tuple[bytes, ...] | None = None
    fault: Fault | None = field(default=None, validator=_check)
    cut_after: int = field(default=0, validator=_check)
    truncate_to: int | None = field(default=None, validator=_check)
    latency: float | None = field(default=None, validator=_check)
    event_delay: float = field(default=0.0, validator=_check)
    pause_after: int | None = field(default=None, validator=_check)
    pause: float = field(default=0.0, validator=_check)
    # Pre-encoded header lines so that serving a canned reply costs one join.
    head: bytes = field(init=False, repr=False, eq=False)
    has_request_id: bool = field(init=False, repr=False, eq=False)
    has_date: bool = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.body is not None and self.events is not None:
            raise ValueError("Reply takes a body or SSE events, not both")
        lines = b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in self.headers)
        object.__setattr__(self, "head", lines)
        # A reply with its own request id (OpenAI's x-request-id, Anthropic's request-id,
        # Azure API Management's apim-request-id) gets no generated one.
        has_id = any(
            _has(self.headers, h) for h in ("x-request-id", "request-id", "apim-request-id")
        )
        object.__setattr__(self, "has_request_id", has_id)
        object.__setattr__(self, "has_date", _has(self.headers, "date"))

    @property
    def is_default(self) -> bool:
        """True when the route's default content is served (possibly modified)."""
        return self.body is None and self.events is None

    # -- content -----------------------------------------------------------------------
    @classmethod
    def json(cls, body: Any, status: int = 200, headers: HeadersLike | None = None) -> Reply:
        """``body`` serialized with ``json.dumps`` as ``application/json``."""
        return cls.raw(json.dumps(body).encode(), status=status, headers=headers)

    @classmethod
    def raw(
        cls,
        body: bytes | str,
        status: int = 200,
        headers: HeadersLike | None = None,
        content_type: str = "application/json",
    ) -> Reply:
        """``body`` sent byte for byte (str is UTF-8 encoded)."""
        data = body.encode() if isinstance(body, str) else body
        return cls(status=status, headers=_with_content_type(headers, content_type), body=data)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "The server had an error while processing your request.",
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: HeadersLike | None = None,
    ) -> Reply:
        """An OpenAI error envelope ``{"error": {message, type, param, code}}`` (the shape
        of every recorded ``openai/error_*.json``); ``type`` defaults to
        ``invalid_request_error`` below 500 and ``server_error`` from 500 up."""
        kind = type or ("server_error" if status >= 500 else "invalid_request_error")
        envelope = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        return cls.json(envelope, status=status, headers=headers)

    @classmethod
    def sse(
        cls,
        chunks: Iterable[SSEChunk],
        *,
        done: bool = True,
        status: int = 200,
        headers: HeadersLike | None = None,
        event_delay: float = 0.0,
    ) -> Reply:
        """A ``text/event-stream`` reply: each chunk (dict → compact JSON, str/bytes as
        is) becomes ``data: <chunk>\\n\\n``; an ``(event, chunk)`` pair is sent as
        ``event: <event>\\ndata: <chunk>\\n\\n`` (the named events of Anthropic-style
        streams); ``done`` appends OpenAI's ``data: [DONE]`` (pass ``done=False`` for
        other formats)."""
        events = tuple(_event(c) for c in chunks) + ((DONE_EVENT,) if done else ())
        hdrs = _with_content_type(headers, "text/event-stream; charset=utf-8")
        return cls(status=status, headers=hdrs, events=events, event_delay=event_delay)

    @classmethod
    def fixture(
        cls,
        name: str | Path | FixtureFile,
        *,
        status: int | None = None,
        headers: HeadersLike | None = None,
        root: Path | None = None,
    ) -> Reply:
        """A recorded fixture (see ``wire_fixtures``), e.g.
        ``Reply.fixture("openai/chat_completion_tool_calls")``.

        Status and headers come from the sibling ``.headers.json`` (framing headers
        dropped: Content-Length is recomputed, the body is stored decoded);
        ``status``/``headers`` override or add. ``.sse`` files are replayed event by
        event, ``.chunks.jsonl`` lines are framed as ``data:`` events plus ``[DONE]``
        (the recording lacks it, a live stream ends with it), ``.jsonl`` is sent raw,
        a headers-only capture has an empty body.

        Raises:
            FileNotFoundError: unknown fixture (see ``find_fixture``).
        """
        f = name if isinstance(name, FixtureFile) else find_fixture(name, root=root)
        recorded = _header_pairs(f.response_headers)
        extra = _header_pairs(headers)
        replaced = {k.lower() for k, _ in extra}
        merged = tuple(p for p in recorded if p[0].lower() not in replaced) + extra
        code = status if status is not None else f.status_code
        data = f.read_bytes()
        if f.kind in ("sse", "chunks"):
            if f.kind == "sse":
                events = sse_events(data)
            else:
                lines = [line for line in data.splitlines() if line.strip()]
                events = (*(b"data: " + line + b"\n\n" for line in lines), DONE_EVENT)
            hdrs = _with_content_type(merged, "text/event-stream; charset=utf-8")
            return cls(status=code, headers=hdrs, events=events)
        content_type = "application/jsonl" if f.kind == "jsonl" else "application/json"
        return cls(status=code, headers=_with_content_type(merged, content_type), body=data)

    @classmethod
    def default(cls, *, headers: HeadersLike | None = None, latency: float | None = None) -> Reply:
        """The route's own default reply, optionally with extra headers / latency."""
        return cls(headers=_header_pairs(headers), latency=latency)

    # -- faults ------------------------------------------------------------------------
    @classmethod
    def reset(cls, *, latency: float | None = None) -> Reply:
        """Abort the connection with a TCP RST (SO_LINGER 0) before sending anything;
        clients see "connection reset by peer"."""
        return cls(fault="reset", latency=latency)

    @classmethod
    def close(cls, *, latency: float | None = None) -> Reply:
        """Close the connection (FIN) before sending anything; clients see "server
        disconnected without sending a response"."""
        return cls(fault="close", latency=latency)

    @classmethod
    def stall(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Wait ``seconds`` before sending ``then`` (default: the route's reply). Meant to
        exceed a client's read timeout; stopping the server interrupts the wait."""
        return (then or cls()).with_latency(seconds)

    @classmethod
    def truncated(cls, source: Reply | None = None, *, sent: int | None = None) -> Reply:
        """``source`` (default: the route's reply) with a Content-Length larger than what
        is sent (``sent`` bytes, default half the body), then FIN. On an SSE reply this
        acts like ``sse_cut`` after ``sent`` events (default half)."""
        base = source or cls()
        return attrs.evolve(base, fault="truncate", truncate_to=sent)

    @classmethod
    def sse_cut(cls, after: int, source: Reply | None = None) -> Reply:
        """``source`` (default: the route's reply, a stream when the request asked for
        one) cut after ``after`` events: no ``[DONE]``, no terminating chunk, then FIN.
        On a non-stream reply this acts like ``truncated`` (half the body is sent)."""
        return attrs.evolve(source or cls(), fault="cut", cut_after=after)

    @classmethod
    def stall_after(cls, after: int, seconds: float, source: Reply | None = None) -> Reply:
        """``source`` (default: the route's reply) stalled mid-answer: ``after`` SSE events
        (or body bytes) are sent, then nothing for ``seconds`` with the connection open,
        then the rest. Meant to exceed a client's stream idle timeout."""
        return attrs.evolve(source or cls(), pause_after=after, pause=seconds)

    @classmethod
    def invalid_json(
        cls,
        body: bytes = b'{"id": "chatcmpl-cut", "object": "chat.completion", "choices": [',
        status: int = 200,
    ) -> Reply:
        """A 2xx ``application/json`` reply whose body does not parse as JSON."""
        return cls.raw(body, status=status)

    # -- modifiers ---------------------------------------------------------------------
    def with_latency(self, seconds: float) -> Reply:
        """A copy sent after ``seconds`` (>= 0) of artificial latency."""
        return attrs.evolve(self, latency=seconds)

    def with_headers(self, headers: HeadersLike) -> Reply:
        """A copy with ``headers`` added, replacing same-named ones (case-insensitive)."""
        extra = _header_pairs(headers)
        names = {k.lower() for k, _ in extra}
        kept = tuple(p for p in self.headers if p[0].lower() not in names)
        return attrs.evolve(self, headers=kept + extra)

    def over(self, base: Reply) -> Reply:
        """This (content-less) reply applied to ``base``: status/headers/fault/latency
        of this reply override those of ``base``; ``base`` supplies the content."""
        if not self.is_default:
            return self
        merged = base.with_headers(self.headers) if self.headers else base
        return attrs.evolve(
            merged,
            status=self.status if self.status is not None else base.status,
            fault=self.fault or base.fault,
            cut_after=self.cut_after if self.fault else base.cut_after,
            truncate_to=self.truncate_to if self.fault else base.truncate_to,
            latency=self.latency if self.latency is not None else base.latency,
            event_delay=self.event_delay or base.event_delay,
            pause_after=self.pause_after if self.pause_after is not None else base.pause_after,
            pause=self.pause or base.pause,
        )
