"""Partial values from incomplete JSON, for streams.

:func:`complete_prefix` parses the JSON received so far with ``jiter`` (``partial_mode=
"on"``), keeping only what is certainly complete: an unfinished string, ``true``/
``false``/``null`` or number is left out (a number at the very end may still grow, so it
is cut before parsing). Objects and arrays are kept open: they fill in as the stream goes.

:func:`partial_type` is the type partial values have: for a record ``C`` (an attrs
class, a dataclass, a ``TypedDict`` or a pydantic model) it is a frozen attrs class
``PartialC`` with the same field (JSON key) names, each ``X | None = None`` where
``X`` is the field's type made partial in turn (nested classes, items of lists and values
of dicts). ``list[C]`` becomes ``list[PartialC]``; scalars, ``Literal`` and ``Enum`` stay as
they are (they only appear once complete). A class that contains itself has its nested
occurrences left as plain dicts. A nested object or array shows as soon as it opens
(empty), then fills in.

:func:`partial_value` builds the partial value of a complete prefix; it first drops
``{"key": ..., "value": ...}`` entries (strict schemas' form of ``dict[str, X]``) that
have not got both halves yet.
"""

from __future__ import annotations

import re
import threading
import types
import typing
from collections import abc
from typing import Any, Union

import attrs
import jiter

from modelbus.plugin import is_record, record_fields, structure

__all__ = ["complete_prefix", "partial_type", "partial_value"]

_NUMBER_TAIL = re.compile(r"-?[0-9][0-9.eE+-]*$|-$")
_SEQUENCES = (
    list,
    set,
    frozenset,
    abc.Sequence,
    abc.MutableSequence,
    abc.Set,
    abc.MutableSet,
    abc.Collection,
    abc.Iterable,
)
_MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)
_NOTHING = object()


def complete_prefix(text: str) -> Any:
    """The complete part of the JSON document ``text`` begins, or ``None`` when nothing
    parses yet (or ``text`` is not JSON)."""
    t = text.strip()
    if not t:
        return None
    t = _NUMBER_TAIL.sub("", t)
    if not t:
        return None
    try:
        return jiter.from_json(t.encode(), partial_mode="on")
    except ValueError:
        return None


_cache: dict[Any, Any] = {}
_building: set[type] = set()
_lock = threading.RLock()


def partial_type(tp: Any) -> Any:
    """The type of partial values of ``tp`` (see the module docstring)."""
    with _lock:
        return _partial(tp)


def _partial(tp: Any) -> Any:
    if typing.get_origin(tp) is typing.Annotated:
        tp = tp.__origin__
    if is_record(tp):
        return _partial_class(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        return Union[tuple(_partial(a) for a in args)]  # noqa: UP007 (built from a tuple)
    if origin in _SEQUENCES:
        return list[_partial(args[0])]  # type: ignore[misc]
    if origin is tuple:
        # a fixed-length tuple is short while it streams; items keep their own types
        return list[Any]
    if origin in _MAPPINGS and args:
        return dict[args[0], _partial(args[1])]  # type: ignore[misc,valid-type]
    return tp


def _partial_class(cls: type) -> Any:
    known = _cache.get(cls)
    if known is not None:
        return known
    if cls in _building:
        return dict[str, Any]  # a class inside itself: its nested copies stay dicts
    _building.add(cls)
    try:
        fields = {
            f.name: attrs.field(default=None, type=_partial(f.type) | None)
            for f in record_fields(cls)
        }
    finally:
        _building.discard(cls)
    made = attrs.make_class(f"Partial{cls.__name__}", fields, frozen=True, kw_only=True)
    made.__doc__ = (
        f"A partly received {cls.__name__}: the same fields, each None until it is complete."
    )
    made.__module__ = cls.__module__
    _cache[cls] = made
    return made


def partial_value(tp: Any, data: Any, *, strict: bool = True) -> Any:
    """``data`` (a :func:`complete_prefix` of a value of ``tp``) as a value of
    :func:`partial_type` ``(tp)``; raises the converter's errors when it does not fit."""
    return structure(_trim(tp, data), partial_type(tp), strict=strict)


def _trim(tp: Any, data: Any) -> Any:
    """``data`` without half-received key/value pairs, walking ``tp`` alongside."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = tp.__origin__
    if data is None:
        return None
    if is_record(tp) and isinstance(data, dict):
        types_of = {f.name: f.type for f in record_fields(tp)}
        return {k: _trim(types_of.get(k, Any), v) for k, v in data.items()}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        return _trim(members[0], data) if len(members) == 1 else data
    if origin in _SEQUENCES and isinstance(data, list):
        return [_trim(args[0], x) for x in data]
    if origin in _MAPPINGS and args:
        if isinstance(data, list):
            return [
                {"key": p["key"], "value": _trim(args[1], p["value"])}
                for p in data
                if isinstance(p, dict) and "key" in p and "value" in p
            ]
        if isinstance(data, dict):
            return {k: _trim(args[1], v) for k, v in data.items()}
    return data
