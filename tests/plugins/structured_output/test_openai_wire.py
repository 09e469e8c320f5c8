"""Recorded OpenAI structured-output and refusal payloads, replayed by the WireServer to the
real ``openai`` provider (the SDK over HTTP), parsed into the attrs classes of
``models.py``, whose schemas are the ones the recordings were made with."""

from __future__ import annotations

import contextlib
import itertools
import json
from typing import Any

import attrs
import pytest

from modelbus._wire.types import Usage
from modelbus.errors import RefusalError, ResponseFormatError
from modelbus.testing.server import Reply, WireServer, find_fixture
from modelbus_structured_output import StructuredOutput, partial_type

from .models import Author, Book, CityLocation, FentanylHandbook

BOOK = Book("THE NAME OF THE WIND", Author("Patrick", "Rothfuss"), 7)
REFUSAL = "I'm very sorry, but I can't assist with that request."


def recorded_request(name: str) -> dict[str, Any]:
    body = find_fixture(name).meta()["request"]["body"]
    return body if isinstance(body, dict) else json.loads(body)


def without_titles(schema: Any) -> Any:
    """pydantic adds a ``title`` keyword to every schema; modelbus's generator does not.
    (Names under ``properties``/``$defs`` are kept: a property may be called title.)"""
    if isinstance(schema, list):
        return [without_titles(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k in ("properties", "$defs"):
            out[k] = {name: without_titles(sub) for name, sub in v.items()}
        elif k != "title":
            out[k] = without_titles(v)
    return out


@pytest.mark.parametrize(
    ("fixture", "cls"),
    [
        ("openai/chat_completion_structured_output_strict", Book),
        ("openai/chat_stream_structured_output_strict", Book),
        ("openai/chat_completion_refusal", FentanylHandbook),
    ],
)
def test_the_schema_sent_is_the_recorded_one(
    fixture: str, cls: type, srv: WireServer, openai_client
):
    """What modelbus sends for the attrs class equals what was sent when the payload was
    recorded (pydantic's titles aside): so the recorded answers are answers to it."""
    recorded = recorded_request(fixture)["response_format"]
    srv.enqueue(Reply.fixture("openai/chat_completion_structured_output_strict"))
    so = StructuredOutput(cls, max_reasks=0)
    # the Book reply does not fit FentanylHandbook; what counts here is the body sent
    with contextlib.suppress(ResponseFormatError):
        openai_client.chat("hi", model="gpt-4o", response_format=so)
    sent = srv.requests[-1].json["response_format"]
    assert sent["type"] == recorded["type"] == "json_schema"
    mine, theirs = sent["json_schema"], recorded["json_schema"]
    assert mine["name"] == theirs["name"] and mine["strict"] is theirs["strict"] is True
    assert mine.get("description") == theirs.get("description")
    assert mine["schema"] == without_titles(theirs["schema"])


def test_strict_completion_parses_into_book(srv: WireServer, openai_client):
    srv.enqueue(Reply.fixture("openai/chat_completion_structured_output_strict"))
    r = openai_client.chat(
        "Please recommend the most popular book by Patrick Rothfuss",
        model="gpt-4o",
        response_format=Book,
    )
    assert r.parsed == BOOK and isinstance(r.parsed.author, Author)
    assert r.provider == "openai" and r.model == "gpt-4o-2024-08-06"
    assert r.usage.prompt_tokens == 172 and r.usage.completion_tokens == 29
    assert r.cost_usd is not None and r.cost_usd > 0


def test_strict_stream_gives_growing_partials_then_the_book(srv: WireServer, openai_client):
    srv.enqueue(Reply.fixture("openai/chat_stream_structured_output_strict"))
    stream = openai_client.stream("recommend a book", model="gpt-4o", response_format=Book)
    with stream:
        values = list(stream)
    *partials, last = values
    assert last == BOOK and type(last) is Book
    assert stream.parsed == BOOK and stream.response.parsed == BOOK
    assert stream.response.usage.completion_tokens > 0  # the include_usage chunk
    partial_book = partial_type(Book)
    assert partials and all(type(p) is partial_book for p in partials)
    # each partial adds something and never takes back what an earlier one had
    filled = [attrs.asdict(p) for p in partials]
    for before, after in itertools.pairwise(filled):
        assert before != after
        for k, v in before.items():
            if v is not None and k != "author":
                assert after[k] == v
    assert partials[0].title == BOOK.title and partials[0].rating is None
    # a nested object shows as soon as it opens, then fills in field by field
    authors = [attrs.astuple(p.author) for p in partials if p.author is not None]
    assert authors[:3] == [(None, None), ("Patrick", None), ("Patrick", "Rothfuss")]
    assert partials[-1].rating == 7 and partials[-1].author.last_name == "Rothfuss"
    assert srv.requests[0].json["stream"] is True


async def test_strict_stream_async(srv: WireServer, openai_client):
    srv.enqueue(Reply.fixture("openai/chat_stream_structured_output_strict"))
    stream = openai_client.astream("recommend a book", model="gpt-4o", response_format=Book)
    async with stream:
        values = [v async for v in stream]
    assert values[-1] == BOOK and len(values) > 2 and stream.parsed == BOOK


def test_refusal_completion_raises_refusal_error(srv: WireServer, openai_client):
    srv.enqueue(Reply.fixture("openai/chat_completion_refusal"))
    with pytest.raises(RefusalError) as info:
        openai_client.chat("instructions", model="gpt-4o", response_format=FentanylHandbook)
    assert info.value.refusal == REFUSAL and REFUSAL in str(info.value)
    assert info.value.response.usage.total_tokens == 77
    assert len(srv.requests) == 1  # a refusal is not re-asked


async def test_refusal_completion_async(srv: WireServer, openai_client):
    srv.enqueue(Reply.fixture("openai/chat_completion_refusal"))
    with pytest.raises(RefusalError, match="can't assist"):
        await openai_client.achat("instructions", model="gpt-4o", response_format=FentanylHandbook)


def test_refusal_stream_raises_at_the_end(srv: WireServer, openai_client):
    srv.enqueue(Reply.fixture("openai/chat_stream_refusal"))
    stream = openai_client.stream("instructions", model="gpt-4o", response_format=FentanylHandbook)
    got: list[Any] = []
    with pytest.raises(RefusalError) as info:
        for v in stream:
            got.append(v)
    assert got == [] and info.value.refusal == REFUSAL
    assert len(srv.requests) == 1


async def test_refusal_stream_async(srv: WireServer, openai_client):
    srv.enqueue(Reply.fixture("openai/chat_stream_refusal"))
    with pytest.raises(RefusalError) as info:
        async for _ in openai_client.astream(
            "instructions", model="gpt-4o", response_format=FentanylHandbook
        ):
            pass
    assert info.value.refusal == REFUSAL


def test_non_strict_pydantic_ai_answer(srv: WireServer, openai_client):
    srv.enqueue(Reply.fixture("openai/chat_completion_structured_output_nonstrict_pydantic_ai"))
    so = StructuredOutput(CityLocation, strict=False)
    r = openai_client.chat("the largest city in Mexico?", model="gpt-4o", response_format=so)
    assert r.parsed == CityLocation("Mexico City", "Mexico")
    spec = srv.requests[0].json["response_format"]["json_schema"]
    assert spec["strict"] is False and spec["name"] == "CityLocation"


def test_a_recorded_answer_that_does_not_fit_is_reasked(srv: WireServer, openai_client):
    """The Book answer read as a CityLocation: both unknown keys and missing ones are
    reported to the model, then the recorded CityLocation answer is accepted."""
    srv.enqueue(Reply.fixture("openai/chat_completion_structured_output_strict"))
    srv.enqueue(Reply.fixture("openai/chat_completion_structured_output_nonstrict_pydantic_ai"))
    r = openai_client.chat("where?", model="gpt-4o", response_format=CityLocation)
    assert r.parsed == CityLocation("Mexico City", "Mexico")
    assert r.usage.total_tokens == 201 + 107
    cost = openai_client.catalog.cost
    each = [cost("gpt-4o-2024-08-06", u) for u in (Usage(172, 29, 201), Usage(92, 15, 107))]
    assert r.cost_usd == pytest.approx(sum(each)) and r.attempts == 2
    feedback = srv.requests[1].json["messages"][-1]
    assert feedback["role"] == "user"
    assert "unknown field(s) author, rating, title" in feedback["content"]
    assert srv.requests[1].json["messages"][-2]["role"] == "assistant"
