"""Record types, whoever defined them: one view of attrs classes, dataclasses,
``TypedDict`` and pydantic models for the schema generator and its converter.

A *record* is a type whose JSON form is an object with named fields. Each kind keeps its
own meaning of "optional": a field with a default (attrs, dataclasses, pydantic) or a key
that may be left out (``TypedDict``: ``total=False`` or ``NotRequired``). In OpenAI strict
schemas every key is required, so such a field becomes nullable and ``null`` means "use
the default" (or "leave the key out" for a TypedDict): :func:`drop_nulls` undoes that
before the value is built.

pydantic is never imported here: a type can only be a pydantic model once the caller's
code has imported pydantic, so ``sys.modules`` is consulted instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import json
import sys
import typing
from collections.abc import Mapping
from typing import Any

import attrs
from attrs import frozen

__all__ = [
    "NOT_JSON",
    "RecordField",
    "class_doc",
    "drop_nulls",
    "is_pydantic_model",
    "is_record",
    "is_typeddict",
    "record_fields",
]


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Any = _NotJson()


@frozen
class RecordField:
    """One field of a record: its ``name`` (the JSON key), ``type`` (hints resolved,
    ``Annotated`` kept), whether it may be omitted (``optional``: a default or a
    ``NotRequired`` key), its ``default`` as JSON (``NOT_JSON`` when it has none or it is
    not plain JSON), its ``description`` (``None`` when the source gives none) and the
    Python ``attribute`` holding it (``name`` but for a pydantic alias)."""

    name: str
    type: Any
    optional: bool
    default: Any = NOT_JSON
    description: str | None = None
    attribute: str = attrs.field(
        default=attrs.Factory(lambda self: self.name, takes_self=True)  # type: ignore[misc]
    )


def is_typeddict(tp: Any) -> bool:
    """``tp`` is a ``TypedDict`` class (``typing`` or ``typing_extensions``)."""
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def is_pydantic_model(tp: Any) -> bool:
    """``tp`` is a pydantic v2 ``BaseModel`` subclass (pydantic already imported)."""
    pydantic = sys.modules.get("pydantic")
    return (
        pydantic is not None
        and isinstance(tp, type)
        and issubclass(tp, pydantic.BaseModel)
        and tp is not pydantic.BaseModel
    )


def is_record(tp: Any) -> bool:
    """``tp`` is an attrs class, a dataclass, a ``TypedDict`` or a pydantic model."""
    return (
        attrs.has(tp)
        or (isinstance(tp, type) and dataclasses.is_dataclass(tp))
        or is_typeddict(tp)
        or is_pydantic_model(tp)
    )


def _json_default(d: Any) -> Any:
    if isinstance(d, enum.Enum):
        d = d.value
    elif isinstance(d, (dt.date, dt.time)):
        d = d.isoformat()
    elif isinstance(d, (tuple, set, frozenset)):
        d = list(d)
    try:
        json.dumps(d)
    except (TypeError, ValueError):
        return NOT_JSON
    return d


_PLAIN_FACTORIES = (list, dict, tuple, set, frozenset)


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except (NameError, TypeError) as exc:
        raise TypeError(f"cannot resolve the type hints of {cls.__name__}: {exc}") from exc


def _attrs_fields(cls: type, docs: Mapping[str, str]) -> tuple[RecordField, ...]:
    hints = _hints(cls)
    out = []
    for a in attrs.fields(cls):
        if not a.init:
            continue
        d: Any = a.default
        if isinstance(d, attrs.Factory):  # type: ignore[arg-type]
            d = d.factory() if not d.takes_self and d.factory in _PLAIN_FACTORIES else NOT_JSON
        desc = a.metadata.get("description") or docs.get(a.name) or docs.get(a.name.lstrip("_"))
        out.append(
            RecordField(
                a.name,
                hints.get(a.name, a.type),
                a.default is not attrs.NOTHING,
                NOT_JSON if a.default is attrs.NOTHING else _json_default(d),
                desc,
            )
        )
    return tuple(out)


def _dataclass_fields(cls: type, docs: Mapping[str, str]) -> tuple[RecordField, ...]:
    hints = _hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            optional, d = True, _json_default(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            factory = f.default_factory
            optional = True
            d = factory() if factory in _PLAIN_FACTORIES else NOT_JSON
        else:
            optional, d = False, NOT_JSON
        desc = f.metadata.get("description") or docs.get(f.name)
        out.append(RecordField(f.name, hints.get(f.name, f.type), optional, d, desc))
    return tuple(out)


def _typeddict_fields(cls: type, docs: Mapping[str, str]) -> tuple[RecordField, ...]:
    hints = _hints(cls)
    required = cls.__required_keys__  # type: ignore[attr-defined]
    out = []
    for name, tp in hints.items():
        # Python 3.11 cannot see Required/NotRequired in string annotations (PEP 563), so
        # __required_keys__ is wrong there: the resolved hint decides. The field's type is
        # X (kept Annotated, if it was).
        optional = name not in required
        while (q := typing.get_origin(tp)) in (typing.Required, typing.NotRequired):
            optional = q is typing.NotRequired
            (tp,) = typing.get_args(tp)
        out.append(RecordField(name, tp, optional, NOT_JSON, docs.get(name)))
    return tuple(out)


def _pydantic_fields(cls: type, docs: Mapping[str, str]) -> tuple[RecordField, ...]:
    hints = _hints(cls)
    out = []
    for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
        key = info.alias or name
        optional = not info.is_required()
        d: Any = NOT_JSON
        if optional and info.default_factory is None:
            d = _json_default(info.default)
        elif optional and info.default_factory in _PLAIN_FACTORIES:
            d = info.default_factory()
        tp = hints.get(name, info.annotation)
        out.append(RecordField(key, tp, optional, d, info.description or docs.get(name), name))
    return tuple(out)


@functools.cache
def class_doc(cls: type) -> tuple[str | None, dict[str, str]]:
    """A class's own docstring: its description and ``{field: description}`` from an
    ``Attributes:``/``Args:`` section (Google, NumPy or reST style). The signature a
    dataclass writes when it has no docstring (``Point(x: int, y: int)``) is no
    description."""
    raw = cls.__dict__.get("__doc__")
    if not isinstance(raw, str) or not raw.strip():
        return None, {}
    if dataclasses.is_dataclass(cls) and raw.startswith(f"{cls.__name__}("):
        return None, {}
    import docstring_parser

    parsed = docstring_parser.parse(raw)
    params = {p.arg_name: p.description.strip() for p in parsed.params if p.description}
    return (parsed.description or "").strip() or None, params


@functools.cache
def record_fields(cls: type) -> tuple[RecordField, ...]:
    """The fields of record ``cls`` in declaration order (``init=False`` fields left
    out); a field without a description of its own takes the one of the class
    docstring's ``Attributes:`` section. Raises ``TypeError`` for a type that is not a
    record or whose hints cannot be resolved."""
    docs = class_doc(cls)[1]
    if attrs.has(cls):
        return _attrs_fields(cls, docs)
    if dataclasses.is_dataclass(cls):
        return _dataclass_fields(cls, docs)
    if is_typeddict(cls):
        return _typeddict_fields(cls, docs)
    if is_pydantic_model(cls):
        return _pydantic_fields(cls, docs)
    raise TypeError(f"{cls!r} is not an attrs class, dataclass, TypedDict or pydantic model")


def drop_nulls(
    value: Mapping[str, Any], fields: tuple[RecordField, ...], accepts_none: Any
) -> Mapping[str, Any]:
    """``value`` without the ``null`` of optional fields whose type does not take
    ``None``: in a strict schema such a field is nullable and ``null`` stands for "use the
    default" (or "no key", for a TypedDict). ``accepts_none(tp)`` says whether ``tp``
    takes ``None`` itself."""
    drop = [
        f.name
        for f in fields
        if f.optional and value.get(f.name, 0) is None and not accepts_none(f.type)
    ]
    if not drop:
        return value
    return {k: x for k, x in value.items() if k not in drop}
