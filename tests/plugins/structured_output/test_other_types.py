"""The types users already have as ``response_format`` and as tool argument types:
pydantic models, dataclasses and ``TypedDict``, beside attrs classes. Each is parsed in
all four call modes, re-asked once on an invalid reply, streamed as partials, and
described by a strict schema that jsonschema accepts."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any, NotRequired, TypedDict

import jsonschema
import pydantic
import pytest

from modelbus._schemas.json_schema import json_schema
from modelbus._schemas.values import structure
from modelbus.testing import FakeProvider
from modelbus_structured_output import partial_type
from modelbus_structured_output._partial import partial_value


class PydLine(pydantic.BaseModel):
    """One line of an order.

    Attributes:
        item: what was bought.
    """

    item: str
    qty: int = pydantic.Field(default=1, gt=0, description="how many")


class PydOrder(pydantic.BaseModel):
    number: str
    lines: list[PydLine]
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class DcLine:
    item: str
    qty: int = 1


@dataclasses.dataclass(frozen=True)
class DcOrder:
    """An order."""

    number: str
    lines: list[DcLine]
    note: str | None = None


class TdLine(TypedDict):
    item: str
    qty: NotRequired[int]


class TdOrder(TypedDict):
    number: str
    lines: list[TdLine]
    note: NotRequired[Annotated[str, "a remark"]]


VALID = {"number": "A-1", "lines": [{"item": "pen", "qty": 2}], "note": None}
EXPECTED: dict[type, Any] = {
    PydOrder: PydOrder(number="A-1", lines=[PydLine(item="pen", qty=2)]),
    DcOrder: DcOrder("A-1", [DcLine("pen", 2)]),
    TdOrder: {"number": "A-1", "lines": [{"item": "pen", "qty": 2}]},
}
KINDS = [PydOrder, DcOrder, TdOrder]


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def client(fake: FakeProvider):
    from modelbus.testing import make_client

    with make_client(fake, {"modelbus": {"cache": "none"}}) as c:
        yield c


def _script_invalid_then_valid(fake: FakeProvider) -> None:
    fake.enqueue_text(json.dumps({**VALID, "lines": [{"item": "pen", "qty": "2"}]}))
    fake.enqueue_text(json.dumps(VALID))


def _check(fake: FakeProvider, kind: type, parsed: Any) -> None:
    assert parsed == EXPECTED[kind] and type(parsed) is type(EXPECTED[kind])
    assert fake.calls == 2
    feedback = fake.requests[1].messages[-1].text
    assert "$.lines[0].qty" in feedback and "expected int, got str '2'" in feedback


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_chat(client, fake, kind):
    _script_invalid_then_valid(fake)
    _check(fake, kind, client.chat("the order", response_format=kind).parsed)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
async def test_achat(client, fake, kind):
    _script_invalid_then_valid(fake)
    _check(fake, kind, (await client.achat("the order", response_format=kind)).parsed)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_stream(client, fake, kind):
    _script_invalid_then_valid(fake)
    stream = client.stream("the order", response_format=kind)
    *partials, last = list(stream)  # partial values as the JSON arrives, then the value
    assert partials and all(type(p) is partial_type(kind) for p in partials)
    assert last == EXPECTED[kind]
    _check(fake, kind, stream.response.parsed)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
async def test_astream(client, fake, kind):
    _script_invalid_then_valid(fake)
    stream = client.astream("the order", response_format=kind)
    *partials, last = [p async for p in stream]
    assert partials and all(type(p) is partial_type(kind) for p in partials)
    assert last == EXPECTED[kind]
    _check(fake, kind, stream.response.parsed)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_the_strict_schema_validates_the_reply_and_says_what_a_null_means(kind):
    schema = json_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(VALID, schema)
    # strict: every key required, no others; an optional field is nullable
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["number", "lines", "note"]
    line = schema["$defs"][kind.__name__.replace("Order", "Line")]
    assert line["required"] == ["item", "qty"]
    assert {"type": "null"} in line["properties"]["qty"].get("anyOf", []) or "null" in line[
        "properties"
    ]["qty"].get("type", [])


def test_descriptions_come_from_each_kinds_own_place():
    line = json_schema(PydOrder)["$defs"]["PydLine"]
    assert line["description"] == "One line of an order."
    assert line["properties"]["item"]["description"] == "what was bought."
    assert line["properties"]["qty"]["description"] == "how many (default: 1)"
    # a dataclass without a docstring has no description (not its generated signature)
    assert "description" not in json_schema(DcOrder)["$defs"]["DcLine"]
    assert json_schema(DcOrder)["description"] == "An order."
    note = json_schema(TdOrder)["properties"]["note"]  # NotRequired: nullable in strict mode
    assert note == {"anyOf": [{"type": "string", "description": "a remark"}, {"type": "null"}]}


def test_pydantic_validators_run_and_are_reported_like_other_errors():
    with pytest.raises(ValueError, match=r"\$\.lines\[0\]\.qty: Input should be greater than 0"):
        structure({**VALID, "lines": [{"item": "pen", "qty": 0}]}, PydOrder)
    with pytest.raises(ValueError, match=r"unknown field\(s\) colour"):
        structure({**VALID, "colour": "red"}, PydOrder)
    with pytest.raises(ValueError, match=r"\$\.number: required field missing"):
        structure({"lines": []}, PydOrder)


def test_typeddict_nulls_mean_no_key_and_extra_keys_are_errors():
    value = structure({"number": "A", "lines": [{"item": "x", "qty": None}], "note": None}, TdOrder)
    assert value == {"number": "A", "lines": [{"item": "x"}]}
    with pytest.raises(ValueError, match="colour"):
        structure({"number": "A", "lines": [], "colour": 1}, TdOrder)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_partial_types_fill_in_as_the_stream_goes(kind):
    p = partial_value(kind, {"number": "A-1", "lines": [{"item": "pen"}]})
    assert type(p) is partial_type(kind)
    assert p.number == "A-1" and p.lines[0].item == "pen" and p.lines[0].qty is None


def test_tool_arguments_of_each_kind(client, fake):
    seen: list[Any] = []

    def place(order: PydOrder, shipping: DcLine, extra: TdLine) -> str:
        seen.append((order, shipping, extra))
        return "placed"

    args = {
        "order": VALID,
        "shipping": {"item": "box", "qty": None},
        "extra": {"item": "x", "qty": None},
    }
    fake.enqueue_tool_call("place", json.dumps(args))
    fake.enqueue_text("done")
    r = client.chat("place it", tools=[place])
    assert r.content == "done"
    assert seen == [(EXPECTED[PydOrder], DcLine("box", 1), {"item": "x"})]
    schema = fake.requests[0].tools[0].function.parameters
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(args, schema)


def test_pydantic_is_not_imported_by_modelbus():
    import subprocess
    import sys

    code = (
        "import sys, modelbus, modelbus_structured_output\n"
        "from modelbus._schemas.json_schema import json_schema\n"
        "import attrs\n"
        "@attrs.frozen\nclass A:\n    x: int\n"
        "json_schema(A)\n"
        "from modelbus.testing import FakeProvider, make_client\n"
        "f = FakeProvider(); f.enqueue_text('{\"x\": 1}')\n"
        "assert make_client(f).chat('x', response_format=A).parsed == A(1)\n"
        "print('pydantic' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
