"""Faults for :class:`~modelbus.testing.contracts_provider.ProviderContract`'s error paths.

The contract describes each fault as a :class:`ProviderFault` (what the server does and
what the provider must report) and asks the test's ``faults`` fixture to make the *next*
request fail that way; the requests after it are answered normally. For a provider that
talks to the :class:`~modelbus.testing.server.WireServer`, :class:`WireFaults` does it:
as is for the OpenAI Chat Completions format, subclassed (four methods) for another::

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        def faults(self, wire_server):
            return WireFaults(wire_server)

Any object with ``inject(fault: ProviderFault) -> None`` will do for another backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

import attrs

from ._server_reply import Reply, SSEChunk
from .server import WireServer

__all__ = ["FAULTS", "FaultInjector", "FaultKind", "ProviderFault", "WireFaults"]

FaultKind = Literal[
    "rate_limit", "server_error", "reset", "stall", "error_after_role", "error_after_content"
]


@attrs.frozen
class ProviderFault:
    """One fault: what the next request meets, and what the provider must make of it.

    ``kind``:

    - ``"rate_limit"``: HTTP 429 with ``Retry-After: <retry_after_s>`` (seconds) and the
      request id header → :class:`~modelbus.errors.RateLimitError`, ``status_code`` 429,
      ``retry_after_s``, ``request_id``; retried after that wait.
    - ``"server_error"``: HTTP ``status`` (503) with the request id and
      ``x-should-retry: true`` → :class:`~modelbus.errors.ServerError` with
      ``status_code``, ``request_id`` and ``should_retry`` True.
    - ``"reset"``: the connection is reset before any byte →
      :class:`~modelbus.errors.APIConnectionError`.
    - ``"stall"``: no answer for longer than the attempt's timeout →
      :class:`~modelbus.errors.APITimeoutError` (the contract gives the stalled attempt
      0.25 s through ``modelbus.attempt_limits``).
    - ``"error_after_role"``: a 200 stream whose first event carries only the role, then an
      error event → :class:`~modelbus.errors.ServerError` with the response's
      ``request_id``; retried, since the caller has seen no content yet.
    - ``"error_after_content"``: a 200 stream sending ``text``, then an error event →
      ServerError after the text; not retried (the caller has seen the text).

    ``message`` is the error message the server sends.
    """

    kind: FaultKind
    status: int | None = None
    retry_after_s: float | None = None
    should_retry: bool | None = None
    request_id: str = "req_modelbus_contract_fault"
    message: str = "injected by modelbus.testing.faults"
    text: str = "Hel"


FAULTS: Mapping[FaultKind, ProviderFault] = {
    "rate_limit": ProviderFault("rate_limit", status=429, retry_after_s=7.0),
    "server_error": ProviderFault("server_error", status=503, should_retry=True),
    "reset": ProviderFault("reset"),
    "stall": ProviderFault("stall"),
    "error_after_role": ProviderFault("error_after_role"),
    "error_after_content": ProviderFault("error_after_content"),
}
"""The faults :class:`ProviderContract` injects, by kind."""


class FaultInjector(Protocol):
    """What the contract's ``faults`` fixture returns: ``inject(fault)`` makes the next
    request fail as ``fault`` says, and only that one."""

    def inject(self, fault: ProviderFault) -> None: ...


class WireFaults:
    """Injects :class:`ProviderFault` s into a :class:`WireServer`, in the OpenAI Chat
    Completions wire format (``{"error": {...}}`` bodies, ``data:``-only SSE events,
    ``x-request-id``).

    For another format, subclass it and override ``request_id_header``,
    :meth:`error_reply`, :meth:`role_event`, :meth:`content_event` and
    :meth:`error_event` (see ``docs/examples/modelbus-messages``). ``stall_s`` (seconds)
    must exceed the stalled attempt's timeout; stopping the server ends a stall early.
    """

    request_id_header = "x-request-id"
    stall_s = 30.0

    def __init__(self, server: WireServer) -> None:
        self.server = server

    def inject(self, fault: ProviderFault) -> None:
        """Enqueue the reply for ``fault`` (served to the next request, whatever its path).

        Raises:
            ValueError: an unknown ``fault.kind``.
        """
        self.server.enqueue(self.reply(fault))

    def served(self) -> bool:
        """Whether every injected fault has met a request (the contract's stall test
        tells an attempt that timed out before reaching the server from the stalled
        one; an injector without it is taken to serve each fault to the first attempt)."""
        return self.server.pending == 0

    def reply(self, fault: ProviderFault) -> Reply:
        """The :class:`Reply` that plays ``fault``."""
        headers = {self.request_id_header: fault.request_id}
        if fault.should_retry is not None:
            headers["x-should-retry"] = "true" if fault.should_retry else "false"
        kind = fault.kind
        if kind == "rate_limit":
            wait = {"Retry-After": f"{fault.retry_after_s or 1:g}"}
            return self.error_reply(fault.status or 429, fault.message, {**headers, **wait})
        if kind == "server_error":
            return self.error_reply(fault.status or 503, fault.message, headers)
        if kind == "reset":
            return Reply.reset()
        if kind == "stall":
            return Reply.stall(self.stall_s)
        if kind == "error_after_role":
            return self.stream_reply([self.role_event()], fault.message, headers)
        if kind == "error_after_content":
            events = [self.role_event(), self.content_event(fault.text)]
            return self.stream_reply(events, fault.message, headers)
        raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULTS)}")

    # -- the wire format (override these for another one) --------------------------------
    def error_reply(self, status: int, message: str, headers: Mapping[str, str]) -> Reply:
        """An HTTP error answer with ``status`` and ``headers``."""
        return Reply.error(status, message, headers=headers)

    def role_event(self) -> SSEChunk:
        """A stream's first event, carrying the role and no content."""
        return _openai_chunk({"role": "assistant", "content": ""})

    def content_event(self, text: str) -> SSEChunk:
        """A stream event carrying ``text``."""
        return _openai_chunk({"content": text})

    def error_event(self, message: str) -> SSEChunk:
        """An error event inside a 200 stream (a server error, retryable)."""
        return {"error": {"message": message, "type": "server_error", "param": None, "code": None}}

    def stream_reply(
        self, events: Sequence[SSEChunk], message: str, headers: Mapping[str, str]
    ) -> Reply:
        """A 200 ``text/event-stream`` of ``events`` and then :meth:`error_event`, with no
        end-of-stream marker."""
        return Reply.sse([*events, self.error_event(message)], done=False, headers=headers)


def _openai_chunk(delta: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }
