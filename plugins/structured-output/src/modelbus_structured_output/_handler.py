"""The response-format handler the client calls for a non-dict ``response_format``."""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from modelbus.plugin import ChatRequest, ChatResponse
from modelbus.protocols import Capabilities

from ._session import Session
from ._stream import AsyncStructuredStream, StructuredStream
from ._target import StructuredOutput

__all__ = ["StructuredOutputHandler"]


class StructuredOutputHandler:
    """Handles attrs classes, ``list[X]``, ``Literal``/``Union``/``dict`` types, Enums
    and :class:`StructuredOutput` objects given as ``response_format`` (implements
    :class:`modelbus.protocols.ResponseFormatHandler`).

    ``run``/``arun`` send the request in the chosen mode through ``call`` (the client's
    pipeline: cache, retry, usage totals), parse and validate the reply, re-ask up to
    ``max_reasks`` times, and return the last response with ``parsed`` set and usage,
    cost and attempts summed. They raise :class:`~modelbus.errors.RefusalError` for a
    refusal, :class:`~modelbus.errors.ResponseFormatError` when every attempt was
    invalid, ``TypeError`` for a type that has no JSON schema, and whatever ``call``
    raises. ``stream``/``astream`` return a :class:`StructuredStream` /
    :class:`AsyncStructuredStream`.
    """

    def matches(self, response_format: Any) -> bool:
        """True for a :class:`StructuredOutput` or any type (the schema generator then
        names what it cannot describe); False for dicts, strings and other values."""
        if isinstance(response_format, StructuredOutput):
            return True
        if response_format is None or isinstance(response_format, (Mapping, str)):
            return False
        return (
            isinstance(response_format, type)
            or typing.get_origin(response_format) is not None
            or hasattr(response_format, "__supertype__")  # typing.NewType
        )

    def run(
        self,
        request: ChatRequest,
        response_format: Any,
        call: Callable[[ChatRequest], ChatResponse],
        capabilities: Capabilities,
    ) -> ChatResponse:
        session = Session(request, response_format, capabilities)
        while True:
            done = session.take(call(session.request))
            if done is not None:
                return done

    async def arun(
        self,
        request: ChatRequest,
        response_format: Any,
        call: Callable[[ChatRequest], Awaitable[ChatResponse]],
        capabilities: Capabilities,
    ) -> ChatResponse:
        session = Session(request, response_format, capabilities)
        while True:
            done = session.take(await call(session.request))
            if done is not None:
                return done

    def stream(
        self,
        request: ChatRequest,
        response_format: Any,
        open_stream: Callable[[ChatRequest], Any],
        capabilities: Capabilities,
    ) -> StructuredStream:
        return StructuredStream(Session(request, response_format, capabilities), open_stream)

    def astream(
        self,
        request: ChatRequest,
        response_format: Any,
        open_stream: Callable[[ChatRequest], Any],
        capabilities: Capabilities,
    ) -> AsyncStructuredStream:
        return AsyncStructuredStream(Session(request, response_format, capabilities), open_stream)
