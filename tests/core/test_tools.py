"""Tools (core/modelbus/_tools.py): schemas from signatures, argument checking, execution,
and tools contributed by plugins."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import threading
from typing import Annotated, Any, Literal

import attrs
import pytest
from jsonschema import Draft202012Validator

import modelbus
from modelbus import FunctionCall, Message, ToolCall, ToolRegistry, hookimpl
from modelbus._plugins.registry import Registration, Registry
from modelbus._tools.registry import MAX_ERROR_CHARS, Tool, format_result, tool


class Units(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@attrs.frozen
class Window:
    """A time window."""

    start: dt.datetime
    hours: int = 1


@tool
def get_weather(city: str, units: Units = Units.CELSIUS, days: int = 1) -> str:
    """Current weather for a city.

    Longer explanation on a second paragraph.

    Args:
        city: City name, e.g. "Paris".
        units: Temperature units.
        days: How many days of forecast.
    """
    return f"{city}: 21 {units.value} for {days} day(s)"


def call(name: str, arguments: str, call_id: str = "call_1") -> ToolCall:
    return ToolCall(call_id, FunctionCall(name, arguments))


def test_schema_from_signature_and_docstring() -> None:
    t = get_weather
    assert t.name == "get_weather"
    assert (
        t.description == "Current weather for a city.\n\nLonger explanation on a second paragraph."
    )
    p = t.parameters
    Draft202012Validator.check_schema(p)
    assert p["type"] == "object" and p["additionalProperties"] is False
    assert p["required"] == ["city", "units", "days"]
    assert p["properties"]["city"] == {"type": "string", "description": 'City name, e.g. "Paris".'}
    assert p["properties"]["units"] == {
        "type": ["string", "null"],
        "enum": ["celsius", "fahrenheit", None],
        "description": 'Temperature units. (default: "celsius")',
    }
    assert p["properties"]["days"] == {
        "type": ["integer", "null"],
        "description": "How many days of forecast. (default: 1)",
    }
    spec = modelbus.converter.unstructure(t.spec)
    assert spec == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": p,
            "strict": True,
            "description": t.description,
        },
    }


def test_decorated_function_still_callable() -> None:
    assert get_weather("Oslo") == "Oslo: 21 celsius for 1 day(s)"
    assert get_weather.__doc__ is not None and get_weather.__name__ == "get_weather"


def test_non_strict_tool_schema() -> None:
    @tool(strict=False, name="lookup", description="Look a thing up.")
    def f(query: str, limit: int = 5, extra: Any = None) -> list[str]:
        return [query] * limit

    assert f.name == "lookup" and f.description == "Look a thing up."
    assert f.parameters["required"] == ["query"]
    assert f.parameters["properties"]["limit"] == {"type": "integer", "default": 5}
    assert f.spec.function.strict is None


def test_annotated_literal_and_attrs_parameters() -> None:
    @tool
    def schedule(
        window: Window,
        kind: Annotated[Literal["call", "visit"], "What to schedule"],
        attendees: list[str],
    ) -> Window:
        """Schedule something."""
        return window

    p = schedule.parameters
    assert p["properties"]["window"] == {"$ref": "#/$defs/Window"}
    assert p["properties"]["kind"] == {
        "type": "string",
        "enum": ["call", "visit"],
        "description": "What to schedule",
    }
    assert p["$defs"]["Window"]["properties"]["start"]["format"] == "date-time"
    msg = schedule.execute(
        call(
            "schedule",
            '{"window": {"start": "2024-05-01T10:00:00Z", '
            '"hours": null}, "kind": "call", "attendees": ["a"]}',
        )
    )
    # an attrs return value is sent back as JSON
    assert msg.content == '{"start": "2024-05-01T10:00:00+00:00", "hours": 1}'


@pytest.mark.parametrize(
    "define, match",
    [
        ("def f(*args: int) -> None: ...", r"\*args/\*\*kwargs \(args\)"),
        ("def f(**kw: int) -> None: ...", r"\*args/\*\*kwargs \(kw\)"),
        ("def f(x) -> None: ...", "parameter 'x' has no type hint"),
        ("def f(x: complex) -> None: ...", "unsupported type complex"),
    ],
)
def test_bad_signatures_fail_at_definition(define: str, match: str) -> None:
    ns: dict[str, Any] = {}
    exec(define, ns)
    with pytest.raises(TypeError, match=match):
        Tool(ns["f"])


def test_bad_name() -> None:
    with pytest.raises(ValueError, match="must match"):
        Tool(lambda: None, name="has space")


def test_execute_validates_arguments_before_calling() -> None:
    seen: list[Any] = []

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        seen.append((a, b))
        return a + b

    ok = add.execute(call("add", '{"a": 2, "b": 3.0}', "c9"))
    assert ok == Message("tool", "5", tool_call_id="c9")
    bad = add.execute(call("add", '{"a": "2", "b": 3}'))
    assert bad.content == ("Error: invalid arguments for 'add': $.a: expected int, got str '2'")
    missing = add.execute(call("add", '{"a": 1}'))
    assert missing.content is not None and "$.b: required field missing" in missing.content
    extra = add.execute(call("add", '{"a": 1, "b": 2, "c": 3}'))
    assert extra.content is not None and "unknown field(s) c" in extra.content
    not_json = add.execute(call("add", '{"a": 1,'))
    assert not_json.content is not None and not_json.content.startswith(
        "Error: arguments of 'add' are not valid JSON"
    )
    assert seen == [(2, 3)]


def test_exception_in_tool_becomes_capped_message() -> None:
    @tool
    def boom(n: int) -> str:
        raise RuntimeError("x" * 5000)

    msg = boom.execute(call("boom", '{"n": 1}', "c2"))
    assert msg.role == "tool" and msg.tool_call_id == "c2"
    assert msg.content is not None
    assert msg.content.startswith("Error: RuntimeError: xxx")
    assert len(msg.content) == MAX_ERROR_CHARS and msg.content.endswith("(truncated)")


def test_base_exceptions_propagate() -> None:
    @tool
    def stop() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stop.execute(call("stop", "{}"))


def test_empty_arguments_mean_no_arguments() -> None:
    @tool
    def now() -> str:
        return "noon"

    assert now.execute(call("now", "")).content == "noon"


def test_async_tool_runs_from_sync_and_async() -> None:
    @tool
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    assert double.is_async
    assert double.execute(call("double", '{"x": 4}')).content == "8"
    assert asyncio.run(double.aexecute(call("double", '{"x": 5}'))).content == "10"


async def test_async_tool_from_sync_code_inside_a_running_loop() -> None:
    @tool
    async def triple(x: int) -> int:
        return x * 3

    # a sync execute while this thread runs a loop: the coroutine runs on another thread
    assert triple.execute(call("triple", '{"x": 2}')).content == "6"


def test_format_result() -> None:
    assert format_result("plain") == "plain"
    assert format_result({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert format_result(None) == "null"
    assert format_result(Window(dt.datetime(2024, 1, 1))) == (
        '{"start": "2024-01-01T00:00:00", "hours": 1}'
    )
    assert format_result(Units.CELSIUS) == '"celsius"'


def test_registry_basics_and_unknown_tool() -> None:
    reg = ToolRegistry([get_weather])

    @reg.register(name="ping")
    def _ping() -> str:
        return "pong"

    assert reg.names() == ["get_weather", "ping"] and len(reg) == 2 and "ping" in reg
    assert [s.function.name for s in reg.specs()] == ["get_weather", "ping"]
    msg = reg.execute(call("nope", "{}", "c3"))
    assert msg.content == "Error: unknown tool 'nope'; available: get_weather, ping"
    assert msg.tool_call_id == "c3"
    with pytest.raises(ValueError, match="registered twice"):
        reg.add(Tool(_ping.fn, name="ping"))
    with pytest.raises(ValueError, match="max_workers"):
        ToolRegistry(max_workers=0)


def test_execute_all_runs_calls_on_threads_in_order() -> None:
    barrier = threading.Barrier(3, timeout=10)  # fails (BrokenBarrierError) if sequential

    @tool
    def wait(tag: str) -> str:
        barrier.wait()
        return tag

    reg = ToolRegistry([wait], max_workers=3)
    out = reg.execute_all([call("wait", f'{{"tag": "{t}"}}', t) for t in "abc"])
    assert [(m.content, m.tool_call_id) for m in out] == [("a", "a"), ("b", "b"), ("c", "c")]


def test_execute_all_sequential_with_one_worker() -> None:
    order: list[str] = []
    active = threading.Semaphore(1)

    @tool
    def step(tag: str) -> str:
        assert active.acquire(blocking=False), "two calls ran at once"
        order.append(tag)
        active.release()
        return tag

    reg = ToolRegistry([step], max_workers=1)
    reg.execute_all([call("step", f'{{"tag": "{t}"}}', t) for t in "xyz"])
    assert order == ["x", "y", "z"]


def test_tools_from_plugins() -> None:
    def search(query: str) -> str:
        """Search the web."""
        return query

    class Plugin:
        @hookimpl
        def modelbus_register_tools(self, register: Any) -> None:
            register("web_search", search, description="Search (plugin text).")
            register("weather", get_weather)

    import pluggy

    from modelbus import hookspecs

    pm = pluggy.PluginManager("modelbus")
    pm.add_hookspecs(hookspecs)
    pm.register(Plugin())
    registry = Registry()
    errors: list[BaseException] = []
    pm.hook.modelbus_register_tools(register=registry.registrar("tools", "p", "dist-p", errors))
    assert not errors
    tools = ToolRegistry.from_plugins(registry)
    assert tools.names() == ["web_search", "weather"]
    assert tools["web_search"].description == "Search (plugin text)."
    assert tools["weather"].fn is get_weather.fn
    assert tools.execute(call("web_search", '{"query": "q"}')).content == "q"
    registry.add(Registration("tools", "dup", search, plugin="x"))
    assert "dup" in ToolRegistry.from_plugins(registry)
