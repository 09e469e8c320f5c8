"""The model catalog: the shipped data, layering, cost from usage, totals per client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelbus import Catalog, Client, Usage
from modelbus._catalog import CatalogEntry, catalog_rows
from modelbus._config.config import Config
from modelbus._plugins.registry import Registration
from modelbus._wire.converter import parse_chat_response
from modelbus.errors import ConfigError
from modelbus.testing import FakeProvider, make_client

REQUIRED = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "o1",
    "o3",
    "o3-mini",
    "o4-mini",
    "gpt-3.5-turbo",
    "gpt-4",
    "gpt-4-turbo",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
]


@pytest.mark.parametrize("model", REQUIRED)
def test_shipped_entries_have_sourced_dated_figures(model: str) -> None:
    e = Catalog.load().get(model)
    assert e is not None and e.model == model
    assert e.provider == "openai"
    # prices from genai-prices (scripts/update_catalog.py), limits from LiteLLM's list
    assert e.source and "genai-prices" in e.source and "LiteLLM" in e.source
    assert e.as_of is not None and len(e.as_of) == 10
    assert e.context_window or e.max_input_tokens
    assert e.input_per_1m is not None and e.input_per_1m > 0
    assert e.output_per_1m is not None and e.output_per_1m >= 0
    if e.mode == "chat":
        assert e.max_output_tokens and e.output_per_1m > e.input_per_1m


def test_known_figures_from_the_source() -> None:
    # LiteLLM model_prices_and_context_window.json (litellm 1.109.1): per-token prices
    # 2.5e-06 / 1.25e-06 (cache read) / 1e-05 and 128000 / 16384 tokens for gpt-4o;
    # gpt-5 has a 272000-token input cap beside 128000 output tokens.
    cat = Catalog.load()
    e = cat.get("gpt-4o")
    assert e is not None
    assert (e.input_per_1m, e.cached_input_per_1m, e.output_per_1m) == (2.5, 1.25, 10.0)
    assert (e.context_window, e.max_output_tokens) == (128000, 16384)
    g5 = cat.get("gpt-5")
    assert g5 is not None
    assert (g5.context_window, g5.max_input_tokens, g5.max_output_tokens) == (None, 272000, 128000)


def test_dated_snapshots_find_their_family_unless_listed() -> None:
    cat = Catalog.load()
    snap = cat.get("gpt-4o-2024-08-06")
    assert snap is not None and snap.model == "gpt-4o"
    old = cat.get("gpt-4o-2024-05-13")  # priced differently, so listed on its own
    assert old is not None and old.model == "gpt-4o-2024-05-13" and old.input_per_1m == 5.0
    assert cat.get("gpt-3.5-turbo-0125") is cat.get("gpt-3.5-turbo")
    assert cat.get("no-such-model") is None
    assert "gpt-4o-mini-2024-07-18" in cat and "llama" not in cat


def test_cost_of_a_recorded_cached_response(wire: Path) -> None:
    body = json.loads((wire / "openai/chat_completion_cached_tokens.json").read_text())
    resp = parse_chat_response(body)
    assert resp.model == "gpt-4o-2024-08-06"
    u = resp.usage
    assert (u.prompt_tokens, u.cached_tokens, u.completion_tokens) == (3663, 3584, 117)
    cost = Catalog.load().cost(resp.model, u)
    # uncached prompt at $2.50/1M, cached at $1.25/1M, completion at $10/1M
    assert cost == pytest.approx((79 * 2.50 + 3584 * 1.25 + 117 * 10.00) / 1e6)


def test_cost_is_none_when_a_price_is_unknown() -> None:
    assert CatalogEntry("m").cost(Usage(10, 5, 15)) is None
    assert CatalogEntry("m", input_per_1m=1.0).cost(Usage(10, 5, 15)) is None
    assert CatalogEntry("m", input_per_1m=1.0).cost(Usage(10, 0, 10)) == pytest.approx(1e-5)
    assert Catalog.load().cost("unknown-model", Usage(10, 5, 15)) is None


def test_cost_above_the_price_tier_is_unknown() -> None:
    e = Catalog.load().get("gpt-5.4")
    assert e is not None and e.tier_above_prompt_tokens == 272000
    assert e.cost(Usage(272000, 10, 272010)) is not None
    assert e.cost(Usage(272001, 10, 272011)) is None


def test_cached_tokens_without_a_cached_price_use_the_input_price() -> None:
    e = CatalogEntry("m", input_per_1m=2.0, output_per_1m=4.0)
    assert e.cost(Usage(100, 10, 110, cached_tokens=60)) == pytest.approx(
        (100 * 2.0 + 10 * 4.0) / 1e6
    )


def test_config_adds_and_overrides_entries_field_by_field() -> None:
    c = make_client(
        FakeProvider(),
        {
            "catalog": {
                "my-model": {"context_window": 4096, "input_per_1m": 0.5, "output_per_1m": 1.0},
                "gpt-4o": {"input_per_1m": 3.0},
            }
        },
    )
    mine = c.catalog.get("my-model")
    assert mine is not None and mine.context_window == 4096 and mine.provider is None
    g = c.catalog.get("gpt-4o")
    assert g is not None and g.input_per_1m == 3.0 and g.output_per_1m == 10.0


def test_plugin_entries_are_layered_under_config() -> None:
    base = make_client(FakeProvider())
    registry = base.registry.copy()
    registry.add(
        Registration(
            "catalog",
            "plugin-model",
            {"context_window": 1000, "input_per_1m": 1.0},
            plugin="test-plugin",
        )
    )
    cfg = Config.from_dict(
        {"modelbus": {"provider": "fake"}, "catalog": {"plugin-model": {"input_per_1m": 2.0}}}
    )
    c = Client(cfg, registry=registry)
    e = c.catalog.get("plugin-model")
    assert e is not None and e.context_window == 1000 and e.input_per_1m == 2.0


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"context_windw": 10}, "unknown keys"),
        ({"context_window": "big"}, "context_window must be a positive integer"),
        ({"context_window": 0}, "positive integer"),
        ({"input_per_1m": -1}, "input_per_1m must be a number >= 0"),
        ({"input_per_1m": True}, "input_per_1m"),
        ({"source": 3}, "source must be a string"),
    ],
)
def test_bad_config_entries_are_config_errors_naming_the_model(
    fields: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        make_client(FakeProvider(), {"catalog": {"my-model": fields}})
    assert "my-model" in str(info.value)


def test_catalog_rows_are_json_ready_and_sorted() -> None:
    rows = catalog_rows(Catalog.load({"aaa-model": {"input_per_1m": 1.0}}))
    assert [r["model"] for r in rows] == sorted(r["model"] for r in rows)
    assert rows[0]["model"] == "aaa-model" and rows[0]["context_window"] is None
    assert set(rows[0]) >= {
        "model",
        "provider",
        "context_window",
        "max_output_tokens",
        "input_per_1m",
        "cached_input_per_1m",
        "output_per_1m",
        "source",
        "as_of",
    }
    json.dumps(rows)


class TestCostThroughTheClient:
    def test_responses_carry_cost_and_totals_add_up(self) -> None:
        fake = FakeProvider(model="gpt-4o-mini")
        c = make_client(fake)
        fake.enqueue_text("a", usage=Usage(1000, 200, 1200, cached_tokens=400))
        fake.enqueue_text("b", usage=Usage(500, 100, 600))
        r1 = c.chat("one", cache="bypass")
        r2 = c.chat("two", cache="bypass")
        assert r1.cost_usd == pytest.approx((600 * 0.15 + 400 * 0.075 + 200 * 0.6) / 1e6)
        assert r2.cost_usd == pytest.approx((500 * 0.15 + 100 * 0.6) / 1e6)
        t = c.usage_totals
        assert t.requests == 2 and t.unpriced_requests == 0
        assert t.cost_usd == pytest.approx(r1.cost_usd + r2.cost_usd)
        assert t.usage.prompt_tokens == 1500

    def test_unpriced_models_cost_none_and_are_counted_apart(self) -> None:
        fake = FakeProvider(model="local-llama")
        c = make_client(fake)
        r = c.chat("hi", cache="bypass")
        assert r.cost_usd is None
        assert c.usage_totals.unpriced_requests == 1 and c.usage_totals.cost_usd == 0.0

    def test_cache_hits_cost_nothing_more(self) -> None:
        fake = FakeProvider(model="gpt-4o")
        c = make_client(fake)
        c.chat("same")
        spent = c.usage_totals.cost_usd
        hit = c.chat("same")
        assert hit.cached and c.usage_totals.cost_usd == spent and c.usage_totals.cache_hits == 1

    async def test_async_and_streams_are_priced_too(self) -> None:
        fake = FakeProvider(model="gpt-4o")
        c = make_client(fake)
        r = await c.achat("hi", cache="bypass")
        assert r.cost_usd is not None and r.cost_usd > 0
        s = c.stream("hi", cache="bypass")
        for _ in s:
            pass
        assert s.response.usage.prompt_tokens > 0
        assert s.response.cost_usd == pytest.approx(c.catalog.cost("gpt-4o", s.response.usage))

    def test_embeddings_are_priced(self) -> None:
        fake = FakeProvider(model="text-embedding-3-small")
        c = make_client(fake)
        r = c.embed(["a b c", "d e"])
        assert r.cost_usd == pytest.approx(r.usage.prompt_tokens * 0.02 / 1e6)


def test_a_service_tier_prices_what_it_lists_and_the_base_price_the_rest() -> None:
    e = CatalogEntry(
        "m",
        input_per_1m=2.0,
        cached_input_per_1m=1.0,
        output_per_1m=8.0,
        service_tiers={"flex": {"input_per_1m": 1.0, "output_per_1m": 4.0}},
    )
    u = Usage(100, 10, 110, cached_tokens=40)
    base = (60 * 2.0 + 40 * 1.0 + 10 * 8.0) / 1e6
    assert e.cost(u) == pytest.approx(base)
    # "default", "auto" and tiers the entry does not list: the base prices
    for tier in ("default", "auto", "priority", ""):
        assert e.cost(u, tier) == pytest.approx(base)
    # flex lists input and output; its cached price is the base one
    assert e.cost(u, "flex") == pytest.approx((60 * 1.0 + 40 * 1.0 + 10 * 4.0) / 1e6)
