"""JSON values ⇄ Python values for the types
:func:`modelbus._schemas.json_schema.json_schema` covers.

``schema_converter(strict)`` is a :class:`cattrs.Converter` that reads exactly what the
matching schema allows, and writes values the schema validates:

- scalars are strict: ``"5"`` is not an ``int``, ``1`` is not a ``bool``, ``true`` is not
  an ``int``; an integral float (``3.0``) is an ``int`` (JSON Schema counts it as an
  integer) and an ``int`` is a ``float``;
- a list must be a JSON array (a string is not a ``list[str]``), a fixed ``tuple`` must
  have its exact length, an object must be a JSON object, and unknown keys are errors;
- ``datetime``/``date``/``time`` are ISO 8601 strings (``datetime.fromisoformat``),
  ``UUID`` a UUID string, an ``Enum`` its value;
- a ``Union`` takes the first member that accepts the value, trying members whose JSON
  kind matches the value's first (so ``2`` stays an ``int`` in ``float | int``);
- records (attrs classes, dataclasses, ``TypedDict``, pydantic models; see
  :mod:`._records`) are JSON objects; a pydantic model's own validators run last, and
  their errors are reported like the others;
- strict only: ``dict[str, X]`` is written as ``[{"key": k, "value": v}, ...]`` and read
  from that shape or from a JSON object; ``null`` for a record field that has a default
  (or a ``TypedDict`` key that may be left out) but does not accept ``None`` means "use
  the default" (or "no key").

Errors are :class:`cattrs.BaseValidationError`; :func:`describe_error` makes them one
readable line (``$.city: expected str, got int 5``) to show a model or a user.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import types
import typing
import uuid
from collections import abc
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union

import cattrs
from cattrs.gen import make_dict_structure_fn

from .records import drop_nulls, is_pydantic_model, is_record, is_typeddict, record_fields

__all__ = ["StructureError", "describe_error", "schema_converter", "structure", "unstructure"]

_NONE = type(None)


class StructureError(ValueError):
    """A JSON value that does not fit the expected type (the message says both)."""


def _show(v: Any) -> str:
    r = repr(v)
    return f"{type(v).__name__} {r if len(r) <= 60 else r[:57] + '...'}"


def _scalar(kind: type) -> Callable[[Any, Any], Any]:
    def hook(v: Any, _t: Any) -> Any:
        if kind is bool:
            if isinstance(v, bool):
                return v
        elif isinstance(v, bool):
            pass
        elif kind is int:
            if isinstance(v, int):
                return v
            if isinstance(v, float) and v.is_integer():
                return int(v)
        elif kind is float:
            if isinstance(v, (int, float)):
                return float(v)
        elif isinstance(v, str):
            return v
        raise StructureError(f"expected {kind.__name__}, got {_show(v)}")

    return hook


def _iso(kind: type) -> Callable[[Any, Any], Any]:
    def hook(v: Any, _t: Any) -> Any:
        if not isinstance(v, str):
            raise StructureError(f"expected an ISO 8601 {kind.__name__} string, got {_show(v)}")
        try:
            return uuid.UUID(v) if kind is uuid.UUID else kind.fromisoformat(v)  # type: ignore[attr-defined]
        except ValueError as exc:
            raise StructureError(
                f"expected an ISO 8601 {kind.__name__}, got {v!r}: {exc}"
            ) from None

    return hook


def _kind_matches(tp: Any, v: Any) -> bool:
    """Whether ``tp`` is the natural target of the JSON value ``v`` (for union order)."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = tp.__origin__
    origin = typing.get_origin(tp) or tp
    if v is None:
        return tp is _NONE
    if isinstance(v, bool):
        return tp is bool
    if isinstance(v, int):
        return tp is int
    if isinstance(v, float):
        return tp is float
    if isinstance(v, str):
        return (
            tp is str
            or origin is Literal
            or (isinstance(tp, type) and issubclass(tp, (enum.Enum, dt.date, dt.time, uuid.UUID)))
        )
    if isinstance(v, Mapping):
        return is_record(origin) or origin in (dict, abc.Mapping, abc.MutableMapping)
    return origin in (list, tuple, set, frozenset, abc.Sequence)


def _origin(tp: Any) -> Any:
    return typing.get_origin(tp)


def _is_literal(tp: Any) -> bool:
    return _origin(tp) is Literal


def _is_tuple(tp: Any) -> bool:
    return _origin(tp) is tuple


def _is_mapping(tp: Any) -> bool:
    return _origin(tp) in (dict, abc.Mapping, abc.MutableMapping)


def _instance_of(v: Any, tp: Any) -> bool:
    """Whether the Python value ``v`` is a ``tp`` (shallow: the container kind only)."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = tp.__origin__
    if tp is None or tp is _NONE:
        return v is None
    origin = typing.get_origin(tp)
    if origin is Literal:
        return any(v == a and type(v) is type(a) for a in typing.get_args(tp))
    if _is_union(tp):
        return any(_instance_of(v, a) for a in typing.get_args(tp))
    cls = origin or tp
    if cls in (abc.Sequence, abc.MutableSequence, abc.Collection, abc.Iterable):
        return isinstance(v, (list, tuple))
    if tp is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    return isinstance(cls, type) and isinstance(v, cls)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _accepts_none(tp: Any) -> bool:
    if typing.get_origin(tp) is typing.Annotated:
        tp = tp.__origin__
    if tp is None or tp is _NONE or tp is Any:
        return True
    if _is_union(tp):
        return any(_accepts_none(a) for a in typing.get_args(tp))
    return typing.get_origin(tp) is Literal and None in typing.get_args(tp)


def _is_str_dict(tp: Any) -> bool:
    return typing.get_origin(tp) in (dict, abc.Mapping, abc.MutableMapping) and (
        typing.get_args(tp)[:1] == (str,)
    )


def _is_list_like(tp: Any) -> bool:
    return typing.get_origin(tp) in (
        list,
        abc.Sequence,
        abc.MutableSequence,
        set,
        frozenset,
        abc.Set,
        abc.MutableSet,
        abc.Collection,
        abc.Iterable,
    )


def describe_error(exc: BaseException) -> str:
    """One line for a structuring error: ``$.a: ...; $.b[2]: ...``."""
    if isinstance(exc, cattrs.BaseValidationError):
        lines = cattrs.transform_error(exc, format_exception=_format)
        return "; ".join(_at(p, m) for m, _, p in (ln.rpartition(" @ ") for ln in lines))
    return str(exc)


def _at(path: str, message: str) -> str:
    """``message`` placed at ``path``; a message that holds paths of its own (a nested
    pydantic model's errors, ``$.qty: ...``) has them made absolute."""
    if not message.startswith("$"):
        return f"{path}: {message}"
    return "; ".join(path + part[1:] for part in message.split("; "))


def _format(exc: BaseException, tp: type | None) -> str:
    if isinstance(exc, StructureError):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown field(s) {', '.join(sorted(exc.extra_fields))}"
    name = getattr(tp, "__name__", None) or repr(tp)
    return f"invalid value for {name} ({type(exc).__name__}: {exc})"


@functools.cache
def schema_converter(strict: bool = True) -> cattrs.Converter:
    """The converter for values of schema types (one per mode, shared; cattrs converters
    are safe to use from many threads once their hooks are generated)."""
    # JSON has arrays only: tuples and sets are written as lists.
    c = cattrs.Converter(
        forbid_extra_keys=True,
        unstruct_collection_overrides={abc.Set: list, abc.Sequence: list, tuple: list},
    )
    for kind in (str, int, float, bool):
        c.register_structure_hook(kind, _scalar(kind))

    def none_hook(v: Any, _t: Any) -> None:
        if v is not None:
            raise StructureError(f"expected null, got {_show(v)}")

    c.register_structure_hook(_NONE, none_hook)
    for when in (dt.datetime, dt.date, dt.time):
        c.register_structure_hook(when, _iso(when))
        c.register_unstructure_hook(when, lambda v: v.isoformat())
    c.register_structure_hook(uuid.UUID, _iso(uuid.UUID))
    c.register_unstructure_hook(uuid.UUID, str)

    def enum_hook(v: Any, tp: type[enum.Enum]) -> enum.Enum:
        for m in tp:
            if m.value == v and type(m.value) is type(v):
                return m
        raise StructureError(f"expected one of {[m.value for m in tp]}, got {_show(v)}")

    c.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), enum_hook
    )

    def literal_hook(v: Any, tp: Any) -> Any:
        for a in typing.get_args(tp):
            raw = a.value if isinstance(a, enum.Enum) else a
            if raw == v and type(raw) is type(v):
                return a
        allowed = [a.value if isinstance(a, enum.Enum) else a for a in typing.get_args(tp)]
        raise StructureError(f"expected one of {allowed}, got {_show(v)}")

    c.register_structure_hook_func(_is_literal, literal_hook)
    c.register_unstructure_hook_func(
        _is_literal, lambda v: v.value if isinstance(v, enum.Enum) else v
    )

    def union_hook(v: Any, tp: Any) -> Any:
        members = typing.get_args(tp)
        ordered = sorted(members, key=lambda m: not _kind_matches(m, v))
        errors: list[str] = []
        for m in ordered:
            try:
                return c.structure(v, m)
            except (cattrs.BaseValidationError, StructureError, ValueError, TypeError) as exc:
                errors.append(f"{_name(m)}: {describe_error(exc)}")
        raise StructureError(f"no member of {_name(tp)} accepts {_show(v)} ({'; '.join(errors)})")

    c.register_structure_hook_func(_is_union, union_hook)

    def union_unstructure(tp: Any) -> Callable[[Any], Any]:
        members = typing.get_args(tp)

        def hook(v: Any) -> Any:
            for m in members:
                if _instance_of(v, m):
                    return c.unstructure(v, unstructure_as=m)
            return c.unstructure(v)

        return hook

    c.register_unstructure_hook_factory(_is_union, union_unstructure)

    def guard(
        check: Callable[[Any], bool], what: str, factory: Callable[[Any, cattrs.Converter], Any]
    ) -> Callable[[Any], Any]:
        def make(tp: Any) -> Any:
            inner = factory(tp, c)

            def hook(v: Any, t: Any) -> Any:
                if not check(v):
                    raise StructureError(f"expected {what}, got {_show(v)}")
                return inner(v, t)

            return hook

        return make

    c.register_structure_hook_factory(
        _is_list_like,
        guard(lambda v: isinstance(v, (list, tuple)), "a JSON array", _iterable_factory),
    )
    c.register_structure_hook_factory(_is_tuple, _tuple_factory(c))
    # Later registrations win in cattrs: the strict pair form goes after the plain one.
    c.register_structure_hook_factory(
        _is_mapping,
        guard(
            lambda v: isinstance(v, Mapping),
            "a JSON object",
            lambda tp, conv: cattrs.cols.mapping_structure_factory(tp, conv),
        ),
    )
    if strict:
        c.register_structure_hook_factory(_is_str_dict, _pairs_factory(c))
        c.register_unstructure_hook_factory(_is_str_dict, _pairs_unstructure(c))
    c.register_structure_hook_factory(is_record, _record_factory(c, strict))
    c.register_unstructure_hook_factory(is_pydantic_model, _pydantic_unstructure(c))
    return c


def _name(tp: Any) -> str:
    from .json_schema import type_name

    return type_name(tp)


def _iterable_factory(tp: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    origin = typing.get_origin(tp)
    if origin not in (set, frozenset, abc.Set, abc.MutableSet):
        return cattrs.cols.list_structure_factory(tp, conv)
    (item,) = typing.get_args(tp)
    make = frozenset if origin is frozenset else set
    return lambda v, _t: make(conv.structure(x, item) for x in v)


def _tuple_factory(c: cattrs.Converter) -> Callable[[Any], Any]:
    def make(tp: Any) -> Any:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            inner = cattrs.cols.homogenous_tuple_structure_factory(tp, c)
            n = None
        else:
            args = () if args == ((),) else args
            inner = cattrs.gen.make_hetero_tuple_structure_fn(tuple[args], c)  # type: ignore[valid-type]
            n = len(args)

        def hook(v: Any, t: Any) -> Any:
            if not isinstance(v, (list, tuple)):
                raise StructureError(f"expected a JSON array, got {_show(v)}")
            if n is not None and len(v) != n:
                raise StructureError(f"expected an array of {n} items, got {len(v)}")
            return inner(v, t) if n != 0 else ()

        return hook

    return make


def _pairs_factory(c: cattrs.Converter) -> Callable[[Any], Any]:
    def make(tp: Any) -> Any:
        value_tp = typing.get_args(tp)[1]

        def hook(v: Any, _t: Any) -> dict[str, Any]:
            if isinstance(v, Mapping):
                pairs = list(v.items())
            elif isinstance(v, (list, tuple)):
                pairs = []
                for p in v:
                    if not (isinstance(p, Mapping) and set(p) == {"key", "value"}):
                        raise StructureError(
                            f'expected {{"key": ..., "value": ...}} entries, got {_show(p)}'
                        )
                    pairs.append((p["key"], p["value"]))
            else:
                raise StructureError(f"expected a JSON object or key/value array, got {_show(v)}")
            out: dict[str, Any] = {}
            for k, x in pairs:
                if not isinstance(k, str):
                    raise StructureError(f"expected a string key, got {_show(k)}")
                out[k] = c.structure(x, value_tp)
            return out

        return hook

    return make


def _pairs_unstructure(c: cattrs.Converter) -> Callable[[Any], Any]:
    def make(tp: Any) -> Any:
        value_tp = typing.get_args(tp)[1]
        return lambda d: [
            {"key": k, "value": c.unstructure(x, unstructure_as=value_tp)} for k, x in d.items()
        ]

    return make


def _record_factory(c: cattrs.Converter, strict: bool) -> Callable[[Any], Any]:
    def make(cls: type) -> Any:
        fields = record_fields(cls)
        inner: Callable[[Any, Any], Any]
        if is_pydantic_model(cls):
            inner = _fields_then(cls, c, cls.model_validate)  # type: ignore[attr-defined]
        elif is_typeddict(cls):
            # not cattrs' TypedDict support: on Python 3.11 it reads NotRequired from
            # __required_keys__, which string annotations leave wrong (see _records)
            inner = _fields_then(cls, c, dict)
        else:  # attrs classes and dataclasses
            inner = make_dict_structure_fn(cls, c)

        def hook(v: Any, t: Any) -> Any:
            if not isinstance(v, Mapping):
                raise StructureError(f"expected a JSON object for {cls.__name__}, got {_show(v)}")
            if strict:
                v = drop_nulls(v, fields, _accepts_none)
            return inner(v, t)

        return hook

    return make


def _fields_then(
    cls: type, c: cattrs.Converter, build: Callable[[dict[str, Any]], Any]
) -> Callable[[Any, Any], Any]:
    """Each field read by this converter (the same strictness as every other record),
    then ``build(values)``: ``dict`` for a TypedDict, a pydantic model's own
    ``model_validate`` (so its validators run; their errors are reported with paths)."""
    fields = {f.name: f for f in record_fields(cls)}

    def hook(v: Mapping[str, Any], _t: Any) -> Any:
        errors: list[str] = []
        extra = sorted(set(v) - set(fields))
        if extra:
            errors.append(f"$: unknown field(s) {', '.join(extra)}")
        values: dict[str, Any] = {}
        for key, raw in v.items():
            f = fields.get(key)
            if f is None:
                continue
            try:
                values[key] = c.structure(raw, f.type)
            except Exception as exc:
                errors.append(_at(f"$.{key}", describe_error(exc)))
        errors.extend(
            f"$.{f.name}: required field missing"
            for f in fields.values()
            if not f.optional and f.name not in v
        )
        if errors:
            raise StructureError("; ".join(errors))
        try:
            return build(values)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            details = getattr(exc, "errors", None)
            if details is None:
                raise StructureError(str(exc)) from None
            raise StructureError(
                "; ".join(
                    "$"
                    + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
                    + f": {e['msg']}"
                    for e in details()
                )
            ) from None

    return hook


def _pydantic_unstructure(c: cattrs.Converter) -> Callable[[Any], Any]:
    def make(cls: type) -> Any:
        fields = record_fields(cls)
        return lambda obj: {
            f.name: c.unstructure(getattr(obj, f.attribute), unstructure_as=f.type) for f in fields
        }

    return make


def structure(value: Any, tp: Any, *, strict: bool = True) -> Any:
    """``value`` (decoded JSON) as a ``tp``; raises :class:`cattrs.BaseValidationError` or
    :class:`StructureError` (see :func:`describe_error`)."""
    return schema_converter(strict).structure(value, tp)


def unstructure(value: Any, tp: Any = None, *, strict: bool = True) -> Any:
    """``value`` as JSON-ready data fitting ``json_schema(tp, strict=strict)``."""
    return schema_converter(strict).unstructure(value, unstructure_as=tp)
