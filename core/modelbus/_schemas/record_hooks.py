"""Structure hooks of the schema converter (``values.py``) for records: attrs classes and
dataclasses (cattrs' own), ``TypedDict`` and pydantic models (each field read by the
converter, then the class built), and pydantic models written field by field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn

from .records import drop_nulls, is_pydantic_model, is_typeddict, record_fields
from .type_tests import accepts_none
from .value_errors import StructureError, at, describe_error, show

__all__ = ["pydantic_unstructure", "record_factory"]


def record_factory(c: cattrs.Converter, strict: bool) -> Callable[[Any], Any]:
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
                raise StructureError(f"expected a JSON object for {cls.__name__}, got {show(v)}")
            if strict:
                v = drop_nulls(v, fields, accepts_none)
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
                errors.append(at(f"$.{key}", describe_error(exc)))
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


def pydantic_unstructure(c: cattrs.Converter) -> Callable[[Any], Any]:
    def make(cls: type) -> Any:
        fields = record_fields(cls)
        return lambda obj: {
            f.name: c.unstructure(getattr(obj, f.attribute), unstructure_as=f.type) for f in fields
        }

    return make
