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
import typing
import uuid
from collections import abc
from collections.abc import Callable, Mapping
from typing import Any

import cattrs

from .record_hooks import pydantic_unstructure, record_factory
from .records import is_pydantic_model, is_record
from .type_tests import (
    NONE,
    instance_of,
    is_list_like,
    is_literal,
    is_mapping,
    is_str_dict,
    is_tuple,
    is_union,
    kind_matches,
)
from .value_errors import StructureError, describe_error, show
from .value_hooks import (
    iso,
    iterable_factory,
    pairs_factory,
    pairs_unstructure,
    scalar,
    tuple_factory,
)

# StructureError and describe_error are re-exported: ``modelbus.plugin`` and the tool
# registry import them from here.
__all__ = ["StructureError", "describe_error", "schema_converter", "structure", "unstructure"]


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
        c.register_structure_hook(kind, scalar(kind))

    def none_hook(v: Any, _t: Any) -> None:
        if v is not None:
            raise StructureError(f"expected null, got {show(v)}")

    c.register_structure_hook(NONE, none_hook)
    for when in (dt.datetime, dt.date, dt.time):
        c.register_structure_hook(when, iso(when))
        c.register_unstructure_hook(when, lambda v: v.isoformat())
    c.register_structure_hook(uuid.UUID, iso(uuid.UUID))
    c.register_unstructure_hook(uuid.UUID, str)

    def enum_hook(v: Any, tp: type[enum.Enum]) -> enum.Enum:
        for m in tp:
            if m.value == v and type(m.value) is type(v):
                return m
        raise StructureError(f"expected one of {[m.value for m in tp]}, got {show(v)}")

    c.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), enum_hook
    )

    def literal_hook(v: Any, tp: Any) -> Any:
        for a in typing.get_args(tp):
            raw = a.value if isinstance(a, enum.Enum) else a
            if raw == v and type(raw) is type(v):
                return a
        allowed = [a.value if isinstance(a, enum.Enum) else a for a in typing.get_args(tp)]
        raise StructureError(f"expected one of {allowed}, got {show(v)}")

    c.register_structure_hook_func(is_literal, literal_hook)
    c.register_unstructure_hook_func(
        is_literal, lambda v: v.value if isinstance(v, enum.Enum) else v
    )

    def union_hook(v: Any, tp: Any) -> Any:
        members = typing.get_args(tp)
        ordered = sorted(members, key=lambda m: not kind_matches(m, v))
        errors: list[str] = []
        for m in ordered:
            try:
                return c.structure(v, m)
            except (cattrs.BaseValidationError, StructureError, ValueError, TypeError) as exc:
                errors.append(f"{_name(m)}: {describe_error(exc)}")
        raise StructureError(f"no member of {_name(tp)} accepts {show(v)} ({'; '.join(errors)})")

    c.register_structure_hook_func(is_union, union_hook)

    def union_unstructure(tp: Any) -> Callable[[Any], Any]:
        members = typing.get_args(tp)

        def hook(v: Any) -> Any:
            for m in members:
                if instance_of(v, m):
                    return c.unstructure(v, unstructure_as=m)
            return c.unstructure(v)

        return hook

    c.register_unstructure_hook_factory(is_union, union_unstructure)

    def guard(
        check: Callable[[Any], bool], what: str, factory: Callable[[Any, cattrs.Converter], Any]
    ) -> Callable[[Any], Any]:
        def make(tp: Any) -> Any:
            inner = factory(tp, c)

            def hook(v: Any, t: Any) -> Any:
                if not check(v):
                    raise StructureError(f"expected {what}, got {show(v)}")
                return inner(v, t)

            return hook

        return make

    c.register_structure_hook_factory(
        is_list_like,
        guard(lambda v: isinstance(v, (list, tuple)), "a JSON array", iterable_factory),
    )
    c.register_structure_hook_factory(is_tuple, tuple_factory(c))
    # Later registrations win in cattrs: the strict pair form goes after the plain one.
    c.register_structure_hook_factory(
        is_mapping,
        guard(
            lambda v: isinstance(v, Mapping),
            "a JSON object",
            lambda tp, conv: cattrs.cols.mapping_structure_factory(tp, conv),
        ),
    )
    if strict:
        c.register_structure_hook_factory(is_str_dict, pairs_factory(c))
        c.register_unstructure_hook_factory(is_str_dict, pairs_unstructure(c))
    c.register_structure_hook_factory(is_record, record_factory(c, strict))
    c.register_unstructure_hook_factory(is_pydantic_model, pydantic_unstructure(c))
    return c


def _name(tp: Any) -> str:
    from .json_schema import type_name

    return type_name(tp)


def structure(value: Any, tp: Any, *, strict: bool = True) -> Any:
    """``value`` (decoded JSON) as a ``tp``; raises :class:`cattrs.BaseValidationError` or
    :class:`StructureError` (see :func:`describe_error`)."""
    return schema_converter(strict).structure(value, tp)


def unstructure(value: Any, tp: Any = None, *, strict: bool = True) -> Any:
    """``value`` as JSON-ready data fitting ``json_schema(tp, strict=strict)``."""
    return schema_converter(strict).unstructure(value, unstructure_as=tp)
