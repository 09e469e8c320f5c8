"""Today's request parameters as typed fields, the catalog's service-tier prices and
capability flags, and the request adapted to its model before it is sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import modelbus
from modelbus._catalog import Catalog
from modelbus._engine.adapt_params import adapt_request
from modelbus._wire.types import ChatRequest, Message, ToolSpec, Usage
from modelbus.errors import BadRequestError, ConfigError
from modelbus.testing import FakeClock, FakeProvider, make_client
from modelbus.testing.server import Reply, WireServer

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gpt-5.6-sol"  # a reasoning model of the catalog (genai-prices)


def completion(service_tier: str, prompt: int = 1000, completion_tokens: int = 100) -> Reply:
    return Reply.json(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": MODEL,
            "service_tier": service_tier,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt + completion_tokens,
            },
        }
    )


@pytest.fixture
def openai_client(wire_server: WireServer, tmp_path: Path):
    cfg = {
        "modelbus": {"provider": "openai", "cache": "none"},
        "providers": {"openai": {"base_url": wire_server.base_url, "api_key": "sk-test"}},
    }
    with modelbus.Client(cfg, clock=FakeClock().as_clock()) as c:
        yield c


def test_todays_parameters_reach_the_wire_and_the_tier_prices_the_cost(
    openai_client: modelbus.Client, wire_server: WireServer
) -> None:
    wire_server.enqueue(completion("flex"))
    r = openai_client.chat(
        "hi",
        model=MODEL,
        service_tier="flex",
        prompt_cache_key="k",
        verbosity="low",
        store=False,
        metadata={"app": "docs"},
        modalities=["text"],
        safety_identifier="user-1",
    )
    body = wire_server.requests[0].json
    assert body["service_tier"] == "flex" and body["prompt_cache_key"] == "k"
    assert body["verbosity"] == "low" and body["store"] is False
    assert body["metadata"] == {"app": "docs"} and body["modalities"] == ["text"]
    assert body["safety_identifier"] == "user-1"
    # gpt-5.6-sol at flex: $2 in, $10 out per 1M tokens (genai-prices 0.2.3)
    assert r.cost_usd == pytest.approx((1000 * 2 + 100 * 10) / 1e6)


def test_the_tier_the_provider_reports_is_the_one_billed(
    openai_client: modelbus.Client, wire_server: WireServer
) -> None:
    wire_server.enqueue(completion("priority"))
    r = openai_client.chat("hi", model=MODEL, service_tier="auto")
    assert r.cost_usd == pytest.approx((1000 * 8 + 100 * 40) / 1e6)  # priority prices
    wire_server.enqueue(completion("default"))
    r = openai_client.chat("hi", model=MODEL, service_tier="flex")
    assert r.cost_usd == pytest.approx((1000 * 4 + 100 * 20) / 1e6)  # base prices


def test_a_reasoning_model_gets_an_adapted_request_never_a_400(
    openai_client: modelbus.Client, wire_server: WireServer
) -> None:
    wire_server.enqueue(completion("default"))
    openai_client.chat("hi", model=MODEL, temperature=0.2, top_p=0.5, max_tokens=50)
    body = wire_server.requests[0].json
    assert "temperature" not in body and "top_p" not in body and "max_tokens" not in body
    assert body["max_completion_tokens"] == 50


def test_error_policy_refuses_before_sending(wire_server: WireServer) -> None:
    cfg = {
        "modelbus": {"provider": "openai", "cache": "none", "unsupported_params": "error"},
        "providers": {"openai": {"base_url": wire_server.base_url, "api_key": "sk-test"}},
    }
    with modelbus.Client(cfg) as c, pytest.raises(BadRequestError) as info:
        c.chat("hi", model=MODEL, temperature=0.2)
    err = info.value
    assert err.code == "unsupported_parameter" and err.provider == "openai"
    assert "temperature is not supported by gpt-5.6-sol" in str(err)
    assert wire_server.requests == []


async def test_every_call_mode_is_adapted() -> None:
    fake = FakeProvider()
    for _ in range(4):
        fake.enqueue_text("ok")
    with make_client(fake, {"modelbus": {"cache": "none"}}) as c:
        c.chat("a", model=MODEL, temperature=0.2)
        await c.achat("b", model=MODEL, temperature=0.2)
        list(c.stream("c", model=MODEL, temperature=0.2))
        [x async for x in c.astream("d", model=MODEL, temperature=0.2)]
    assert [r.temperature for r in fake.requests] == [None] * 4
    # a model that takes temperature keeps it
    fake.enqueue_text("ok")
    with make_client(fake, {"modelbus": {"cache": "none"}}) as c:
        c.chat("e", model="gpt-4o", temperature=0.2)
    assert fake.requests[-1].temperature == 0.2


def test_adaptation_rules() -> None:
    cat = Catalog.load()
    entry = cat.get(MODEL)
    req = ChatRequest(
        model=MODEL,
        messages=(Message("user", "q"),),
        temperature=1.0,  # the default: accepted as it is
        logprobs=True,
        reasoning_effort="low",
        max_tokens=10,
        max_completion_tokens=20,
    )
    out, notes = adapt_request(req, entry)
    assert out.temperature == 1.0 and out.logprobs is None
    assert out.reasoning_effort == "low"  # a reasoning model takes it
    assert out.max_tokens is None and out.max_completion_tokens == 20  # the explicit one wins
    assert len(notes) == 2
    # a non-reasoning model drops reasoning_effort
    out, notes = adapt_request(
        ChatRequest(model="gpt-4o", messages=(), reasoning_effort="high"), cat.get("gpt-4o")
    )
    assert out.reasoning_effort is None and notes
    # nothing to adapt: the same object
    plain = ChatRequest(model="gpt-4o", messages=())
    assert adapt_request(plain, cat.get("gpt-4o")) == (plain, ())
    assert adapt_request(plain, None) == (plain, ())


def test_tools_for_a_model_without_tools_are_refused_in_any_policy() -> None:
    cat = Catalog.load({"no-tools": {"tools": False, "vision": False}})
    req = ChatRequest(
        model="no-tools",
        messages=(Message("user", "q"),),
        tools=(ToolSpec(modelbus.FunctionSpec("f")),),
    )
    with pytest.raises(BadRequestError, match="tools is not supported by no-tools"):
        adapt_request(req, cat.get("no-tools"), "adapt")


def test_catalog_overrides_of_the_new_fields_are_checked(tmp_path: Path) -> None:
    cat = Catalog.load({"m": {"input_per_1m": 1, "service_tiers": {"flex": {"input_per_1m": 0.5}}}})
    assert cat.cost("m", Usage(1_000_000, 0, 1_000_000), "flex") == 0.5
    assert cat.cost("m", Usage(1_000_000, 0, 1_000_000), "default") == 1
    for bad in (
        {"service_tiers": {"flex": {"input": 1}}},
        {"service_tiers": {"flex": {"input_per_1m": -1}}},
        {"reasoning": "yes"},
        {"max_tokens_param": "max_output"},
    ):
        with pytest.raises(ValueError, match="catalog entry 'm'"):
            Catalog.load({"m": bad})
    cfg = tmp_path / "modelbus.toml"
    cfg.write_text('[catalog."m"]\nreasoning = "yes"\n')
    with pytest.raises(ConfigError, match="reasoning must be true or false"):
        modelbus.Client(cfg)


def test_the_shipped_catalog_is_what_the_pinned_genai_prices_gives() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "update_catalog.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_models_lists_the_current_family_with_source_and_date() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelbus.cli", "models", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    rows: dict[str, Any] = {r["model"]: r for r in json.loads(done.stdout)}
    family = [m for m in rows if m.startswith("gpt-5.6-")]
    assert {"gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna"} <= set(family)
    for m in family:
        r = rows[m]
        assert r["input_per_1m"] is not None and r["output_per_1m"] is not None
        assert r["source"].startswith("genai-prices ") and r["as_of"]
        assert r["reasoning"] is True and r["max_tokens_param"] == "max_completion_tokens"
