"""An observer plugin: tokens spent per model (the observability guide's example)."""

from __future__ import annotations

import threading
from collections import Counter

import modelbus
from modelbus.events import CallEvent, CallFinished


class TokensPerModel:
    """Total tokens per model, each provider call counted once (``billed``: not cache
    hits, not answers shared with an identical call in flight, not tool-loop sums)."""

    def __init__(self) -> None:
        self.tokens: Counter[str] = Counter()
        self._lock = threading.Lock()  # events arrive from every thread using the client

    def on_event(self, event: CallEvent) -> None:
        if isinstance(event, CallFinished) and event.billed:
            with self._lock:
                self.tokens[event.response.model] += event.usage.total_tokens


@modelbus.hookimpl
def modelbus_register_observers(register):  # type: ignore[no-untyped-def]
    register("tokens", TokensPerModel, description="tokens spent per model")
