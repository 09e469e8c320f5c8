"""JSON Schema from Python types: the one generator behind tools and structured output.

:func:`json_schema` turns a type (an attrs class, ``list[X]``, ``Literal[...]``...) into a
JSON Schema (draft 2020-12). With ``strict=True`` (the default) the schema follows the
subset OpenAI's Structured Outputs accept ("Supported schemas" in the Structured Outputs
guide), so it can be sent with ``strict: true`` in a tool or a ``response_format``:

- every object has ``additionalProperties: false`` and lists *all* its properties in
  ``required``; a field with a default becomes nullable and ``null`` means "use the
  default" (the default is written in its ``description``, since strict schemas take no
  ``default`` keyword — Azure rejects it);
- ``$ref`` never has siblings: a described reference to a finished ``$defs`` entry is
  inlined with the description (as the ``openai`` SDK's ``to_strict_json_schema`` does);
  a described self-reference keeps the bare ``$ref`` and drops the description;
- ``dict[str, X]`` cannot be an ``additionalProperties`` schema, so it is an array of
  ``{"key": ..., "value": ...}`` objects (the converter in :mod:`._schema_convert` reads
  and writes that shape); ``tuple[X, Y]`` is an array of ``minItems == maxItems == 2``
  whose items are ``anyOf`` the element types (``prefixItems`` is not in the subset);
- ``Any`` and bare ``list``/``dict`` are errors (strict schemas need a type everywhere).

With ``strict=False`` the schema is plain JSON Schema: optional fields are left out of
``required`` and carry ``default``, dicts use ``additionalProperties``, tuples use
``prefixItems``.

Types: ``str``, ``int``, ``float``, ``bool``, ``None``, ``list``/``Sequence``/``set``,
``tuple``, ``dict``/``Mapping`` with ``str`` keys, ``Literal``, ``Enum``, ``Optional`` and
``Union``, ``datetime``/``date``/``time`` (strings of format ``date-time``/``date``/
``time``, ISO 8601), ``uuid.UUID`` (format ``uuid``), ``NewType``, records (nested ones
in ``$defs``, recursion allowed: attrs classes, dataclasses, ``TypedDict`` and pydantic
models, see :mod:`._records`) and ``Annotated[X, "description"]``. Descriptions come from
``Annotated`` strings, field metadata (attrs and dataclass ``metadata={"description":
...}``, pydantic ``Field(description=...)``) and the class docstring (summary, and an
``Attributes:``/``Args:`` section for fields, in Google, NumPy or reST style, parsed by
``docstring_parser``). A pydantic model's own constraints and validators are not in the
schema; they run when the value is built.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import types
import typing
import uuid
from typing import Annotated, Any, Literal, Union

from .records import NOT_JSON, class_doc, is_record, record_fields
from .type_tests import MAPPINGS, NONE, SEQUENCES

__all__ = ["NOT_JSON", "class_doc", "json_schema", "type_name"]

_FORMATS: dict[type, str] = {
    dt.datetime: "date-time",
    dt.date: "date",
    dt.time: "time",
    uuid.UUID: "uuid",
}


def json_schema(tp: Any, *, strict: bool = True) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``tp``, as a new dict.

    Nested attrs classes go in ``$defs`` (named by class name, ``_2``... on a clash); the
    root class, when ``tp`` is one, is the root object and ``{"$ref": "#"}`` refers to it.
    ``strict`` gives OpenAI strict-mode schemas (see the module doc). Raises
    ``TypeError`` naming the unsupported type and where it was found (``Order.items[]``).
    Note that OpenAI wants an object at the root of a ``response_format``; wrapping a
    non-object type is the caller's choice.
    """
    gen = _Gen(strict, tp if is_record(tp) else None)
    schema = gen.schema(tp, type_name(tp))
    if gen.defs:
        schema["$defs"] = gen.defs
    return schema


def type_name(tp: Any) -> str:
    """A short readable name for a type (``int``, ``list[str]``, ``Order``)."""
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("collections.abc.", "")


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    raise TypeError(f"enum/Literal value {v!r} is not a JSON string, number, boolean or null")


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = sorted({_json_type(v) for v in values})
    return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": values}


def _simple(s: dict[str, Any]) -> bool:
    """A schema that a type list can make nullable (``{"type": X}``, maybe with ``enum``)."""
    return "type" in s and set(s) <= {"type", "enum"}


def _nullable(s: dict[str, Any]) -> dict[str, Any]:
    if _simple(s):
        t = s["type"]
        kinds = t if isinstance(t, list) else [t]
        if "null" in kinds:
            return s
        out: dict[str, Any] = {"type": [*kinds, "null"]}
        if "enum" in s:
            out["enum"] = [*s["enum"], None]
        return out
    if s.get("type") == "null" or {"type": "null"} in s.get("anyOf", ()):
        return s
    return {"anyOf": [s, {"type": "null"}]}


def _accepts_null(s: dict[str, Any]) -> bool:
    t = s.get("type")
    return (
        t == "null"
        or (isinstance(t, list) and "null" in t)
        or ({"type": "null"} in s.get("anyOf", ()))
    )


class _Gen:
    def __init__(self, strict: bool, root: type | None) -> None:
        self.strict = strict
        self.root = root
        self.defs: dict[str, dict[str, Any]] = {}
        self.names: dict[type, str] = {}
        self.building: set[type] = set()

    def schema(self, tp: Any, path: str) -> dict[str, Any]:
        desc = None
        if typing.get_origin(tp) is Annotated:
            desc = next((m for m in tp.__metadata__ if isinstance(m, str)), None)
            tp = tp.__origin__
        s = self._bare(tp, path)
        return self.describe(s, desc) if desc else s

    def describe(self, s: dict[str, Any], desc: str) -> dict[str, Any]:
        ref = s.get("$ref")
        if ref is None:
            return {**s, "description": desc}
        if not self.strict:
            return {**s, "description": desc}
        target = self.defs.get(ref.rsplit("/", 1)[-1]) if ref != "#" else None
        if target is None or not target:  # self-reference still being built
            return s
        return {**target, "description": desc}

    def _bare(self, tp: Any, path: str) -> dict[str, Any]:
        if tp is Any or tp is object:
            if self.strict:
                raise TypeError(f"{path}: Any has no JSON schema in strict mode; name a type")
            return {}
        if tp is None or tp is NONE:
            return {"type": "null"}
        if isinstance(tp, type):
            return self._class(tp, path)
        supertype = getattr(tp, "__supertype__", None)  # typing.NewType
        if supertype is not None:
            return self.schema(supertype, path)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is Literal:
            return _enum_schema([a.value if isinstance(a, enum.Enum) else a for a in args])
        if origin is Union or origin is types.UnionType:
            return self._union(args, path)
        if origin is tuple:
            return self._tuple(args, path)
        if origin in SEQUENCES:
            return {"type": "array", "items": self.schema(args[0], path + "[]")}
        if origin in MAPPINGS:
            return self._mapping(args, path)
        raise TypeError(f"{path}: unsupported type {type_name(tp)} for a JSON schema")

    def _class(self, tp: type, path: str) -> dict[str, Any]:
        if is_record(tp):
            return self._record(tp, path)
        if issubclass(tp, enum.Enum):
            s = _enum_schema([m.value for m in tp])
            doc, _ = class_doc(tp)
            return {**s, "description": doc} if doc else s
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if tp is str:
            return {"type": "string"}
        for base, fmt in _FORMATS.items():
            if issubclass(tp, base):
                return {"type": "string", "format": fmt}
        if tp in SEQUENCES or tp in MAPPINGS or tp is tuple:
            if self.strict:
                raise TypeError(
                    f"{path}: bare {tp.__name__} needs item types in strict mode "
                    f"(e.g. {tp.__name__}[str])"
                )
            return {"type": "object" if tp in MAPPINGS else "array"}
        raise TypeError(f"{path}: unsupported type {type_name(tp)} for a JSON schema")

    def _union(self, args: tuple[Any, ...], path: str) -> dict[str, Any]:
        others = [a for a in args if a is not NONE and a is not None]
        nullable = len(others) < len(args)
        if len(others) == 1:
            s = self.schema(others[0], path)
            return _nullable(s) if nullable else s
        schemas = [self.schema(a, path) for a in others]
        if all(set(s) == {"type"} and isinstance(s["type"], str) for s in schemas):
            kinds = list(dict.fromkeys(s["type"] for s in schemas))
            if nullable:
                kinds.append("null")
            return {"type": kinds}
        if nullable:
            schemas.append({"type": "null"})
        return {"anyOf": schemas}

    def _tuple(self, args: tuple[Any, ...], path: str) -> dict[str, Any]:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": self.schema(args[0], path + "[]")}
        if args == ((),):  # tuple[()]
            args = ()
        items = [self.schema(a, f"{path}[{i}]") for i, a in enumerate(args)]
        n = len(items)
        if not self.strict:
            return {
                "type": "array",
                "prefixItems": items,
                "items": False,
                "minItems": n,
                "maxItems": n,
            }
        unique: list[dict[str, Any]] = []
        for s in items:
            if s not in unique:
                unique.append(s)
        if not unique:
            return {"type": "array", "maxItems": 0}
        item = unique[0] if len(unique) == 1 else {"anyOf": unique}
        return {"type": "array", "items": item, "minItems": n, "maxItems": n}

    def _mapping(self, args: tuple[Any, ...], path: str) -> dict[str, Any]:
        if not args:
            return self._class(dict, path)
        key, value = args
        if key is not str:
            raise TypeError(f"{path}: dict keys must be str in a JSON schema, got {type_name(key)}")
        vs = self.schema(value, path + "{}")
        if not self.strict:
            return {"type": "object", "additionalProperties": vs}
        return {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"key": {"type": "string"}, "value": vs},
                "required": ["key", "value"],
                "additionalProperties": False,
            },
        }

    def _record(self, cls: type, path: str) -> dict[str, Any]:
        if cls is self.root:
            if cls in self.building:
                return {"$ref": "#"}
            self.building.add(cls)
            try:
                return self._object(cls, path)
            finally:
                self.building.discard(cls)
        name = self.names.get(cls)
        if name is None:
            name = cls.__name__
            n = 2
            while name in self.defs:
                name = f"{cls.__name__}_{n}"
                n += 1
            self.names[cls] = name
            self.defs[name] = {}  # reserved; filled below (recursion sees it empty)
            self.building.add(cls)
            try:
                self.defs[name] = self._object(cls, cls.__name__)
            finally:
                self.building.discard(cls)
        return {"$ref": f"#/$defs/{name}"}

    def _object(self, cls: type, path: str) -> dict[str, Any]:
        try:
            fields = record_fields(cls)
        except TypeError as exc:
            raise TypeError(f"{path}: {exc}") from exc
        doc = class_doc(cls)[0]
        props: dict[str, Any] = {}
        required: list[str] = []
        for f in fields:
            s = self.schema(Any if f.type is None else f.type, f"{path}.{f.name}")
            desc = f.description
            if self.strict:
                required.append(f.name)
                if f.optional and not _accepts_null(s):
                    s = _nullable(s)
                    if f.default is not NOT_JSON:
                        shown = json.dumps(f.default, ensure_ascii=False)
                        desc = f"{desc} (default: {shown})" if desc else f"Default: {shown}."
            else:
                if f.optional:
                    if f.default is not NOT_JSON:
                        s = {**s, "default": f.default}
                else:
                    required.append(f.name)
            props[f.name] = self.describe(s, desc) if desc else s
        out: dict[str, Any] = {"type": "object"}
        if doc:
            out["description"] = doc
        out["properties"] = props
        out["required"] = required
        out["additionalProperties"] = False
        return out
