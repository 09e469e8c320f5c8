"""Prompt-cache writes: counted from ``usage.prompt_tokens_details.cache_write_tokens``
(the openai SDK's ``PromptTokensDetails``, genai-prices' OpenAI usage extractor), kept
through cache values and sums, and priced at the catalog's cache-write price (OpenAI bills
writes from GPT-5.6 on at 1.25x input). The recorded payloads carry no write count, so
the HTTP tests add the field to a recorded body and stream the way the API reports it."""

from __future__ import annotations

import json

import pytest

import modelbus
from modelbus._catalog import Catalog, CatalogEntry
from modelbus._limits.budgets import worst_case_cost_usd
from modelbus._wire.converter import (
    chat_response_to_openai,
    dumps_response,
    loads_response,
    parse_chat_response,
    parse_usage,
)
from modelbus._wire.types import Usage
from modelbus.testing import FakeClock
from modelbus.testing.server import Reply, WireServer
from tests.conftest import wire_dir

WIRE = wire_dir()
MODEL = "gpt-5.6-sol"  # $4 in, $0.40 cached, $5 cache write, $20 out per 1M (genai-prices)


def _price(uncached: int, cached: int, written: int, out: int, tier: str = "") -> float:
    if tier == "flex":  # half of each
        return (uncached * 2 + cached * 0.2 + written * 2.5 + out * 10) / 1e6
    return (uncached * 4 + cached * 0.4 + written * 5 + out * 20) / 1e6


def _recorded_completion_with_writes(written: int) -> dict:
    """The recorded cached-tokens completion (3663 prompt tokens, 3584 of them read from
    the cache), for MODEL, with ``written`` of the uncached ones reported as written."""
    body = json.loads((WIRE / "openai/chat_completion_cached_tokens.json").read_text())
    body["model"] = MODEL
    body["usage"]["prompt_tokens_details"]["cache_write_tokens"] = written
    return body


def _recorded_stream_with_writes(written: int) -> str:
    """The recorded cached-tokens stream (1144 prompt tokens, 1024 read from the cache),
    for MODEL, with ``written`` prompt tokens reported as written."""
    text = (WIRE / "openai/chat_stream_cached_tokens.sse").read_text()
    text = text.replace('"gpt-4.1-2025-04-14"', json.dumps(MODEL))
    old = '"prompt_tokens_details":{"cached_tokens":1024,'
    assert text.count(old) == 1
    return text.replace(
        old, f'"prompt_tokens_details":{{"cached_tokens":1024,"cache_write_tokens":{written},'
    )


@pytest.fixture
def client(wire_server: WireServer):
    cfg = {
        "modelbus": {"provider": "openai", "cache": "none"},
        "providers": {"openai": {"base_url": wire_server.base_url, "api_key": "sk-test"}},
    }
    with modelbus.Client(cfg, clock=FakeClock().as_clock()) as c:
        yield c


def test_the_openai_provider_counts_and_prices_writes(
    client: modelbus.Client, wire_server: WireServer
) -> None:
    wire_server.enqueue(Reply.json(_recorded_completion_with_writes(64)))
    r = client.chat("hi", model=MODEL)
    u = r.usage
    assert (u.prompt_tokens, u.cached_tokens, u.cache_write_tokens) == (3663, 3584, 64)
    assert r.cost_usd == pytest.approx(_price(3663 - 3584 - 64, 3584, 64, 117))


async def test_a_flex_call_prices_writes_at_the_flex_write_price(
    client: modelbus.Client, wire_server: WireServer
) -> None:
    body = _recorded_completion_with_writes(64)
    body["service_tier"] = "flex"
    wire_server.enqueue(Reply.json(body))
    r = await client.achat("hi", model=MODEL, service_tier="flex")
    assert r.cost_usd == pytest.approx(_price(15, 3584, 64, 117, "flex"))


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_a_stream_counts_and_prices_writes(
    mode: str, client: modelbus.Client, wire_server: WireServer
) -> None:
    sse = _recorded_stream_with_writes(100)
    wire_server.enqueue(Reply.raw(sse, content_type="text/event-stream"))
    if mode == "stream":
        s = client.stream("hi", model=MODEL)
        list(s)
    else:
        s = client.astream("hi", model=MODEL)
        [c async for c in s]
    u = s.response.usage
    assert (u.prompt_tokens, u.cached_tokens, u.cache_write_tokens) == (1144, 1024, 100)
    assert s.response.cost_usd == pytest.approx(_price(20, 1024, 100, 2))


def test_writes_survive_cache_values_and_the_openai_body() -> None:
    resp = parse_chat_response(_recorded_completion_with_writes(64), provider="openai")
    assert resp.usage.cache_write_tokens == 64
    assert parse_chat_response(chat_response_to_openai(resp), provider="openai") == resp
    assert loads_response(dumps_response(resp)) == resp
    # a body without writes is sent as before: no cache_write_tokens key
    plain = parse_chat_response(
        json.loads((WIRE / "openai/chat_completion_cached_tokens.json").read_text())
    )
    details = chat_response_to_openai(plain)["usage"]["prompt_tokens_details"]
    assert details == {"cached_tokens": 3584}


def test_usage_sums_and_missing_fields() -> None:
    a = Usage(10, 1, 11, cached_tokens=2, cache_write_tokens=3)
    assert (a + a).cache_write_tokens == 6 and (a + Usage()).cache_write_tokens == 3
    assert parse_usage({"prompt_tokens": 5, "completion_tokens": 1}) == Usage(5, 1, 6)
    nulls = {"prompt_tokens": 5, "prompt_tokens_details": {"cache_write_tokens": None}}
    assert parse_usage(nulls) == Usage(5, 0, 5)


def test_cost_prices_each_part_of_the_prompt() -> None:
    e = CatalogEntry(
        "m", input_per_1m=1.0, cached_input_per_1m=0.1, cache_write_per_1m=1.25, output_per_1m=2
    )
    u = Usage(1000, 10, 1010, cached_tokens=300, cache_write_tokens=500)
    assert e.cost(u) == pytest.approx((200 * 1.0 + 300 * 0.1 + 500 * 1.25 + 10 * 2) / 1e6)
    # no cache-write price listed: writes are billed as input
    e = CatalogEntry("m", input_per_1m=1.0, output_per_1m=2.0)
    assert e.cost(u) == pytest.approx((700 * 1.0 + 300 * 1.0 + 10 * 2) / 1e6)


def test_the_budget_worst_case_assumes_the_whole_prompt_may_be_written() -> None:
    cat = Catalog.load()
    sol = cat.get(MODEL)
    assert sol is not None
    assert worst_case_cost_usd(sol, 1000, 100) == pytest.approx(_price(0, 0, 1000, 100))
    assert worst_case_cost_usd(sol, 1000, 100, "flex") == pytest.approx(
        _price(0, 0, 1000, 100, "flex")
    )
    # a model whose writes cost no more than input: the input price, as before
    mini = cat.get("gpt-4o-mini")
    assert mini is not None and mini.input_per_1m is not None and mini.output_per_1m
    assert worst_case_cost_usd(mini, 1000, 100) == pytest.approx(
        (1000 * mini.input_per_1m + 100 * mini.output_per_1m) / 1e6
    )
