"""What the caller asked for: :class:`StructuredOutput`, and the schema and parser of a type.

The JSON Schema comes from the core's one generator (:func:`modelbus.plugin.json_schema`)
and values are read by the core's strict cattrs converter
(:func:`modelbus.plugin.structure`): wrong types and unknown keys are errors, and the attrs
classes' own validators run.

OpenAI wants an object at the root of a ``response_format`` (and of a tool's
``parameters``), so a type that is not an attrs class is wrapped: ``list[X]`` (and other
sequences) as ``{"items": [...]}``, anything else (``Literal[...]``, ``dict[str, X]``,
``int``...) as ``{"value": ...}``. The wrapper is unwrapped before the caller sees the
value; the model sees it in the schema.
"""

from __future__ import annotations

import json
import re
import threading
import types
import typing
from collections import abc
from typing import Any, Generic, Literal, TypeVar, Union

import attrs
import cattrs

from modelbus.plugin import (
    StructureError,
    class_doc,
    describe_error,
    is_record,
    json_schema,
    structure,
    type_name,
    unstructure,
)

__all__ = ["MODES", "Invalid", "Mode", "StructuredOutput", "Target", "target_of"]

T = TypeVar("T")

Mode = Literal["auto", "json_schema", "tools", "json", "md_json", "grammar"]
MODES: tuple[str, ...] = typing.get_args(Mode)
_SEQUENCES = (list, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Set, abc.MutableSet)
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]+")


class Invalid(ValueError):
    """A reply that does not fit the target; the message is what the model is told."""


def _check_mode(_inst: object, _a: attrs.Attribute[Any], value: Any) -> None:
    if value not in MODES:
        raise ValueError(f"StructuredOutput mode must be one of {list(MODES)}, got {value!r}")


def _check_reasks(_inst: object, _a: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"StructuredOutput max_reasks must be an int >= 0, got {value!r}")


def _check_name(_inst: object, _a: attrs.Attribute[Any], value: Any) -> None:
    # OpenAI's rule for json_schema.name and function names
    if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise ValueError(
            f"StructuredOutput name must match ^[a-zA-Z0-9_-]{{1,64}}$ (OpenAI's rule for "
            f"schema and function names), got {value!r}"
        )


@attrs.frozen
class StructuredOutput(Generic[T]):
    """A ``response_format`` with options: ``client.chat(..., response_format=
    StructuredOutput(Invoice, mode="tools", max_reasks=1))``. A bare type is the same as
    ``StructuredOutput(type)``.

    Args:
        type: an attrs class, a dataclass, a ``TypedDict``, a pydantic model,
            ``list[X]``, ``Literal[...]``, ``dict[str, X]``, an Enum... (what
            :func:`modelbus.plugin.json_schema` covers). pydantic is imported only by
            your own code: modelbus uses it when the type is a pydantic model.
        mode: ``"auto"`` (from the provider's capabilities), ``"json_schema"`` (native
            Structured Outputs, strict), ``"tools"`` (a forced function call),
            ``"json"`` (``json_object`` plus the schema in the system prompt),
            ``"md_json"`` (the schema in the prompt, the reply read from a fenced
            block) or ``"grammar"`` (llama.cpp: ``response_format`` ``json_object`` with
            ``schema``, turned into a grammar by the server or the embedded backend).
        max_reasks: how many times an invalid reply is sent back with its errors
            (0: never); default 2.
        name: the schema/function name (``^[a-zA-Z0-9_-]{1,64}$``); default from the type.
        description: sent with the schema; default the class docstring's summary.
        strict: OpenAI strict schemas (every field required, optional ones nullable,
            ``additionalProperties: false``); ``False`` sends plain JSON Schema with
            ``strict: false`` (defaults left out of ``required``).

    Raises ``ValueError`` for a bad option; the type is checked when the call is made
    (``TypeError`` naming the unsupported part, e.g. ``Order.items[]``).
    """

    type: Any
    mode: Mode = attrs.field(default="auto", validator=_check_mode)
    max_reasks: int = attrs.field(default=2, validator=_check_reasks)
    name: str | None = attrs.field(default=None, validator=_check_name)
    description: str | None = None
    strict: bool = True


def _strip_annotated(tp: Any) -> Any:
    return tp.__origin__ if typing.get_origin(tp) is typing.Annotated else tp


def _wrap_key(tp: Any) -> str | None:
    """The key a non-object root is wrapped in (``None``: a record, no wrapper)."""
    bare = _strip_annotated(tp)
    if is_record(bare):
        return None
    origin = typing.get_origin(bare)
    if origin in _SEQUENCES or (origin is tuple and typing.get_args(bare)[1:] == (...,)):
        return "items"
    return "value"


def _short(tp: Any) -> str:
    """``list[Invoice]`` → ``list_Invoice`` (class names without their modules)."""
    tp = _strip_annotated(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "Literal"
    if origin is Union or origin is types.UnionType:
        return "_or_".join(_short(a) for a in typing.get_args(tp))
    if origin is not None:
        head = getattr(origin, "__name__", None) or type_name(origin)
        return "_".join([head, *(_short(a) for a in typing.get_args(tp) if a is not ...)])
    return getattr(tp, "__name__", None) or type_name(tp)


def _default_name(tp: Any) -> str:
    return _NAME_BAD.sub("_", _short(tp)).strip("_")[:64] or "response"


@attrs.frozen
class Target:
    """A type made ready to ask for: the root ``schema`` (an object), its ``name`` and
    ``description``, and ``wrap`` (the wrapper key, or ``None`` for a record)."""

    type: Any
    name: str
    description: str | None
    schema: dict[str, Any]
    wrap: str | None
    strict: bool

    def schema_text(self) -> str:
        """The schema as compact JSON, for prompts."""
        return json.dumps(self.schema, ensure_ascii=False, separators=(",", ":"))

    def load(self, data: Any) -> Any:
        """Decoded JSON → the value (unwrapped); raises :class:`Invalid` naming each error
        (``$.lines[0].total: expected float, got str '12'``)."""
        if self.wrap is not None:
            if not isinstance(data, dict):
                raise Invalid(
                    f'expected a JSON object {{"{self.wrap}": ...}}, got {type(data).__name__}'
                )
            extra = sorted(set(data) - {self.wrap})
            if self.wrap not in data or extra:
                what = f"unknown key(s) {', '.join(extra)}" if extra else "key missing"
                raise Invalid(f'$.{self.wrap}: {what}; expected {{"{self.wrap}": ...}}')
            data = data[self.wrap]
        try:
            return structure(data, self.type, strict=self.strict)
        except (cattrs.BaseValidationError, StructureError, ValueError, TypeError) as exc:
            text = describe_error(exc)
            if self.wrap is not None:  # paths as the model sees them, wrapper included
                text = re.sub(r"(^|; )\$", lambda m: f"{m.group(1)}$.{self.wrap}", text)
            raise Invalid(text) from exc

    def loads(self, text: str) -> Any:
        """The model's JSON text → the value; :class:`Invalid` for bad JSON or shape."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            # RecursionError: nested deeper than the decoder goes ("[[[[...", a model
            # repeating itself): as invalid as any other reply, so it is re-asked.
            raise Invalid(f"the reply is not valid JSON: {exc}") from exc
        return self.load(data)

    def dump(self, value: Any) -> Any:
        """A value → JSON-ready data (wrapped) that :attr:`schema` validates."""
        data = unstructure(value, self.type, strict=self.strict)
        return data if self.wrap is None else {self.wrap: data}


_targets: dict[StructuredOutput[Any], Target] = {}
_lock = threading.Lock()


def target_of(spec: StructuredOutput[Any]) -> Target:
    """The :class:`Target` of ``spec`` (kept per spec; schemas are built once). Raises
    ``TypeError`` for a type that has no JSON schema."""
    t = _targets.get(spec)
    if t is not None:
        return t
    tp = spec.type
    inner = json_schema(tp, strict=spec.strict)
    wrap = _wrap_key(tp)
    if wrap is None:
        schema = inner
    else:
        defs = inner.pop("$defs", None)
        schema = {
            "type": "object",
            "properties": {wrap: inner},
            "required": [wrap],
            "additionalProperties": False,
        }
        if defs:
            schema["$defs"] = defs
    bare = _strip_annotated(tp)
    description = spec.description
    if description is None and isinstance(bare, type):
        description = class_doc(bare)[0]
    t = Target(tp, spec.name or _default_name(tp), description, schema, wrap, spec.strict)
    with _lock:
        if len(_targets) > 512:  # bounded: specs are usually module-level constants
            _targets.clear()
        _targets[spec] = t
    return t
