"""Observer plugins (``modelbus_register_observers``) and the call events they receive.

The observers come from a stand-in distribution found through its entry point, as a
third-party plugin would be; the provider is a scripted FakeProvider. The same
behaviours run in the four modes (chat, achat, stream, astream)."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import modelbus
from modelbus.errors import AuthenticationError, ConfigError, PluginError
from modelbus.events import (
    CacheHit,
    CacheMissed,
    CacheStored,
    CallFailed,
    CallFinished,
    CallStarted,
    FallbackTaken,
    FirstChunk,
    RetryScheduled,
    ToolFinished,
    ToolStarted,
)
from modelbus.testing import FakeProvider, make_client
from tests.core.plugin_kit import standin_dist

DOCS_EXAMPLE = Path(__file__).resolve().parents[2] / "docs/examples/observers/tokens_per_model.py"

RECORDER = '''
import attrs
import modelbus

EVENTS = []


@attrs.frozen
class RecorderSettings:
    """``tag``: a label (checks that ``[observers.recorder]`` is structured)."""

    tag: str = ""


class Recorder:
    def __init__(self, settings):
        self.settings = settings

    def on_event(self, event):
        EVENTS.append(event)


class Boom:
    def on_event(self, event):
        raise RuntimeError("observer bug, key sk-observer-secret-123")


@modelbus.hookimpl
def modelbus_register_observers(register):
    register("recorder", Recorder, settings=RecorderSettings, description="records events")
    register("boom", Boom, description="raises on every event")
'''

MODES = ("chat", "achat", "stream", "astream")


@pytest.fixture
def recorder(fresh_plugins: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    root = standin_dist(
        tmp_path / "site",
        "modelbus-recorder",
        "1.0",
        {"recorder": "mb_recorder", "tokens": "tokens_per_model"},
        modules={"mb_recorder": RECORDER, "tokens_per_model": DOCS_EXAMPLE.read_text()},
    )
    monkeypatch.syspath_prepend(str(root))
    mod = importlib.import_module("mb_recorder")
    mod.EVENTS.clear()
    return mod


def call(client: modelbus.Client, mode: str, prompt: str, **kw: Any) -> modelbus.ChatResponse:
    """One call in ``mode``; a stream is read to its end and its response returned."""
    if mode == "chat":
        return client.chat(prompt, **kw)
    if mode == "achat":
        return asyncio.run(client.achat(prompt, **kw))
    if mode == "stream":
        s = client.stream(prompt, **kw)
        list(s)
        return s.response

    async def astream() -> modelbus.ChatResponse:
        s = client.astream(prompt, **kw)
        _ = [c async for c in s]
        return s.response

    return asyncio.run(astream())


def kinds(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_no_observer_configured_means_no_observers_object() -> None:
    with make_client(FakeProvider()) as client:
        assert client.engine.observers is None


@pytest.mark.parametrize("mode", MODES)
def test_a_miss_then_a_hit_emit_the_same_events_in_every_mode(recorder: Any, mode: str) -> None:
    provider = FakeProvider()
    with make_client(provider, {"modelbus": {"observers": ["recorder"]}}) as client:
        first = call(client, mode, "hello")
        second = call(client, mode, "hello")
    stream = mode.endswith("stream")
    chunk = ["FirstChunk"] if stream else []
    assert kinds(recorder.EVENTS) == [
        "CallStarted",
        "CacheMissed",
        *chunk,
        "CacheStored",
        "CallFinished",
        "CallStarted",
        "CacheHit",
        *chunk,
        "CallFinished",
    ]
    started, missed = recorder.EVENTS[0], recorder.EVENTS[1]
    assert isinstance(started, CallStarted)
    assert (started.operation, started.provider, started.model) == ("chat", "fake", "fake-model")
    assert started.stream is stream and started.parent_id is None
    assert started.request is not None and started.request.messages[-1].text == "hello"
    assert isinstance(missed, CacheMissed)
    ids = {e.call_id for e in recorder.EVENTS[: len(recorder.EVENTS) // 2]}
    assert ids == {started.call_id}
    done_miss = next(e for e in recorder.EVENTS if isinstance(e, CallFinished))
    done_hit = recorder.EVENTS[-1]
    assert isinstance(done_hit, CallFinished)
    assert done_miss.response == first and done_miss.usage == first.usage
    assert (done_miss.cache, done_miss.cached, done_miss.billed) == ("miss", False, True)
    assert (done_hit.cache, done_hit.cached, done_hit.billed) == ("hit", True, False)
    assert done_hit.response == second and done_hit.attempts == 0
    hit = next(e for e in recorder.EVENTS if isinstance(e, CacheHit))
    stored = next(e for e in recorder.EVENTS if isinstance(e, CacheStored))
    assert hit.key == stored.key == missed.key
    if stream:
        ttfc = [e for e in recorder.EVENTS if isinstance(e, FirstChunk)]
        assert all(0 <= e.time_to_first_chunk_s <= done_miss.latency_s + 1 for e in ttfc)


@pytest.mark.parametrize("mode", MODES)
def test_retries_are_reported_with_the_error_and_the_delay(recorder: Any, mode: str) -> None:
    provider = FakeProvider()
    provider.enqueue_error(
        503, "overloaded, key sk-abcdefghijklmnop", headers={"x-request-id": "r1"}
    )
    config = {"modelbus": {"observers": ["recorder"], "cache": "none"}}
    with make_client(provider, config) as client:
        resp = call(client, mode, "hi")
    assert resp.attempts == 2
    retry = next(e for e in recorder.EVENTS if isinstance(e, RetryScheduled))
    assert retry.attempt == 1 and retry.delay_s > 0
    assert retry.error.type == "ServerError" and retry.error.status_code == 503
    assert retry.error.request_id == "r1"
    assert "sk-abcdefghijklmnop" not in retry.error.message  # redacted
    done = recorder.EVENTS[-1]
    assert isinstance(done, CallFinished) and done.attempts == 2 and done.cache == "bypass"
    assert "CacheMissed" not in kinds(recorder.EVENTS)


@pytest.mark.parametrize("mode", MODES)
def test_a_fallback_is_one_call_with_a_fallback_event(recorder: Any, mode: str) -> None:
    provider = FakeProvider()
    provider.enqueue_error(503, "down", headers={"x-should-retry": "false"})
    config = {
        "modelbus": {"observers": ["recorder"], "cache": "none"},
        "models": {"main": {"provider": "fake", "model": "m1", "fallbacks": ["fake/m2"]}},
    }
    with make_client(provider, config) as client:
        resp = call(client, mode, "hi", model="main")
    assert resp.model == "m2"
    assert kinds(recorder.EVENTS).count("CallStarted") == 1
    fb = next(e for e in recorder.EVENTS if isinstance(e, FallbackTaken))
    assert (fb.from_model, fb.to_model, fb.reason) == ("m1", "m2", "unavailable")
    assert fb.error.status_code == 503
    assert isinstance(recorder.EVENTS[-1], CallFinished)


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_call_emits_call_failed_and_raises_as_before(recorder: Any, mode: str) -> None:
    provider = FakeProvider()
    provider.enqueue_error(401, "bad key sk-abcdefghijklmnop")
    config = {"modelbus": {"observers": ["recorder"], "cache": "none"}}
    with make_client(provider, config) as client, pytest.raises(AuthenticationError):
        call(client, mode, "hi")
    failed = recorder.EVENTS[-1]
    assert isinstance(failed, CallFailed)
    assert failed.error.type == "AuthenticationError" and failed.error.status_code == 401
    assert "sk-abcdefghijklmnop" not in failed.error.message


@pytest.mark.parametrize("is_async", [False, True])
def test_a_stream_closed_early_fails_its_call_at_once(recorder: Any, is_async: bool) -> None:
    provider = FakeProvider(default_text="one two three")
    with make_client(provider, {"modelbus": {"observers": ["recorder"]}}) as client:
        if is_async:

            async def go() -> None:
                async with client.astream("hi") as s:
                    async for _ in s:
                        break
                assert kinds(recorder.EVENTS)[-1] == "CallFailed"  # before the loop ends

            asyncio.run(go())
        else:
            with client.stream("hi") as s:
                for _ in s:
                    break
    assert kinds(recorder.EVENTS) == ["CallStarted", "CacheMissed", "FirstChunk", "CallFailed"]
    assert recorder.EVENTS[-1].error.type == "GeneratorExit"


@pytest.mark.parametrize("is_async", [False, True])
def test_the_tool_loop_nests_its_rounds_and_reports_each_tool(
    recorder: Any, is_async: bool
) -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    provider = FakeProvider()
    provider.enqueue_tool_call("add", '{"a": 2, "b": 3}', call_id="c1")
    provider.enqueue_text("5")
    with make_client(provider, {"modelbus": {"observers": ["recorder"]}}) as client:
        if is_async:
            resp = asyncio.run(client.achat("2+3?", tools=[add]))
        else:
            resp = client.chat("2+3?", tools=[add])
    ev = recorder.EVENTS
    loop = ev[0]
    assert isinstance(loop, CallStarted) and loop.operation == "tool_loop"
    rounds = [e for e in ev if isinstance(e, CallStarted) and e.operation == "chat"]
    assert len(rounds) == 2 and all(r.parent_id == loop.call_id for r in rounds)
    started = next(e for e in ev if isinstance(e, ToolStarted))
    finished = next(e for e in ev if isinstance(e, ToolFinished))
    assert started.call_id == finished.call_id == loop.call_id
    assert (started.name, started.tool_call_id, started.arguments) == (
        "add",
        "c1",
        '{"a": 2, "b": 3}',
    )
    assert finished.result == "5" and not finished.failed and finished.duration_s >= 0
    done = ev[-1]
    assert isinstance(done, CallFinished) and done.call_id == loop.call_id
    assert done.operation == "tool_loop" and not done.billed
    assert done.response == resp and done.usage == resp.usage


@pytest.mark.parametrize("is_async", [False, True])
def test_embeddings_are_calls_too(recorder: Any, is_async: bool) -> None:
    with make_client(FakeProvider(), {"modelbus": {"observers": ["recorder"]}}) as client:
        texts = ["a b", "c"]
        resp = asyncio.run(client.aembed(texts)) if is_async else client.embed(texts)
    started, done = recorder.EVENTS
    assert isinstance(started, CallStarted) and started.operation == "embeddings"
    assert (
        isinstance(done, CallFinished) and done.response == resp and done.usage.prompt_tokens == 3
    )


@pytest.mark.parametrize("mode", MODES)
def test_an_observer_that_raises_changes_no_result_and_is_reported_once(
    recorder: Any, mode: str
) -> None:
    def run(observers: list[str]) -> list[Any]:
        provider = FakeProvider()
        provider.enqueue_error(500)
        config = {"modelbus": {"observers": observers}}
        with make_client(provider, config) as client:
            return [call(client, mode, "hi"), call(client, mode, "hi"), call(client, mode, "yo")]

    plain = run([])
    with capture_logs() as logs:
        broken = run(["boom", "recorder"])
    strip = [(r.content, r.usage, r.attempts, r.cached, r.model) for r in plain]
    assert [(r.content, r.usage, r.attempts, r.cached, r.model) for r in broken] == strip
    reports = [e for e in logs if e["event"] == "modelbus.observer_failed"]
    assert len(reports) == 1
    assert reports[0]["observer"] == "boom" and reports[0]["plugin"] == "modelbus-recorder"
    assert reports[0]["call_event"] == "CallStarted"
    assert "sk-observer-secret-123" not in reports[0]["error"]
    # The observer after the broken one still saw everything.
    assert kinds(recorder.EVENTS).count("CallFinished") == 3


def test_the_guide_example_counts_each_provider_calls_tokens_once(recorder: Any) -> None:
    def echo(text: str) -> str:
        """Echo ``text``."""
        return text

    provider = FakeProvider()
    with make_client(provider, {"modelbus": {"observers": ["tokens"]}}) as client:
        client.chat("a")
        client.chat("a")  # a cache hit spends nothing
        list(client.stream("b"))
        provider.enqueue_tool_call("echo", '{"text": "x"}')
        client.chat("c", tools=[echo])
        client.chat("d", model="other-model")
        assert client.engine.observers is not None
        counter = client.engine.observers._items[0][2]
        totals = client.usage_totals
    assert sum(counter.tokens.values()) == totals.usage.total_tokens
    assert counter.tokens == {"fake-model": 15 * 4, "other-model": 15}


def test_observer_names_and_settings_are_checked(recorder: Any) -> None:
    with pytest.raises(PluginError, match="no observer named 'nope'.*recorder"):
        make_client(FakeProvider(), {"modelbus": {"observers": ["nope"]}})
    bad = {"modelbus": {"observers": ["recorder"]}, "observers": {"recorder": {"tga": "x"}}}
    with pytest.raises(ConfigError, match="observers.recorder.tga"):
        make_client(FakeProvider(), bad)
    good = {"modelbus": {"observers": ["recorder"]}, "observers": {"recorder": {"tag": "x"}}}
    with make_client(FakeProvider(), good) as client:
        assert client.engine.observers is not None
        assert client.engine.observers._items[0][2].settings.tag == "x"


def test_config_check_names_an_unknown_observer(recorder: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from modelbus.cli import cli

    bad, good = tmp_path / "bad.toml", tmp_path / "good.toml"
    bad.write_text('[modelbus]\nobservers = ["recorder", "nope"]\n')
    good.write_text('[modelbus]\nobservers = ["recorder"]\n[observers.recorder]\ntag = "x"\n')
    result = CliRunner().invoke(cli, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert "no observers plugin named 'nope'" in result.output
    assert "modelbus.observers" in result.output and "recorder" in result.output
    assert CliRunner().invoke(cli, ["config", "check", str(good)]).exit_code == 0


def test_concurrent_identical_calls_are_counted_once_by_the_guide_example(
    recorder: Any,
) -> None:
    """8 threads ask the same question: single-flight makes one provider call, the other
    7 are answered with it (``cache == "shared"``, not billed), and the example observer,
    called from all 8 threads, counts its tokens once."""
    import threading

    from tests.core.test_singleflight import KEY, PROMPT, GatedProvider, _wait_until

    provider = GatedProvider()
    with make_client(provider, {"modelbus": {"observers": ["tokens", "recorder"]}}) as client:
        threads = [threading.Thread(target=client.chat, args=(PROMPT,)) for _ in range(8)]
        for t in threads:
            t.start()
        _wait_until(lambda: client.engine.flight.waiters(KEY) == 7, "7 threads joining the flight")
        provider.gate.set()
        for t in threads:
            t.join(30)
        assert client.engine.observers is not None
        counter = client.engine.observers._items[0][2]
        totals = client.usage_totals
    finished = [e for e in recorder.EVENTS if isinstance(e, CallFinished)]
    assert sorted(e.cache for e in finished) == ["miss"] + ["shared"] * 7
    assert provider.calls == 1 and totals.shared == 7
    assert counter.tokens == {"fake-model": 15} == {"fake-model": totals.usage.total_tokens}


def test_an_observer_raising_in_many_threads_at_once_is_reported_once(recorder: Any) -> None:
    # observability.md: an observer that raises is reported once per client, also when
    # 16 threads meet its failure at the same time (the first report wins atomically).
    provider = FakeProvider()
    with capture_logs() as logs, make_client(provider, {"modelbus": {"observers": ["boom"]}}) as c:
        results = c.batch([f"q{i}" for i in range(200)], concurrency=16)
    assert all(r.ok for r in results) and provider.calls == 200
    reports = [e for e in logs if e["event"] == "modelbus.observer_failed"]
    assert len(reports) == 1 and reports[0]["observer"] == "boom"
