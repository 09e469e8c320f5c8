"""One structured call: the mode, the request of each attempt, parsing, re-asks, totals.

A :class:`Session` holds no I/O: the handler's sync and async paths and the streams feed
it each attempt's :class:`ChatResponse` and it answers with the final response or the
next request, so every path shares the same rules.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from modelbus.errors import ResponseFormatError
from modelbus.plugin import ChatRequest, ChatResponse, Message, Usage
from modelbus.protocols import Capabilities

from ._modes import choose_mode, extract, passes_through, reask, shape
from ._target import Invalid, StructuredOutput, Target, target_of

__all__ = ["Session", "as_spec"]


def as_spec(response_format: Any) -> StructuredOutput[Any]:
    """``response_format`` as a :class:`StructuredOutput` (a bare type gets the defaults)."""
    if isinstance(response_format, StructuredOutput):
        return response_format
    return StructuredOutput(response_format)


class Session:
    """The state of one structured call (see the module docstring).

    ``request`` is what the next attempt sends; :meth:`take` consumes an attempt's
    response. ``failures`` lists ``(raw_reply, errors)`` of each invalid attempt;
    ``passed_through`` is set when the reply called the caller's own tools instead (a
    tool-loop round), which is returned unparsed.
    """

    def __init__(self, request: ChatRequest, response_format: Any, caps: Capabilities) -> None:
        self.spec = as_spec(response_format)
        self.target: Target = target_of(self.spec)
        self.mode = choose_mode(self.spec.mode, caps, request)
        self.original = request
        self.request = shape(request, self.target, self.mode, strict_tools=caps.json_schema)
        self.failures: list[tuple[str, str]] = []
        self.passed_through = False
        self._t0 = time.perf_counter()
        self._usage = Usage()
        self._cost: float | None = 0.0
        self._attempts = 0
        self._all_cached = True

    def _add(self, resp: ChatResponse) -> None:
        self._usage = self._usage + resp.usage
        c = self._cost
        self._cost = None if c is None or resp.cost_usd is None else c + resp.cost_usd
        self._attempts += resp.attempts
        self._all_cached = self._all_cached and resp.cached

    def _final(self, resp: ChatResponse, parsed: Any) -> ChatResponse:
        return attrs.evolve(
            resp,
            usage=self._usage,
            cost_usd=self._cost,
            attempts=self._attempts,
            cached=self._all_cached,
            latency_s=time.perf_counter() - self._t0,
            parsed=parsed,
        )

    def parse(self, resp: ChatResponse) -> Any:
        """The value in ``resp``: :class:`Invalid` or :class:`RefusalError` otherwise."""
        return self.target.loads(extract(resp, self.target, self.mode))

    def take(self, resp: ChatResponse) -> ChatResponse | None:
        """Count ``resp`` and return the final response (``parsed`` set; usage, cost and
        attempts summed over every attempt; in tools mode the message is the call's
        arguments as ``content``, without ``tool_calls``), or ``None`` after setting
        :attr:`request` to the re-ask. Raises :class:`RefusalError` for a refusal and
        :class:`ResponseFormatError` once ``max_reasks`` re-asks failed."""
        self._add(resp)
        if passes_through(resp, self.original, self.target, self.mode):
            self.passed_through = True
            return self._final(resp, None)
        try:
            value = self.parse(resp)
        except Invalid as exc:
            raw = _raw(resp, self.target, self.mode)
            self.failures.append((raw, str(exc)))
            if len(self.failures) > self.spec.max_reasks:
                raise self._error(resp) from exc
            self.request = reask(self.request, resp, str(exc), self.target, self.mode)
            return None
        except ResponseFormatError as exc:  # a refusal: carry the summed usage
            exc.response = self._final(resp, None)
            raise
        if self.mode == "tools":
            # The call was the answer: as text, so a tool loop stops here and .content
            # holds the JSON in every mode.
            msg = Message("assistant", extract(resp, self.target, self.mode))
            resp = attrs.evolve(resp, message=msg)
        return self._final(resp, value)

    def _error(self, resp: ChatResponse) -> ResponseFormatError:
        n = len(self.failures)
        lines = [
            f"{self.target.name}: no valid reply after {n} attempt{'s' if n > 1 else ''} "
            f"(mode {self.mode}, max_reasks={self.spec.max_reasks})"
        ]
        for i, (raw, errors) in enumerate(self.failures, 1):
            shown = raw if len(raw) <= 200 else raw[:197] + "..."
            lines.append(f"  attempt {i}: {errors}; reply: {shown!r}")
        return ResponseFormatError(
            "\n".join(lines), attempts=list(self.failures), response=self._final(resp, None)
        )


def _raw(resp: ChatResponse, target: Target, mode: str) -> str:
    """What the model wrote where the JSON was expected (for errors)."""
    if mode == "tools":
        calls = [c.function.arguments for c in resp.tool_calls if c.function.name == target.name]
        if calls:
            return str(calls[0])
    return resp.message.text
