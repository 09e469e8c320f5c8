"""Every recorded Azure OpenAI payload, served by the WireServer, is parsed by the
``azure`` provider through a real Client; the URL is Azure's deployment URL.

Parametrized over the fixture folder (``wirecheck`` in the openai tests holds the
expectations, read from the recordings with plain json)."""

from __future__ import annotations

import pytest

from modelbus.errors import ProviderError
from modelbus.testing.server import FixtureFile, Reply, WireServer, wire_fixtures
from modelbus_azure import content_filter
from tests.plugins.azure.conftest import API_VERSION, MakeAzure
from tests.plugins.openai import wirecheck

FIXTURES = wire_fixtures(provider="azure")


def test_the_folder_is_not_empty() -> None:
    assert {wirecheck.kind(f) for f in FIXTURES} >= {"chat", "stream", "error"}


@pytest.mark.parametrize("f", FIXTURES, ids=lambda f: f.name)
def test_recorded_payload(f: FixtureFile, srv: WireServer, make_client: MakeAzure) -> None:
    client = make_client(core={"retry_policy": "none"}, deployments={"gpt-4o": "prod-4o"})
    srv.enqueue(Reply.fixture(f))
    k = wirecheck.kind(f)
    if k == "chat":
        resp = client.chat("hi", model="gpt-4o")
        wirecheck.check_chat(resp, wirecheck.body(f))
        raw = wirecheck.body(f)
        cf = content_filter(resp)
        assert cf is not None
        assert cf.completion == raw["choices"][0]["content_filter_results"]
        assert cf.prompt[0] == raw["prompt_filter_results"][0]["content_filter_results"]
    elif k == "stream":
        stream = client.stream("hi", model="gpt-4o")
        chunks = list(stream)
        wirecheck.check_stream(chunks, stream.response, f)
        first = wirecheck.stream_payloads(f)[0]
        if first.get("choices") == [] and "prompt_filter_results" in first:
            # Azure's filter-only first chunk: empty delta, results kept on the response.
            assert chunks[0].content is None and chunks[0].id == ""
            assert stream.response.id  # not overwritten by the empty id
            assert content_filter(stream.response) is not None
    elif k == "embeddings":
        raw = wirecheck.body(f)
        resp = client.embed([f"t{i}" for i in range(len(raw["data"]))], model="emb")
        wirecheck.check_embeddings(resp, raw)
    else:
        with pytest.raises(ProviderError) as info:
            client.chat("hi", model="gpt-4o")
        wirecheck.check_error(info.value, f)
    sent = srv.requests[0]
    assert sent.path == "/openai/deployments/prod-4o/chat/completions" or k == "embeddings"
    assert sent.query == {"api-version": API_VERSION}


def test_error_fixtures_have_expectations() -> None:
    names = {f.name for f in FIXTURES if wirecheck.kind(f) == "error"}
    assert names <= set(wirecheck.EXPECTED_ERRORS), names - set(wirecheck.EXPECTED_ERRORS)
