"""Every recorded OpenAI payload, served over HTTP by the WireServer, is parsed by the
``openai`` provider (through a real Client) into the right response, chunks or error.

Parametrized over the fixture folder: a new recording is covered without editing this
file (``wirecheck.kind`` decides how it is called, ``wirecheck`` what it must become).
"""

from __future__ import annotations

import json

import pytest

from modelbus.errors import ProviderError
from modelbus.testing.server import FixtureFile, Reply, WireServer, wire_fixtures
from tests.plugins.openai import wirecheck
from tests.plugins.openai.conftest import MakeClient

FIXTURES = wire_fixtures(provider="openai")
NO_RETRY = {"retry_policy": "none"}


def wirecheck_file(name: str) -> FixtureFile:
    return next(f for f in FIXTURES if f.name == name)


def test_the_folder_is_not_empty() -> None:
    kinds = {wirecheck.kind(f) for f in FIXTURES}
    assert kinds == {"chat", "stream", "embeddings", "error"}


@pytest.mark.parametrize("f", FIXTURES, ids=lambda f: f.name)
def test_recorded_payload(f: FixtureFile, srv: WireServer, make_client: MakeClient) -> None:
    client = make_client(core=NO_RETRY)
    srv.enqueue(Reply.fixture(f))
    k = wirecheck.kind(f)
    if k == "chat":
        resp = client.chat("hi", model="gpt-4o-mini")
        wirecheck.check_chat(resp, wirecheck.body(f))
        assert resp.provider == "openai" and resp.attempts == 1
    elif k == "stream":
        stream = client.stream("hi", model="gpt-4o-mini")
        chunks = list(stream)
        wirecheck.check_stream(chunks, stream.response, f)
    elif k == "embeddings":
        raw = wirecheck.body(f)
        texts = [f"text {i}" for i in range(len(raw["data"]))]
        resp = client.embed(texts, model="text-embedding-3-small")
        wirecheck.check_embeddings(resp, raw)
    else:
        with pytest.raises(ProviderError) as info:
            client.chat("hi", model="gpt-4o-mini")
        wirecheck.check_error(info.value, f)
        assert len(srv.requests) == 1


@pytest.mark.parametrize(
    "f", [f for f in FIXTURES if wirecheck.kind(f) != "embeddings"], ids=lambda f: f.name
)
async def test_recorded_payload_async(
    f: FixtureFile, srv: WireServer, make_client: MakeClient
) -> None:
    client = make_client(core=NO_RETRY)
    srv.enqueue(Reply.fixture(f))
    k = wirecheck.kind(f)
    try:
        if k == "chat":
            wirecheck.check_chat(await client.achat("hi", model="gpt-4o-mini"), wirecheck.body(f))
        elif k == "stream":
            stream = client.astream("hi", model="gpt-4o-mini")
            chunks = [c async for c in stream]
            wirecheck.check_stream(chunks, stream.response, f)
        else:
            with pytest.raises(ProviderError) as info:
                await client.achat("hi", model="gpt-4o-mini")
            wirecheck.check_error(info.value, f)
    finally:
        await client.aclose()


def test_error_fixtures_have_expectations() -> None:
    """Every recorded error has an explicit expected class (the generic status rule is
    only the fallback for files added later)."""
    names = {f.name for f in FIXTURES if wirecheck.kind(f) == "error"}
    assert names <= set(wirecheck.EXPECTED_ERRORS), names - set(wirecheck.EXPECTED_ERRORS)


def test_cached_and_reasoning_tokens_from_details(srv: WireServer, make_client: MakeClient) -> None:
    """usage.prompt_tokens_details.cached_tokens lands on Usage, and the catalog prices
    the cached part at the cached rate."""
    srv.enqueue(Reply.fixture("openai/chat_completion_cached_tokens"))
    resp = make_client().chat("hi", model="gpt-4o")
    raw = wirecheck.body(wirecheck_file("openai/chat_completion_cached_tokens"))
    assert resp.usage.cached_tokens == raw["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert resp.usage.cached_tokens == 3584
    assert resp.cost_usd is not None and resp.cost_usd > 0


def test_structured_output_content_is_the_json(srv: WireServer, make_client: MakeClient) -> None:
    srv.enqueue(Reply.fixture("openai/chat_completion_structured_output_strict"))
    resp = make_client().chat(
        "hi",
        model="gpt-4o",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "book", "strict": True, "schema": {"type": "object"}},
        },
    )
    assert isinstance(json.loads(resp.content or ""), dict)
    sent = srv.requests[0].json
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["strict"] is True
