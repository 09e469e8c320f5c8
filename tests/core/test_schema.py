"""The schema generator (core/modelbus/_schema.py) and its converter (_schema_convert.py).

The property test builds attrs classes at random (attrs.make_class over generated field
types), draws values, and checks: the schema is valid JSON Schema, strict schemas keep
OpenAI's strict-mode rules, the unstructured value validates, and structuring it gives
the value back.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import json
import uuid
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Literal, NewType, Optional

import attrs
import cattrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from modelbus._schemas.json_schema import json_schema
from modelbus._schemas.values import StructureError, describe_error, structure, unstructure

# --- strategies: (type, strategy of values of that type) -------------------------------

_names = itertools.count()

JSON_INT = st.integers(-(2**53), 2**53)
LEAVES: list[tuple[Any, st.SearchStrategy[Any]]] = [
    (str, st.text(max_size=12)),
    (int, JSON_INT),
    (float, st.floats(allow_nan=False, allow_infinity=False)),
    (bool, st.booleans()),
    (type(None), st.none()),
    # RFC 3339 (JSON Schema's date-time and time formats) needs an offset: aware values
    # here; naive ones round-trip too (test_naive_datetimes_round_trip) without it.
    (dt.datetime, st.datetimes(timezones=st.just(dt.UTC))),
    (dt.date, st.dates()),
    (dt.time, st.times(timezones=st.just(dt.UTC))),
    (uuid.UUID, st.uuids()),
    (int | str, JSON_INT | st.text(max_size=5)),
    (float | int, JSON_INT | st.floats(allow_nan=False, allow_infinity=False)),
    (bool | int, st.booleans() | JSON_INT),
]


@st.composite
def literal_pair(draw: st.DrawFn) -> tuple[Any, st.SearchStrategy[Any]]:
    values = draw(
        st.lists(
            st.text(max_size=4) | st.integers(-5, 5),
            min_size=1,
            max_size=4,
            unique_by=lambda v: (type(v), v),
        )
    )
    return Literal[tuple(values)], st.sampled_from(values)


@st.composite
def enum_pair(draw: st.DrawFn) -> tuple[Any, st.SearchStrategy[Any]]:
    values = draw(
        st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=4, unique=True)
        | st.lists(st.integers(-9, 9), min_size=1, max_size=4, unique=True)
    )
    e = enum.Enum(f"E{next(_names)}", {f"M{i}": v for i, v in enumerate(values)})  # type: ignore[misc]
    return e, st.sampled_from(list(e))


def leaf_pair() -> st.SearchStrategy[tuple[Any, st.SearchStrategy[Any]]]:
    return st.sampled_from(LEAVES) | literal_pair() | enum_pair()


@st.composite
def class_pair(draw: st.DrawFn, child: st.SearchStrategy[Any]) -> tuple[Any, Any]:
    fields = draw(st.lists(child, min_size=1, max_size=4))
    attrs_fields: dict[str, Any] = {}
    strategies = []
    for i, (tp, strat) in enumerate(fields):
        meta = {"description": f"field {i}"} if draw(st.booleans()) else {}
        if draw(st.booleans()):
            attrs_fields[f"f{i}"] = attrs.field(type=tp, metadata=meta, default=draw(strat))
        else:
            attrs_fields[f"f{i}"] = attrs.field(type=tp, metadata=meta)
        strategies.append(strat)
    # a field without a default may not follow one with a default
    ordered = sorted(attrs_fields.items(), key=lambda kv: kv[1]._default is not attrs.NOTHING)
    order = [int(k[1:]) for k, _ in ordered]
    cls = attrs.make_class(f"C{next(_names)}", dict(ordered))
    value = st.tuples(*(strategies[i] for i in order)).map(lambda t: cls(*t))
    return cls, value


def extend(child: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def lists(p: Any) -> Any:
        return list[p[0]], st.lists(p[1], max_size=3)

    def var_tuples(p: Any) -> Any:
        return tuple[p[0], ...], st.lists(p[1], max_size=3).map(tuple)

    def dicts(p: Any) -> Any:
        return dict[str, p[0]], st.dictionaries(st.text(max_size=5), p[1], max_size=3)

    def optional(p: Any) -> Any:
        return Optional[p[0]], st.none() | p[1]  # noqa: UP045 (typing.Union path)

    def pair_tuples(ps: Any) -> Any:
        (a, sa), (b, sb) = ps
        return tuple[a, b], st.tuples(sa, sb)

    return (
        child.map(lists)
        | child.map(var_tuples)
        | child.map(dicts)
        | child.map(optional)
        | st.tuples(child, child).map(pair_tuples)
        | class_pair(child)
    )


TYPES = st.recursive(leaf_pair(), extend, max_leaves=6)


@st.composite
def class_and_value(draw: st.DrawFn) -> tuple[Any, Any]:
    cls, strat = draw(class_pair(TYPES))
    return cls, draw(strat)


# --- strict-mode rules ------------------------------------------------------------------


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def assert_strict_rules(schema: dict[str, Any]) -> None:
    """OpenAI Structured Outputs, "Supported schemas": objects close with
    additionalProperties false and require every property; $ref has no siblings; no
    default/prefixItems keywords."""
    for node in walk(schema):
        if node.get("type") == "object":
            assert node.get("additionalProperties") is False, node
            assert node.get("required") == list(node.get("properties", {})), node
        if "$ref" in node:
            assert set(node) == {"$ref"}, node
        assert "default" not in node and "prefixItems" not in node, node


@pytest.mark.parametrize("strict", [True, False])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cv=class_and_value())
def test_round_trip_through_schema(strict: bool, cv: tuple[Any, Any]) -> None:
    cls, value = cv
    schema = json_schema(cls, strict=strict)
    Draft202012Validator.check_schema(schema)
    if strict:
        assert_strict_rules(schema)
    data = unstructure(value, cls, strict=strict)
    data = json.loads(json.dumps(data))  # what crosses the wire is JSON
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(data)
    assert structure(data, cls, strict=strict) == value


# --- exact schemas --------------------------------------------------------------------


class Units(enum.Enum):
    """Temperature units."""

    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@attrs.frozen
class Address:
    """A postal address.

    Attributes:
        street: Street and number.
        city: City name.
    """

    street: str
    city: str = attrs.field(metadata={"description": "City (metadata wins)."})


@attrs.frozen
class Person:
    """A person."""

    name: Annotated[str, "Full name"]
    age: int = 30
    address: Address | None = None
    home: Annotated[Address, "Where they live"] = Address("1 Main St", "Paris")
    tags: dict[str, int] = attrs.field(factory=dict)
    born: dt.date | None = None
    units: Units = Units.CELSIUS
    friends: list[Person] = attrs.field(factory=list)


def test_strict_schema_shape() -> None:
    s = json_schema(Person)
    Draft202012Validator.check_schema(s)
    assert_strict_rules(s)
    p = s["properties"]
    assert s["description"] == "A person."
    assert s["required"] == ["name", "age", "address", "home", "tags", "born", "units", "friends"]
    assert p["name"] == {"type": "string", "description": "Full name"}
    # a default makes the field nullable; null means "use the default", shown in text
    assert p["age"] == {"type": ["integer", "null"], "description": "Default: 30."}
    assert p["address"] == {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]}
    # a described $ref is inlined (no siblings beside $ref in strict mode)
    assert p["home"]["anyOf"][0]["description"] == "Where they live"
    assert p["home"]["anyOf"][0]["properties"]["city"]["description"] == "City (metadata wins)."
    assert p["tags"]["anyOf"][0]["items"]["properties"]["key"] == {"type": "string"}
    assert p["born"] == {"type": ["string", "null"], "format": "date"} or p["born"] == {
        "anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]
    }
    assert p["units"]["anyOf"][0]["enum"] == ["celsius", "fahrenheit"]
    assert p["friends"]["anyOf"][0] == {"type": "array", "items": {"$ref": "#"}}
    assert s["$defs"]["Address"]["properties"]["street"] == {
        "type": "string",
        "description": "Street and number.",
    }
    assert s["$defs"]["Address"]["description"] == "A postal address."


def test_plain_schema_shape() -> None:
    s = json_schema(Person, strict=False)
    Draft202012Validator.check_schema(s)
    p = s["properties"]
    assert s["required"] == ["name"]
    assert p["age"] == {"type": "integer", "default": 30}
    assert p["tags"] == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
        "default": {},
    }
    assert p["units"]["default"] == "celsius"
    assert p["home"]["description"] == "Where they live"


def test_scalars_and_containers() -> None:
    assert json_schema(int) == {"type": "integer"}
    assert json_schema(bool | None) == {"type": ["boolean", "null"]}
    assert json_schema(Literal["a", 1]) == {"type": ["integer", "string"], "enum": ["a", 1]}
    optional_x = Optional[Literal["x"]]  # noqa: UP045 (the typing.Union spelling)
    assert json_schema(optional_x) == {"type": ["string", "null"], "enum": ["x", None]}
    assert json_schema(int | str) == {"type": ["integer", "string"]}
    assert json_schema(tuple[int, str], strict=False) == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
        "items": False,
        "minItems": 2,
        "maxItems": 2,
    }
    assert json_schema(Sequence[float]) == {"type": "array", "items": {"type": "number"}}
    assert json_schema(dt.datetime) == {"type": "string", "format": "date-time"}
    UserId = NewType("UserId", int)
    assert json_schema(UserId) == {"type": "integer"}
    assert json_schema(list[Address])["$defs"]["Address"]["type"] == "object"


@pytest.mark.parametrize(
    "tp, where",
    [
        (Any, "Any"),
        (list, "bare list"),
        (dict[int, str], "dict keys must be str"),
        (complex, "unsupported type complex"),
        (bytes, "unsupported type bytes"),
    ],
)
def test_unsupported_types_raise_naming_them(tp: Any, where: str) -> None:
    with pytest.raises(TypeError, match=where):
        json_schema(tp)


def test_error_names_the_path() -> None:
    @attrs.define
    class Bad:
        items: list[complex]

    with pytest.raises(TypeError, match=r"Bad\.items\[\]: unsupported type complex"):
        json_schema(Bad)


def test_any_allowed_when_not_strict() -> None:
    assert json_schema(dict[str, Any], strict=False) == {
        "type": "object",
        "additionalProperties": {},
    }


def test_same_class_name_twice_gets_distinct_defs() -> None:
    A1 = attrs.make_class("A", {"x": attrs.field(type=int)})
    A2 = attrs.make_class("A", {"y": attrs.field(type=str)})
    Both = attrs.make_class("Both", {"a": attrs.field(type=A1), "b": attrs.field(type=A2)})
    s = json_schema(Both)
    assert s["properties"]["a"] == {"$ref": "#/$defs/A"}
    assert s["properties"]["b"] == {"$ref": "#/$defs/A_2"}
    assert structure({"a": {"x": 1}, "b": {"y": "z"}}, Both) == Both(A1(1), A2("z"))


# --- converter strictness ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value, tp, message",
    [
        ("5", int, "expected int, got str '5'"),
        (True, int, "expected int, got bool True"),
        (1, bool, "expected bool, got int 1"),
        (2.5, int, "expected int, got float 2.5"),
        ("abc", list[str], "expected a JSON array"),
        ([1, 2, 3], tuple[int, int], "expected an array of 2 items, got 3"),
        ("nope", Units, "expected one of ['celsius', 'fahrenheit']"),
        ("b", Literal["a"], "expected one of ['a']"),
        ("yesterday", dt.date, "expected an ISO 8601 date"),
        (None, str, "expected str, got NoneType None"),
    ],
)
def test_converter_rejects_wrong_types(value: Any, tp: Any, message: str) -> None:
    with pytest.raises((StructureError, cattrs.BaseValidationError)) as info:
        structure(value, tp)
    assert message in describe_error(info.value)


@given(st.datetimes(), st.times())
def test_naive_datetimes_round_trip(d: dt.datetime, t: dt.time) -> None:
    assert structure(unstructure(d), dt.datetime) == d
    assert structure(unstructure(t), dt.time) == t


def test_converter_accepts_integral_float_and_int_as_float() -> None:
    assert structure(3.0, int) == 3 and type(structure(3.0, int)) is int
    assert structure(2, float) == 2.0 and type(structure(2, float)) is float
    assert structure(2, float | int) == 2 and type(structure(2, float | int)) is int


def test_errors_name_fields_and_reject_unknown_keys() -> None:
    with pytest.raises(cattrs.BaseValidationError) as info:
        structure({"street": 1, "zip": "x"}, Address)
    msg = describe_error(info.value)
    assert "$.street: expected str, got int 1" in msg
    assert "unknown field(s) zip" in msg


def test_null_means_default_in_strict_mode_only() -> None:
    data = {
        "name": "Ann",
        "age": None,
        "address": None,
        "home": None,
        "tags": None,
        "born": None,
        "units": None,
        "friends": None,
    }
    p = structure(data, Person)
    assert p == Person("Ann")
    with pytest.raises(cattrs.BaseValidationError):
        structure(data, Person, strict=False)
    assert structure({"name": "Ann"}, Person, strict=False) == Person("Ann")


def test_strict_dict_reads_pairs_or_object() -> None:
    assert structure([{"key": "a", "value": 1}], dict[str, int]) == {"a": 1}
    assert structure({"a": 1}, dict[str, int]) == {"a": 1}
    assert unstructure({"a": 1}, dict[str, int]) == [{"key": "a", "value": 1}]
    assert unstructure({"a": 1}, dict[str, int], strict=False) == {"a": 1}
    with pytest.raises(StructureError, match="entries"):
        structure([{"k": "a"}], dict[str, int])
