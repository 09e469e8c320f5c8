"""Without observers, the call path pays one attribute test per emitting site and runs no
code of the observation layer: no scope, no event is built (the promise of
``docs/how-to/observability.md``). Every kind of call runs under a profiler hook that
notes each Python function entered in ``modelbus._engine.observe`` or ``modelbus.events``
(whose attrs-generated ``__init__`` methods are named after the module); the same calls
with an observer configured show that the hook sees them."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from collections.abc import Callable
from typing import Any

import modelbus._engine.observe
import modelbus.events
from modelbus.testing import FakeProvider, make_client
from tests.core.test_observers import MODES, call, recorder  # noqa: F401  (fixture)


def _entered(run: Callable[[], None]) -> set[str]:
    """The observation functions entered while ``run()`` runs, on any thread."""
    files = {modelbus._engine.observe.__file__, modelbus.events.__file__}
    seen: set[str] = set()

    def hook(frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code
        if event == "call" and (code.co_filename in files or "modelbus.events" in code.co_filename):
            seen.add(f"{code.co_filename}:{code.co_name}")

    threading.setprofile(hook)
    sys.setprofile(hook)
    try:
        run()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return seen


def _every_kind_of_call(observers: list[str]) -> set[str]:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    provider = FakeProvider()
    config = {
        "modelbus": {"observers": observers},
        "models": {"main": {"provider": "fake", "model": "m1", "fallbacks": ["fake/m2"]}},
    }
    with make_client(provider, config) as client:

        def run() -> None:
            for mode in MODES:  # a miss, then a hit
                call(client, mode, f"hello {mode}")
                call(client, mode, f"hello {mode}")
            client.embed(["one"])
            asyncio.run(client.aembed(["two"]))
            provider.enqueue_error(503, "busy")  # retried
            call(client, "chat", "retried", cache="bypass")
            provider.enqueue_error(503, "down", headers={"x-should-retry": "false"})
            call(client, "chat", "falls back", model="main", cache="bypass")
            provider.enqueue_tool_calls([("c1", "add", '{"a": 1, "b": 2}')] * 2)
            provider.enqueue_text("3")
            assert client.chat("sum?", tools=[add]).content == "3"

        return _entered(run)


def test_a_client_without_observers_runs_no_observation_code() -> None:
    assert _every_kind_of_call([]) == set()


def test_the_profiler_hook_sees_the_observation_code_when_observers_are_on(
    recorder: Any,  # noqa: F811
) -> None:
    entered = _every_kind_of_call(["recorder"])
    built = {m.group(1) for e in entered for m in [re.search(r"modelbus\.events\.(\w+)", e)] if m}
    assert {
        "CallStarted",
        "CacheMissed",
        "CacheStored",
        "CacheHit",
        "FirstChunk",
        "RetryScheduled",
        "FallbackTaken",
        "ToolStarted",
        "ToolFinished",
        "CallFinished",
    } <= built
    assert any(e.startswith(modelbus._engine.observe.__file__) for e in entered)
