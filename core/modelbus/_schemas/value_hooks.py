"""Structure hooks of the schema converter (``values.py``) for scalars, ISO 8601 and UUID
strings, arrays (lists, sets, tuples) and the strict mode's key/value pairs."""

from __future__ import annotations

import typing
import uuid
from collections import abc
from collections.abc import Callable, Mapping
from typing import Any

import cattrs

from .value_errors import StructureError, show

__all__ = [
    "iso",
    "iterable_factory",
    "pairs_factory",
    "pairs_unstructure",
    "scalar",
    "tuple_factory",
]


def scalar(kind: type) -> Callable[[Any, Any], Any]:
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
        raise StructureError(f"expected {kind.__name__}, got {show(v)}")

    return hook


def iso(kind: type) -> Callable[[Any, Any], Any]:
    def hook(v: Any, _t: Any) -> Any:
        if not isinstance(v, str):
            raise StructureError(f"expected an ISO 8601 {kind.__name__} string, got {show(v)}")
        try:
            return uuid.UUID(v) if kind is uuid.UUID else kind.fromisoformat(v)  # type: ignore[attr-defined]
        except ValueError as exc:
            raise StructureError(
                f"expected an ISO 8601 {kind.__name__}, got {v!r}: {exc}"
            ) from None

    return hook


def iterable_factory(tp: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    origin = typing.get_origin(tp)
    if origin not in (set, frozenset, abc.Set, abc.MutableSet):
        return cattrs.cols.list_structure_factory(tp, conv)
    (item,) = typing.get_args(tp)
    make = frozenset if origin is frozenset else set
    return lambda v, _t: make(conv.structure(x, item) for x in v)


def tuple_factory(c: cattrs.Converter) -> Callable[[Any], Any]:
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
                raise StructureError(f"expected a JSON array, got {show(v)}")
            if n is not None and len(v) != n:
                raise StructureError(f"expected an array of {n} items, got {len(v)}")
            return inner(v, t) if n != 0 else ()

        return hook

    return make


def pairs_factory(c: cattrs.Converter) -> Callable[[Any], Any]:
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
                            f'expected {{"key": ..., "value": ...}} entries, got {show(p)}'
                        )
                    pairs.append((p["key"], p["value"]))
            else:
                raise StructureError(f"expected a JSON object or key/value array, got {show(v)}")
            out: dict[str, Any] = {}
            for k, x in pairs:
                if not isinstance(k, str):
                    raise StructureError(f"expected a string key, got {show(k)}")
                out[k] = c.structure(x, value_tp)
            return out

        return hook

    return make


def pairs_unstructure(c: cattrs.Converter) -> Callable[[Any], Any]:
    def make(tp: Any) -> Any:
        value_tp = typing.get_args(tp)[1]
        return lambda d: [
            {"key": k, "value": c.unstructure(x, unstructure_as=value_tp)} for k, x in d.items()
        ]

    return make
