"""Tools: Python functions a model may call, their JSON schemas, and running their calls.

    @modelbus.tool
    def get_weather(city: str, units: Literal["celsius", "fahrenheit"] = "celsius") -> str:
        '''Current weather for a city.

        Args:
            city: City name, e.g. "Paris".
        '''

The schema of the arguments is made by :func:`modelbus._schemas.json_schema.json_schema`
from the type hints (an attrs class is built from the signature), the description from
the docstring (summary and ``Args:`` in Google, NumPy or reST style; ``Annotated[str,
"..."]`` works too). Arguments are parsed as JSON and structured by the strict converter
of :mod:`modelbus._schemas.values` before the function runs, so the function only ever
sees values of its declared types.

Running a call never raises for the tool's sake: bad JSON, arguments that do not fit, an
unknown tool name and an exception inside the tool all become the ``role: "tool"``
message's content (``"Error: ValueError: ..."``, at most :data:`MAX_ERROR_CHARS`
characters) so the model can read it and try again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import json
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

import attrs

from .._schemas.json_schema import json_schema
from .._schemas.values import describe_error, schema_converter
from .._wire.types import FunctionSpec, Message, ToolCall, ToolSpec

if TYPE_CHECKING:
    from .._plugins.registry import Registry

__all__ = ["MAX_ERROR_CHARS", "Tool", "ToolRegistry", "format_result", "tool"]

#: Longest error text sent back to the model as a tool result, in characters.
MAX_ERROR_CHARS = 2000
# OpenAI's rule for function names (Chat Completions API reference, ``tools[].function.name``).
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _short(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 15] + "... (truncated)"


def format_result(value: Any) -> str:
    """A tool's return value as message content: a ``str`` as is, anything else as JSON
    (attrs classes, dicts, lists, dates via the schema converter; other objects by
    ``str()``)."""
    if isinstance(value, str):
        return value
    data = schema_converter(False).unstructure(value)
    return json.dumps(data, ensure_ascii=False, default=str)


def _args_class(fn: Callable[..., Any], name: str, strict: bool) -> type:
    """An attrs class whose fields are ``fn``'s parameters (kw-only, defaults kept)."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError) as exc:
        raise TypeError(f"tool {name!r}: cannot resolve its type hints: {exc}") from exc
    import docstring_parser

    params_doc = {
        p.arg_name: (p.description or "").strip()
        for p in docstring_parser.parse(fn.__doc__ or "").params
    }
    fields: dict[str, Any] = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(
                f"tool {name!r}: *args/**kwargs ({p.name}) cannot be described "
                "by a JSON schema; name every parameter"
            )
        tp = hints.get(p.name, Any)
        if p.name not in hints and strict:
            raise TypeError(f"tool {name!r}: parameter {p.name!r} has no type hint")
        meta = {"description": params_doc[p.name]} if params_doc.get(p.name) else {}
        default = attrs.NOTHING if p.default is p.empty else p.default
        fields[p.name] = attrs.field(type=tp, default=default, metadata=meta)
    return attrs.make_class(f"{name}_arguments", fields, kw_only=True, frozen=True)


def _description(fn: Callable[..., Any]) -> str | None:
    import docstring_parser

    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    return (doc.description or "").strip() or None


class Tool:
    """A function the model may call: ``name``, ``description``, the JSON ``parameters``
    schema and the function itself (sync or ``async def``).

    Calling a Tool object calls the function unchanged. :attr:`spec` is the
    :class:`ToolSpec` sent in ``tools``; :meth:`execute`/:meth:`aexecute` run a model's
    :class:`ToolCall` and return the ``role: "tool"`` :class:`Message`.

    Raises ``TypeError`` at definition for parameters the schema cannot describe
    (``*args``, a missing hint in strict mode, an unsupported type) and ``ValueError``
    for a name outside OpenAI's ``^[a-zA-Z0-9_-]{1,64}$``.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool = True,
    ) -> None:
        if isinstance(fn, Tool):
            fn = fn.fn
        self.fn: Callable[..., Any] = fn
        self.name: str = name or str(getattr(fn, "__name__", ""))
        if not _NAME.match(self.name):
            raise ValueError(
                f"tool name {self.name!r} must match ^[a-zA-Z0-9_-]{{1,64}}$ "
                "(OpenAI function name rule)"
            )
        self.description = description if description is not None else _description(fn)
        self.strict = strict
        self.is_async = inspect.iscoroutinefunction(fn)
        self.arguments_type = _args_class(fn, self.name, strict)
        self.parameters = json_schema(self.arguments_type, strict=strict)
        self._fields = tuple(a.name for a in attrs.fields(self.arguments_type))
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"Tool({self.name!r}, async={self.is_async}, strict={self.strict})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    @functools.cached_property
    def spec(self) -> ToolSpec:
        """The ``tools`` entry (``strict: true`` when the schema is strict)."""
        return ToolSpec(
            FunctionSpec(
                self.name, self.description, self.parameters, True if self.strict else None
            )
        )

    def parse_arguments(self, arguments: str) -> dict[str, Any]:
        """The keyword arguments for the function from the model's JSON ``arguments``.

        Raises ``ValueError`` naming the tool and the problem (bad JSON, a field of the
        wrong type, a missing or unknown field)."""
        try:
            data = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError) as exc:  # (nested deeper than the decoder goes)
            raise ValueError(f"arguments of {self.name!r} are not valid JSON ({exc})") from None
        try:
            obj: Any = schema_converter(self.strict).structure(data, self.arguments_type)
        except Exception as exc:
            raise ValueError(
                f"invalid arguments for {self.name!r}: {describe_error(exc)}"
            ) from None
        return {f: getattr(obj, f) for f in self._fields}

    def _error(self, call: ToolCall, text: str) -> Message:
        return Message("tool", _short(f"Error: {text}"), tool_call_id=call.id)

    def execute(self, call: ToolCall) -> Message:
        """Run ``call`` (sync; an ``async def`` tool runs on its own event loop) and return
        the tool message. Exceptions become the message's content; ``BaseException``s
        that are not ``Exception`` (KeyboardInterrupt...) propagate."""
        try:
            kwargs = self.parse_arguments(call.function.arguments)
        except ValueError as exc:
            return self._error(call, str(exc))
        try:
            result = _run_coro(self.fn(**kwargs)) if self.is_async else self.fn(**kwargs)
            return Message("tool", format_result(result), tool_call_id=call.id)
        except Exception as exc:
            return self._error(call, f"{type(exc).__name__}: {exc}")

    async def aexecute(self, call: ToolCall) -> Message:
        """The async twin of :meth:`execute`; a sync tool runs in a worker thread
        (``asyncio.to_thread``) so it neither blocks the loop nor other calls."""
        try:
            kwargs = self.parse_arguments(call.function.arguments)
        except ValueError as exc:
            return self._error(call, str(exc))
        try:
            if self.is_async:
                result = await self.fn(**kwargs)
            else:
                result = await asyncio.to_thread(self.fn, **kwargs)
            return Message("tool", format_result(result), tool_call_id=call.id)
        except Exception as exc:
            return self._error(call, f"{type(exc).__name__}: {exc}")


def _run_coro(coro: Any) -> Any:
    """Run a coroutine from sync code: on a fresh loop here, or in a worker thread when
    this thread already runs a loop (a sync ``chat`` called from async code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, strict: bool = True
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = True,
) -> Any:
    """Make a :class:`Tool` of a function: ``@tool`` or ``@tool(name=..., strict=False)``.

    ``strict=False`` gives a plain JSON schema (optional parameters left out of
    ``required``, ``Any`` allowed) and sends no ``strict`` flag."""
    if fn is not None:
        return Tool(fn, name=name, description=description, strict=strict)
    return lambda f: Tool(f, name=name, description=description, strict=strict)


class ToolRegistry:
    """Tools by name, and running a round of calls.

    ``max_workers`` bounds the threads that run one round's calls in sync code (OpenAI's
    parallel tool calls are independent by definition; ``1`` runs them one after the
    other); async code runs them all at once with ``asyncio.gather``. Results keep the
    calls' order. Raises ``ValueError`` for a name registered twice.
    """

    def __init__(
        self, tools: Iterable[Tool | Callable[..., Any]] = (), *, max_workers: int = 4
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self.max_workers = max_workers
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    @classmethod
    def from_plugins(cls, registry: Registry) -> ToolRegistry:
        """The tools plugins contributed through ``modelbus_register_tools``."""
        out = cls()
        for r in registry.of_kind("tools"):
            f = r.factory
            if isinstance(f, Tool):
                out.add(
                    f
                    if f.name == r.name and not r.description
                    else Tool(
                        f.fn,
                        name=r.name,
                        description=r.description or f.description,
                        strict=f.strict,
                    )
                )
            else:
                out.add(Tool(f, name=r.name, description=r.description))
        return out

    def add(self, t: Tool | Callable[..., Any]) -> Tool:
        """Add a Tool (or a function, made into one); returns the Tool."""
        t = t if isinstance(t, Tool) else Tool(t)
        if t.name in self._tools and self._tools[t.name] is not t:
            raise ValueError(f"tool name {t.name!r} is registered twice")
        self._tools[t.name] = t
        return t

    def register(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool = True,
    ) -> Any:
        """Add ``fn`` as a tool; also a decorator (``@registry.register`` or
        ``@registry.register(name=...)``). Returns the :class:`Tool`."""
        if fn is None:
            return lambda f: self.add(Tool(f, name=name, description=description, strict=strict))
        return self.add(Tool(fn, name=name, description=description, strict=strict))

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        """The ``tools`` entries to send, in registration order."""
        return tuple(t.spec for t in self._tools.values())

    def _unknown(self, call: ToolCall) -> Message:
        known = ", ".join(self._tools) or "(none)"
        return Message(
            "tool",
            _short(f"Error: unknown tool {call.function.name!r}; available: {known}"),
            tool_call_id=call.id,
        )

    def execute(self, call: ToolCall) -> Message:
        """Run one call (see :meth:`Tool.execute`); an unknown name is an error message."""
        t = self._tools.get(call.function.name)
        return self._unknown(call) if t is None else t.execute(call)

    async def aexecute(self, call: ToolCall) -> Message:
        t = self._tools.get(call.function.name)
        return self._unknown(call) if t is None else await t.aexecute(call)

    def execute_all(self, calls: Sequence[ToolCall]) -> list[Message]:
        """Run a round of calls on up to ``max_workers`` threads; messages in call order."""
        if len(calls) <= 1 or self.max_workers == 1:
            return [self.execute(c) for c in calls]
        with concurrent.futures.ThreadPoolExecutor(
            min(self.max_workers, len(calls)), thread_name_prefix="modelbus-tool"
        ) as pool:
            return list(pool.map(self.execute, calls))

    async def aexecute_all(self, calls: Sequence[ToolCall]) -> list[Message]:
        """Run a round of calls concurrently (``asyncio.gather``); messages in call order."""
        return list(await asyncio.gather(*(self.aexecute(c) for c in calls)))
