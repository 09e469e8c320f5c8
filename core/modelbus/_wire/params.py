"""Checking a model alias's default ``params`` (``[models.X] params``) when the config is
read, so that a misspelled name or a value no call could send fails ``config check`` and
client start-up, not the first ``chat``.

The accepted names are the :class:`~modelbus.ChatRequest` fields a caller may set (the
OpenAI Chat Completions parameters; provider-specific ones go in ``extra_body``). Values
are checked for the shape modelbus itself relies on (types, finite numbers, ``max_tokens
>= 1``...); ranges a provider enforces (``temperature <= 2`` on OpenAI) are left to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from .types import ChatRequest

__all__ = ["REQUEST_PARAMS", "ParamError", "check_params"]

REQUEST_PARAMS: frozenset[str] = frozenset(
    a.name for a in attrs.fields(ChatRequest) if a.name not in ("model", "messages", "stream")
)

_FLOATS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
# name → smallest accepted value (modelbus budgets and context checks add max_tokens).
_INTS = {
    "max_tokens": 1,
    "max_completion_tokens": 1,
    "n": 1,
    "top_logprobs": 0,
    "seed": None,
}
_BOOLS = ("parallel_tool_calls", "logprobs")
_STRINGS = ("reasoning_effort", "user")
_TABLES = ("response_format", "extra_body", "logit_bias")


class ParamError(ValueError):
    """A bad alias parameter: ``name`` is the parameter, ``accepted`` the known names
    (empty when the name is known and the value is wrong)."""

    def __init__(self, name: str, message: str, accepted: tuple[str, ...] = ()) -> None:
        self.name = name
        self.accepted = accepted
        super().__init__(message)


def _finite(value: Any) -> bool:
    """Whether ``value`` holds no NaN or infinity at any depth (JSON has neither)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _check_one(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for parameter ``name``, or ``None``."""
    if not _finite(value):
        return "NaN and infinity are not JSON numbers; no API accepts them"
    if name in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {_kind(value)}"
        if name == "temperature" and value < 0:
            return f"must be >= 0, got {value!r}"
        if name == "top_p" and not 0 <= value <= 1:
            return f"must be between 0 and 1, got {value!r}"
    elif name in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer, got {_kind(value)}"
        low = _INTS[name]
        if low is not None and value < low:
            return f"must be >= {low}, got {value!r}"
    elif name in _BOOLS:
        if not isinstance(value, bool):
            return f"expected true or false, got {_kind(value)}"
    elif name in _STRINGS:
        if not isinstance(value, str):
            return f"expected a string, got {_kind(value)}"
    elif name in _TABLES:
        if not isinstance(value, Mapping):
            return f"expected a table, got {_kind(value)}"
    elif name == "stop":
        ok = isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(s, str) for s in value)
        )
        if not ok:
            return f"expected a string or an array of strings, got {_kind(value)}"
    elif name == "tool_choice":
        if not isinstance(value, (str, Mapping)):
            return f"expected a string or a table, got {_kind(value)}"
    elif name == "tools":
        return _check_tools(value)
    return None


def _check_tools(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"expected an array of tool tables, got {_kind(value)}"
    for i, tool in enumerate(value):
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if not (
            isinstance(fn, Mapping)
            and isinstance(fn.get("name"), str)
            and tool.get("type", "function") == "function"
        ):
            return f'tool {i} is not {{ type = "function", function = {{ name = "..." }} }}'
    return None


def check_params(params: Mapping[str, Any]) -> None:
    """Raise :class:`ParamError` for the first unknown name or bad value in ``params``
    (the OpenAI-named chat parameters of an alias). Names come from :class:`ChatRequest`;
    see the module doc for what values are checked."""
    accepted = tuple(sorted(REQUEST_PARAMS))
    for name, value in params.items():
        if name not in REQUEST_PARAMS:
            raise ParamError(
                name,
                f"unknown chat parameter {name!r} (provider-specific ones go in "
                "extra_body = { ... })",
                accepted,
            )
        problem = _check_one(name, value)
        if problem is not None:
            raise ParamError(name, f"invalid value for chat parameter {name!r}: {problem}")
