"""Properties over generated attrs class shapes and values: the schema (strict and plain)
accepts the unstructured value, and parsing the JSON gives the value back; every prefix of
the JSON text gives a partial value that only holds what the full one holds."""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import json
import uuid
from typing import Any, Literal, Optional

import attrs
import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelbus_structured_output import StructuredOutput, partial_type, target_of
from modelbus_structured_output._partial import complete_prefix, partial_value

_names = itertools.count()

LEAVES: list[Any] = [str, int, float, bool, dt.date, dt.datetime, uuid.UUID]
Colour = enum.Enum("Colour", {"RED": "red", "GREEN": "green", "BLUE": "blue"})  # type: ignore[misc]
Size = enum.Enum("Size", {"S": 1, "M": 2})  # type: ignore[misc]


def literal_types() -> st.SearchStrategy[Any]:
    return st.lists(
        st.sampled_from(["a", "b", "c d", "é", "x-1"]), min_size=1, max_size=3, unique=True
    ).map(lambda vs: Literal[tuple(vs)])


def leaf_types() -> st.SearchStrategy[Any]:
    return st.sampled_from([*LEAVES, Colour, Size]) | literal_types()


def make_class(field_types: list[Any], defaults: list[bool]) -> type:
    """An attrs class with fields ``f0``...; those flagged get a default (keyword-only,
    so the order of defaults does not matter)."""
    fields = {}
    for i, (tp, has_default) in enumerate(zip(field_types, defaults, strict=True)):
        if has_default:
            fields[f"f{i}"] = attrs.field(type=tp, default=None if _nullable(tp) else attrs.NOTHING)
        else:
            fields[f"f{i}"] = attrs.field(type=tp)
    return attrs.make_class(f"Gen{next(_names)}", fields, frozen=True, kw_only=True)


def _nullable(tp: Any) -> bool:
    return type(None) in getattr(tp, "__args__", ())


def class_types(children: st.SearchStrategy[Any]) -> st.SearchStrategy[type]:
    return st.lists(children, min_size=1, max_size=4).flatmap(
        lambda tps: st.lists(st.booleans(), min_size=len(tps), max_size=len(tps)).map(
            lambda flags: make_class(tps, flags)
        )
    )


def field_types() -> st.SearchStrategy[Any]:
    return st.recursive(
        leaf_types(),
        lambda children: st.one_of(
            children.map(lambda t: list[t]),  # type: ignore[valid-type]
            children.map(lambda t: dict[str, t]),  # type: ignore[valid-type]
            children.map(lambda t: Optional[t]),  # noqa: UP045
            class_types(children),
        ),
        max_leaves=6,
    )


def values(tp: Any) -> st.SearchStrategy[Any]:
    if attrs.has(tp):
        return st.builds(tp, **{a.name: values(a.type) for a in attrs.fields(tp)})
    origin = getattr(tp, "__origin__", None)
    args = getattr(tp, "__args__", ())
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(values(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=4), values(args[1]), max_size=3)
    if _nullable(tp):
        (inner,) = (a for a in args if a is not type(None))
        return st.none() | values(inner)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    return {
        str: st.text(max_size=12),
        int: st.integers(),
        float: st.floats(allow_nan=False, allow_infinity=False),
        bool: st.booleans(),
        dt.date: st.dates(),
        # RFC 3339 date-time (the schema's format) has an offset: aware values only
        dt.datetime: st.datetimes(timezones=st.just(dt.UTC)),
        uuid.UUID: st.uuids(),
    }[tp]


shapes_and_values = class_types(field_types()).flatmap(
    lambda cls: st.tuples(st.just(cls), values(cls))
)
CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER
COMMON = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def roundtrip(tp: Any, value: Any, strict: bool) -> None:
    target = target_of(StructuredOutput(tp, strict=strict))
    jsonschema.Draft202012Validator.check_schema(target.schema)
    data = target.dump(value)
    text = json.dumps(data)
    jsonschema.Draft202012Validator(target.schema, format_checker=CHECKER).validate(
        json.loads(text)
    )
    assert target.loads(text) == value


@COMMON
@given(shapes_and_values, st.booleans())
def test_schema_accepts_the_value_and_parsing_gives_it_back(shape: Any, strict: bool):
    cls, value = shape
    roundtrip(cls, value, strict)


@COMMON
@given(
    shapes_and_values.flatmap(
        lambda sv: st.tuples(st.just(sv[0]), st.lists(values(sv[0]), max_size=3))
    )
)
def test_list_roots_are_wrapped_and_unwrapped(shape: Any):
    cls, items = shape
    roundtrip(list[cls], items, strict=True)  # type: ignore[valid-type]


def _within(part: Any, full: Any) -> bool:
    """``part`` holds nothing ``full`` does not (objects and arrays may be shorter, and
    their last item may itself be partial)."""
    if isinstance(part, dict):
        return isinstance(full, dict) and all(
            k in full and _within(v, full[k]) for k, v in part.items()
        )
    if isinstance(part, list):
        return (
            isinstance(full, list)
            and len(part) <= len(full)
            and all(_within(p, f) for p, f in zip(part, full, strict=False))
        )
    return part == full and type(part) is type(full)


@COMMON
@given(shapes_and_values, st.sampled_from([None, 0, 2]))
def test_every_prefix_gives_a_partial_within_the_whole(shape: Any, indent: int | None):
    cls, value = shape
    target = target_of(StructuredOutput(cls))
    data = target.dump(value)
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    ptype = partial_type(cls)
    for end in range(len(text) + 1):
        snap = complete_prefix(text[:end])
        assert snap is None or _within(snap, data), (text[:end], snap)
        if isinstance(snap, dict):  # every prefix gives a partial value
            assert type(partial_value(cls, snap)) is ptype
    assert complete_prefix(text) == data
    assert attrs.asdict(partial_value(cls, data)) == attrs.asdict(target.load(data))
