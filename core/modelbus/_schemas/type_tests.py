"""Tests on types and values that the schema converter (``values.py``) dispatches on:
which hook a type gets, which union member a JSON value tries first, which member a
Python value is written as."""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
import uuid
from collections import abc
from collections.abc import Mapping
from typing import Any, Literal, Union

from .records import is_record

__all__ = [
    "MAPPINGS",
    "NONE",
    "SEQUENCES",
    "accepts_none",
    "instance_of",
    "is_list_like",
    "is_literal",
    "is_mapping",
    "is_str_dict",
    "is_tuple",
    "is_union",
    "kind_matches",
]

NONE = type(None)
# The origins of the types read from a JSON array, and from a JSON object.
SEQUENCES = (
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
MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)


def _bare(tp: Any) -> Any:
    """``tp`` without its ``Annotated[...]`` metadata."""
    return tp.__origin__ if typing.get_origin(tp) is typing.Annotated else tp


def kind_matches(tp: Any, v: Any) -> bool:
    """Whether ``tp`` is the natural target of the JSON value ``v`` (for union order)."""
    tp = _bare(tp)
    origin = typing.get_origin(tp) or tp
    if v is None:
        return tp is NONE
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
        return is_record(origin) or origin in MAPPINGS
    return origin in (list, tuple, set, frozenset, abc.Sequence)


def is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is Literal


def is_tuple(tp: Any) -> bool:
    return typing.get_origin(tp) is tuple


def is_mapping(tp: Any) -> bool:
    return typing.get_origin(tp) in MAPPINGS


def instance_of(v: Any, tp: Any) -> bool:
    """Whether the Python value ``v`` is a ``tp`` (shallow: the container kind only)."""
    tp = _bare(tp)
    if tp is None or tp is NONE:
        return v is None
    origin = typing.get_origin(tp)
    if origin is Literal:
        return any(v == a and type(v) is type(a) for a in typing.get_args(tp))
    if is_union(tp):
        return any(instance_of(v, a) for a in typing.get_args(tp))
    cls = origin or tp
    if cls in (abc.Sequence, abc.MutableSequence, abc.Collection, abc.Iterable):
        return isinstance(v, (list, tuple))
    if tp is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    return isinstance(cls, type) and isinstance(v, cls)


def is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def accepts_none(tp: Any) -> bool:
    tp = _bare(tp)
    if tp is None or tp is NONE or tp is Any:
        return True
    if is_union(tp):
        return any(accepts_none(a) for a in typing.get_args(tp))
    return typing.get_origin(tp) is Literal and None in typing.get_args(tp)


def is_str_dict(tp: Any) -> bool:
    return is_mapping(tp) and typing.get_args(tp)[:1] == (str,)


def is_list_like(tp: Any) -> bool:
    return typing.get_origin(tp) in SEQUENCES
