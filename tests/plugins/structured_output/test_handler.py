"""The handler through a real Client and a scripted FakeProvider: modes, parsing, re-asks,
refusals, totals, caching, the tool loop and the core's dispatch of ``response_format``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Literal

import attrs
import jsonschema
import pytest

import modelbus
from modelbus._wire.types import ChatResponse, Message, Usage
from modelbus.errors import RefusalError, ResponseFormatError
from modelbus.protocols import Capabilities
from modelbus.testing import FakeProvider, make_client
from modelbus_structured_output import StructuredOutput, StructuredOutputHandler, target_of

from .models import Invoice, Line, Sentiment, Speaker

VALID = {"number": "A-1", "total_eur": 12.5, "lines": [{"item": "pen", "qty": 2}], "issued": None}
INVOICE = Invoice("A-1", 12.5, [Line("pen", 2)])


def sent_schema(fake: FakeProvider, i: int = 0) -> dict:
    rf = fake.requests[i].response_format
    assert rf is not None and rf["type"] == "json_schema"
    return dict(rf["json_schema"])


# -- 2. invalid first, valid second --------------------------------------------------------------


def test_invalid_then_valid_gives_the_instance_after_one_reask(client, fake):
    fake.enqueue_text(json.dumps({**VALID, "total_eur": "12.5"}), usage=Usage(10, 4, 14))
    fake.enqueue_text(json.dumps(VALID), usage=Usage(30, 6, 36))
    messages = [{"role": "user", "content": "the invoice of the pen, please"}]
    before = json.loads(json.dumps(messages))

    r = client.chat(messages, response_format=Invoice)

    assert r.parsed == INVOICE and isinstance(r.parsed, Invoice)
    assert messages == before  # the caller's list is untouched
    assert fake.calls == 2
    first, second = fake.requests
    assert first.messages == (Message("user", "the invoice of the pen, please"),)
    # the re-ask: the same messages, the model's reply, and the errors as a user message
    assert second.messages[0] == first.messages[0]
    assert second.messages[1] == Message("assistant", json.dumps({**VALID, "total_eur": "12.5"}))
    feedback = second.messages[2]
    assert feedback.role == "user"
    assert "$.total_eur: expected float, got str '12.5'" in feedback.text
    assert second.response_format == first.response_format  # the same strict schema
    # usage, attempts and cost add up over both calls; the client counted both
    assert r.usage == Usage(40, 10, 50) and r.attempts == 2
    assert client.usage_totals.requests == 2 and client.usage_totals.usage == Usage(40, 10, 50)


async def test_async_reask_and_validators(client, fake):
    bad = {**VALID, "lines": [{"item": "pen", "qty": 0}]}  # Line's validator: qty > 0
    fake.enqueue_text(json.dumps(bad)).enqueue_text(json.dumps(VALID))
    r = await client.achat("invoice", response_format=Invoice)
    assert r.parsed == INVOICE
    assert "qty" in fake.requests[1].messages[-1].text


def test_every_attempt_invalid_raises_with_each_reply_and_error(client, fake):
    replies = [
        '{"number": 1}',
        "not json at all",
        '{"number": "A", "total_eur": 1, "lines": [], "x": 1}',
    ]
    for text in replies:
        fake.enqueue_text(text, usage=Usage(5, 5, 10))
    with pytest.raises(ResponseFormatError) as info:
        client.chat("invoice", response_format=Invoice)
    err = info.value
    assert not isinstance(err, RefusalError)
    assert [raw for raw, _ in err.attempts] == replies  # max_reasks=2: three tries
    errors = [e for _, e in err.attempts]
    assert "$.number: expected str, got int 1" in errors[0]
    assert "required field missing" in errors[0]
    assert errors[1].startswith("the reply is not valid JSON")
    assert "unknown field(s) x" in errors[2]
    assert err.response.usage == Usage(15, 15, 30) and err.response.attempts == 3
    assert "Invoice: no valid reply after 3 attempts" in str(err)


def test_max_reasks_zero_and_one(client, fake):
    fake.enqueue_text("{}")
    with pytest.raises(ResponseFormatError) as info:
        client.chat("x", response_format=StructuredOutput(Invoice, max_reasks=0))
    assert fake.calls == 1 and len(info.value.attempts) == 1
    fake.enqueue_text("{}").enqueue_text("[]").enqueue_text(json.dumps(VALID))
    with pytest.raises(ResponseFormatError):
        client.chat("x", response_format=StructuredOutput(Invoice, max_reasks=1))
    assert fake.calls == 3  # the valid third reply was never asked for


def test_cut_off_reply_is_reasked_saying_so(client, fake):
    fake.enqueue_text('{"number": "A-1", "total_', finish_reason="length")
    fake.enqueue_text(json.dumps(VALID))
    assert client.chat("x", response_format=Invoice).parsed == INVOICE
    assert "cut off at max_tokens" in fake.requests[1].messages[-1].text


@pytest.mark.parametrize("mode", ["chat", "achat", "stream", "astream"])
def test_a_reply_nested_deeper_than_the_decoder_goes_is_reasked(client, fake, mode):
    # structured-output.md: a reply that is not JSON is re-asked in each of the four
    # modes. A model looping on "[" (small models do) nests past json's recursion limit,
    # where json.loads raises RecursionError, not ValueError.
    import asyncio

    fake.enqueue_text("[" * 100_000)
    fake.enqueue_text(json.dumps(VALID))
    if mode == "chat":
        r = client.chat("x", response_format=Invoice)
    elif mode == "achat":
        r = asyncio.run(client.achat("x", response_format=Invoice))
    elif mode == "stream":
        with client.stream("x", response_format=Invoice) as s:
            for _ in s:
                pass
        r = s.response
    else:

        async def read():
            s = client.astream("x", response_format=Invoice)
            async for _ in s:
                pass
            return s.response

        r = asyncio.run(read())
    assert r.parsed == INVOICE and fake.calls == 2
    assert "not valid JSON" in fake.requests[1].messages[-1].text


# -- refusals ----------------------------------------------------------------------------------


def test_refusal_raises_refusal_error_with_the_text_and_is_not_reasked(client, fake):
    msg = Message("assistant", None, refusal="I can't help with that.")
    fake.enqueue_response(ChatResponse("r1", "fake-model", msg, "stop", Usage(7, 3, 10)))
    with pytest.raises(RefusalError) as info:
        client.chat("x", response_format=Invoice)
    assert info.value.refusal == "I can't help with that."
    assert isinstance(info.value, ResponseFormatError)
    assert info.value.response.usage == Usage(7, 3, 10)
    assert fake.calls == 1


# -- modes -------------------------------------------------------------------------------------


def test_auto_mode_is_strict_json_schema_on_openai_like_providers(client, fake):
    fake.enqueue_text(json.dumps(VALID))
    client.chat("x", response_format=Invoice)
    spec = sent_schema(fake)
    assert spec["name"] == "Invoice" and spec["strict"] is True
    assert spec["description"] == "An invoice."
    schema = spec["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["number", "total_eur", "lines", "issued"]  # all required
    assert schema["properties"]["issued"] == {
        "anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]
    }
    assert schema["properties"]["number"]["description"] == "the invoice number as printed"
    assert schema["$defs"]["Line"]["additionalProperties"] is False
    assert fake.requests[0].tools is None


@pytest.mark.parametrize(
    ("caps", "mode"),
    [
        (Capabilities(grammar=True), "grammar"),
        (Capabilities(), "json_schema"),
        (Capabilities(json_schema=False), "tools"),
        (Capabilities(json_schema=False, tools=False), "json"),
        (Capabilities(json_schema=False, tools=False, json_object=False), "md_json"),
    ],
)
def test_auto_mode_follows_capabilities(caps: Capabilities, mode: str):
    fake = FakeProvider()
    fake.capabilities = caps  # type: ignore[misc]
    with make_client(fake, {"modelbus": {"cache": "none"}}) as c:
        s = c.stream("x", response_format=Invoice)
    assert s.mode == mode


def test_tools_mode_forces_one_function_and_reasks_with_a_tool_message(client, fake):
    fake.enqueue_tool_call("Invoice", '{"number": "A-1"}', call_id="call_a")
    fake.enqueue_tool_call("Invoice", json.dumps(VALID), call_id="call_b")
    so = StructuredOutput(Invoice, mode="tools", max_reasks=1)
    r = client.chat("x", response_format=so)
    assert r.parsed == INVOICE
    first, second = fake.requests
    (tool,) = first.tools or ()
    assert tool.function.name == "Invoice" and tool.function.strict is True
    assert tool.function.parameters == target_of(StructuredOutput(Invoice)).schema
    assert first.tool_choice == {"type": "function", "function": {"name": "Invoice"}}
    assert first.response_format is None
    call_msg, answer = second.messages[-2:]
    assert call_msg.role == "assistant" and call_msg.tool_calls[0].id == "call_a"
    assert answer.role == "tool" and answer.tool_call_id == "call_a"
    assert "required field missing" in answer.text


def test_tools_mode_when_the_model_answers_in_text(client, fake):
    fake.enqueue_text("Sure! The invoice is A-1.")
    fake.enqueue_tool_call("Invoice", json.dumps(VALID))
    r = client.chat("x", response_format=StructuredOutput(Invoice, mode="tools"))
    assert r.parsed == INVOICE
    last = fake.requests[1].messages[-1]
    assert last.role == "user" and "did not call the function Invoice" in last.text


def test_json_mode_puts_the_schema_in_the_system_prompt(client, fake):
    fake.enqueue_text(json.dumps(VALID))
    r = client.chat(
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "x"}],
        response_format=StructuredOutput(Invoice, mode="json"),
    )
    assert r.parsed == INVOICE
    req = fake.requests[0]
    assert req.response_format == {"type": "json_object"}
    system, user = req.messages
    assert system.role == "system" and system.text.startswith("You are terse.\n\n")
    assert "JSON" in system.text  # OpenAI's JSON mode wants the word in a message
    shown = json.loads(system.text.split("\n", 3)[-1])
    assert shown == target_of(StructuredOutput(Invoice)).schema
    assert user == Message("user", "x")


def test_md_json_reads_the_fenced_block(client, fake):
    fake.enqueue_text(f"Here it is:\n```json\n{json.dumps(VALID, indent=2)}\n```\nAnything else?")
    r = client.chat("x", response_format=StructuredOutput(Invoice, mode="md_json"))
    assert r.parsed == INVOICE
    req = fake.requests[0]
    assert req.response_format is None and req.tools is None
    assert req.messages[0].role == "system" and "```json" in req.messages[0].text


def test_grammar_mode_sends_json_object_with_schema(client, fake):
    fake.enqueue_text(json.dumps(VALID))
    client.chat("x", response_format=StructuredOutput(Invoice, mode="grammar"))
    rf = fake.requests[0].response_format
    assert rf == {"type": "json_object", "schema": target_of(StructuredOutput(Invoice)).schema}


def test_non_strict_schema(client, fake):
    fake.enqueue_text(json.dumps({"number": "A-1", "total_eur": 1, "lines": []}))
    r = client.chat("x", response_format=StructuredOutput(Invoice, strict=False, name="inv"))
    assert r.parsed == Invoice("A-1", 1.0, [])
    spec = sent_schema(fake)
    assert spec["strict"] is False and spec["name"] == "inv"
    assert spec["schema"]["required"] == ["number", "total_eur", "lines"]


# -- roots that are not objects ----------------------------------------------------------------


def test_list_root_is_wrapped_in_items_and_unwrapped(client, fake):
    fake.enqueue_text(json.dumps({"items": [VALID, {**VALID, "number": "A-2"}]}))
    items = client.chat("x", response_format=list[Invoice]).parsed
    assert items == [INVOICE, attrs.evolve(INVOICE, number="A-2")]
    spec = sent_schema(fake)
    assert spec["name"] == "list_Invoice"
    schema = spec["schema"]
    assert schema["required"] == ["items"] and schema["additionalProperties"] is False
    assert schema["properties"]["items"]["items"] == {"$ref": "#/$defs/Invoice"}
    assert set(schema["$defs"]) == {"Invoice", "Line"}


def test_wrapped_root_errors_name_the_wrapper(client, fake):
    fake.enqueue_text("[]").enqueue_text('{"items": [{"number": 3}], "more": 1}')
    fake.enqueue_text('{"items": []}')
    assert client.chat("x", response_format=list[Invoice]).parsed == []
    assert 'expected a JSON object {"items": ...}' in fake.requests[1].messages[-1].text
    assert "unknown key(s) more" in fake.requests[2].messages[-1].text


def test_errors_inside_a_wrapped_root_have_the_wrapper_in_their_paths(client, fake):
    fake.enqueue_text('{"items": [{"number": 3, "total_eur": "x", "lines": []}]}')
    fake.enqueue_text('{"items": []}')
    client.chat("x", response_format=list[Invoice])
    text = fake.requests[1].messages[-1].text
    assert "$.items[0].number: expected str" in text
    assert "; $.items[0].total_eur: expected float" in text


def test_literal_root_is_wrapped_in_value(client, fake):
    fake.enqueue_text('{"value": "neutral"}')
    r = client.chat("x", response_format=Literal["positive", "neutral", "negative"])
    assert r.parsed == "neutral"
    schema = sent_schema(fake)["schema"]
    assert schema["properties"]["value"] == {
        "type": "string",
        "enum": ["positive", "neutral", "negative"],
    }


# -- the docs example: sentiment of a dialogue log ---------------------------------------------

DIALOGUE = """\
customer: My parcel was due on Monday and it still is not here.
agent: I am sorry. It left the depot this morning and arrives tomorrow.
customer: Fine, but this is the second time this month."""


def test_docs_example_sentiment_of_a_dialogue(client, fake):
    fake.enqueue_text('{"label": "negative", "confident": true, "loudest": "customer"}')
    r = client.chat(
        DIALOGUE, system="Label the sentiment of this support dialogue.", response_format=Sentiment
    )
    assert r.parsed == Sentiment("negative", True, Speaker.CUSTOMER)
    schema = sent_schema(fake)["schema"]
    assert schema["properties"]["label"] == {
        "type": "string",
        "enum": ["positive", "neutral", "negative"],
        "description": "how the customer feels at the end",
    }
    assert schema["properties"]["loudest"]["enum"] == ["agent", "customer"]
    # a label outside the Literal is an error that is fed back
    fake.enqueue_text('{"label": "angry", "confident": true, "loudest": "customer"}')
    fake.enqueue_text('{"label": "negative", "confident": false, "loudest": "customer"}')
    assert client.chat(DIALOGUE, response_format=Sentiment).parsed.confident is False
    assert (
        "expected one of ['positive', 'neutral', 'negative']" in fake.requests[-1].messages[-1].text
    )


# -- cache, tool loop --------------------------------------------------------------------------


def test_the_schema_is_in_the_cache_key_and_hits_are_parsed_again(fake):
    with make_client(fake, {"modelbus": {"cache": "memory"}}) as c:
        fake.enqueue_text(json.dumps(VALID))
        fake.enqueue_text('{"label": "neutral", "confident": true, "loudest": "agent"}')
        a = c.chat("x", response_format=Invoice)
        b = c.chat("x", response_format=Invoice)
        s = c.chat("x", response_format=Sentiment)  # same prompt, other schema: a miss
        plain = c.chat("x")  # no schema: a miss too (the echo default)
    assert a.parsed == b.parsed == INVOICE and not a.cached and b.cached and b.attempts == 0
    assert s.parsed == Sentiment("neutral", True, Speaker.AGENT) and not s.cached
    assert plain.content == "echo: x"
    assert fake.calls == 3


def test_with_the_tool_loop(client, fake):
    def stock(item: str) -> int:
        """Units of an item in stock."""
        return {"pen": 2}[item]

    fake.enqueue_tool_call("stock", '{"item": "pen"}')
    fake.enqueue_text(json.dumps(VALID))
    r = client.chat("invoice all pens in stock", tools=[stock], response_format=Invoice)
    assert r.parsed == INVOICE
    assert [m.role for m in r.transcript] == ["user", "assistant", "tool", "assistant"]
    assert r.transcript[2].content == "2"
    for req in fake.requests:  # each round carried the schema and the tool
        assert req.response_format["type"] == "json_schema"
        assert [t.function.name for t in req.tools or ()] == ["stock"]


async def test_with_the_async_tool_loop(client, fake):
    async def stock(item: str) -> int:
        """Units of an item in stock."""
        return 2

    fake.enqueue_tool_call("stock", '{"item": "pen"}')
    fake.enqueue_text("{}")  # invalid: re-asked inside the round
    fake.enqueue_text(json.dumps(VALID))
    r = await client.achat("invoice", tools=[stock], response_format=Invoice)
    assert r.parsed == INVOICE and fake.calls == 3
    assert [m.role for m in r.transcript] == ["user", "assistant", "tool", "assistant"]


def test_tools_mode_inside_the_tool_loop(client, fake):
    def stock(item: str) -> int:
        """Units of an item in stock."""
        return 2

    fake.enqueue_tool_call("stock", '{"item": "pen"}')
    fake.enqueue_tool_call("Invoice", json.dumps(VALID))
    so = StructuredOutput(Invoice, mode="tools")
    r = client.chat("invoice", tools=[stock], response_format=so)
    assert r.parsed == INVOICE
    assert [t.function.name for t in fake.requests[0].tools or ()] == ["stock", "Invoice"]
    assert fake.requests[0].tool_choice is None  # alongside other tools, the model chooses


# -- the core's dispatch -----------------------------------------------------------------------


def test_unknown_format_without_a_handler_names_the_package(fake):
    c = make_client(fake)
    c.registry = c.registry.copy(exclude=("response_formats", "structured"))
    with pytest.raises(
        TypeError, match=r"installed handlers: none.*pip install modelbus-structured-output"
    ):
        c.chat("x", response_format=Invoice)
    assert fake.calls == 0


def test_values_no_handler_accepts(client, fake):
    with pytest.raises(TypeError, match="installed handlers: structured"):
        client.chat("x", response_format="json")
    with pytest.raises(TypeError, match=r"bare list needs item types"):
        client.chat("x", response_format=list)
    # a dict is sent as is, unparsed
    fake.enqueue_text("{}")
    r = client.chat("x", response_format={"type": "json_object"})
    assert r.parsed is None and fake.requests[-1].response_format == {"type": "json_object"}


def test_options_are_checked():
    with pytest.raises(ValueError, match="mode must be one of"):
        StructuredOutput(Invoice, mode="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_reasks must be an int >= 0"):
        StructuredOutput(Invoice, max_reasks=-1)
    with pytest.raises(ValueError, match="name must match"):
        StructuredOutput(Invoice, name="an invoice")


def test_matches():
    h = StructuredOutputHandler()
    assert h.matches(Invoice) and h.matches(list[Invoice]) and h.matches(Literal["a"])
    assert h.matches(StructuredOutput(Invoice)) and h.matches(dt.date)
    assert not h.matches({"type": "json_object"}) and not h.matches("json")
    assert not h.matches(None) and not h.matches(3)


def test_parsed_is_not_part_of_equality():
    m = Message("assistant", "{}")
    assert ChatResponse("a", "m", m, parsed=1) == ChatResponse("a", "m", m, parsed=2)


def test_jsonschema_validates_what_we_parse():
    t = target_of(StructuredOutput(Invoice))
    jsonschema.Draft202012Validator.check_schema(t.schema)
    jsonschema.validate(VALID, t.schema)
    assert t.load(VALID) == INVOICE
    assert modelbus.errors.RefusalError is RefusalError
