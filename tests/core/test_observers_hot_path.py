"""What the observed call path promises beside its events (``modelbus._engine.observe``):
it reaches the observation layer without import statements (a function-level
``from .observe import ...`` costs about 3 µs a call on CPython 3.11, more than the
events themselves), a lone observer (dispatched without the loop over several) keeps
the guarantees of several (a raise changes no result and is reported once), and the
endpoint read once per provider is the one every call's ``CallStarted`` names."""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import pytest
from structlog.testing import capture_logs

from modelbus.events import CallStarted
from modelbus.testing import FakeProvider, make_client
from tests.core.test_observers import MODES, call, kinds, recorder  # noqa: F401  (fixture)

OBSERVED = {"modelbus": {"observers": ["recorder"]}}


@pytest.mark.parametrize("mode", MODES)
def test_an_observed_miss_and_hit_import_nothing_of_the_observation_layer(
    recorder: Any,  # noqa: F811
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    imported: list[str] = []
    real = builtins.__import__

    def spy(name: str, *args: Any, **kwargs: Any) -> Any:
        imported.append(name)
        return real(name, *args, **kwargs)

    with make_client(FakeProvider(), OBSERVED) as client:
        call(client, "chat", "warm-up")  # first-use imports of the client, not per call
        monkeypatch.setattr(builtins, "__import__", spy)
        call(client, mode, "hello")  # a miss
        call(client, mode, "hello")  # a hit
        client.embed(["one"])
        asyncio.run(client.aembed(["two"]))
        monkeypatch.setattr(builtins, "__import__", real)
    assert imported  # the spy sees import statements (asyncio.run makes some)
    assert [n for n in imported if n == "observe" or n.endswith((".observe", ".events"))] == []
    assert kinds(recorder.EVENTS).count("CallFinished") == 5


@pytest.mark.parametrize("mode", MODES)
def test_a_lone_observer_that_raises_changes_no_result_and_is_reported_once(
    recorder: Any,  # noqa: F811
    mode: str,
) -> None:
    def run(observers: list[str]) -> list[Any]:
        provider = FakeProvider()
        provider.enqueue_error(500)  # a retry: RetryScheduled raises too
        with make_client(provider, {"modelbus": {"observers": observers}}) as client:
            return [call(client, mode, "hi"), call(client, mode, "hi"), call(client, mode, "yo")]

    plain = run([])
    with capture_logs() as logs:
        broken = run(["boom"])
    strip = [(r.content, r.usage, r.attempts, r.cached, r.model) for r in plain]
    assert [(r.content, r.usage, r.attempts, r.cached, r.model) for r in broken] == strip
    reports = [e for e in logs if e["event"] == "modelbus.observer_failed"]
    assert len(reports) == 1
    assert (reports[0]["observer"], reports[0]["call_event"]) == ("boom", "CallStarted")
    assert "sk-observer-secret-123" not in reports[0]["error"]


def test_every_call_started_names_the_providers_endpoint(recorder: Any) -> None:  # noqa: F811
    with make_client(FakeProvider(cache_identity="https://fake.example/v1"), OBSERVED) as client:
        for mode in MODES:
            call(client, mode, f"hello {mode}")
            call(client, mode, f"hello {mode}")
        client.embed(["one"])
    started = [e for e in recorder.EVENTS if isinstance(e, CallStarted)]
    assert len(started) == 9
    assert {e.endpoint for e in started} == {"https://fake.example/v1"}


def test_observers_that_fail_to_close_are_each_reported_and_the_rest_closed() -> None:
    import structlog

    from modelbus._engine.observe import Observers

    closed: list[str] = []

    class Closing:
        def __init__(self, name: str, fail: bool) -> None:
            self.name, self.fail = name, fail

        def on_event(self, event: Any) -> None:
            pass

        def close(self) -> None:
            closed.append(self.name)
            if self.fail:
                raise OSError("disk full, key sk-closing-secret-456")

    items = [(n, "tests", Closing(n, fail=n != "b")) for n in ("a", "b", "c")]
    items.append(("no-close", "tests", object()))  # type: ignore[arg-type]
    with capture_logs() as logs:
        Observers(items, structlog.get_logger()).close()  # type: ignore[arg-type]
    assert closed == ["a", "b", "c"]
    reports = [e for e in logs if e["event"] == "modelbus.observer_failed"]
    assert [(r["observer"], r["plugin"]) for r in reports] == [("a", "tests"), ("c", "tests")]
    assert all("OSError: disk full" in r["error"] for r in reports)
    assert all("sk-closing-secret-456" not in r["error"] for r in reports)
    assert all(r["note"] == "while closing; the client closed anyway" for r in reports)
