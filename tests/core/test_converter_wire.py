"""Every real recorded payload parses into modelbus types and round-trips through the
converter. A new fixture file is covered automatically."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import attrs
import pytest

from modelbus import ChatResponse, StreamAccumulator
from modelbus._wire.converter import (
    chat_response_to_openai,
    dumps_response,
    loads_response,
    parse_chat_chunk,
    parse_chat_response,
    parse_embedding_response,
)
from tests.conftest import wire_dir

WIRE = wire_dir()


def _bodies(pattern: str) -> list[Path]:
    return sorted(p for p in WIRE.glob(pattern) if not p.name.endswith(".headers.json"))


def _json(p: Path) -> dict:
    return json.loads(p.read_text(encoding="utf-8"))


CHAT_BODIES = [p for p in _bodies("*/*.json") if _json(p).get("object") == "chat.completion"]
EMBEDDING_BODIES = [p for p in _bodies("*/*.json") if _json(p).get("object") == "list"]
ERROR_BODIES = [p for p in _bodies("*/*.json") if "error" in _json(p)]
SSE_FILES = sorted(WIRE.glob("*/*.sse"))
CHUNK_LINES = sorted(WIRE.glob("*/*.chunks.jsonl"))


def test_every_fixture_is_classified() -> None:
    """No payload is silently skipped: each body is a chat, an embedding list or an error."""
    classified = {*CHAT_BODIES, *EMBEDDING_BODIES, *ERROR_BODIES}
    assert set(_bodies("*/*.json")) == classified
    assert len(CHAT_BODIES) >= 12 and len(SSE_FILES) >= 9


def _sse_events(p: Path) -> list[dict]:
    events = []
    for block in p.read_text(encoding="utf-8").split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data:"):
                data = line[5:].strip()
                if data and data != "[DONE]":
                    events.append(json.loads(data))
    return events


@pytest.mark.parametrize("path", CHAT_BODIES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_chat_body_parses_and_round_trips(path: Path) -> None:
    body = _json(path)
    resp = parse_chat_response(body, provider="x")
    choice = body["choices"][0]
    msg = choice["message"]
    assert resp.id == body["id"]
    assert resp.model == body["model"]
    assert resp.finish_reason == choice["finish_reason"]
    assert resp.message.content == msg.get("content")
    assert resp.message.refusal == msg.get("refusal")
    assert resp.message.reasoning_content == (msg.get("reasoning_content") or msg.get("reasoning"))
    assert [tc.id for tc in resp.tool_calls] == [tc["id"] for tc in msg.get("tool_calls") or []]
    for tc in resp.tool_calls:
        json.loads(tc.function.arguments)  # recorded arguments are complete JSON
    u = body["usage"]
    assert resp.usage.prompt_tokens == u["prompt_tokens"]
    assert resp.usage.completion_tokens == u["completion_tokens"]
    assert resp.usage.total_tokens == u["total_tokens"]
    details = u.get("prompt_tokens_details") or {}
    assert resp.usage.cached_tokens == (details.get("cached_tokens") or 0)
    assert resp.usage.cache_write_tokens == (details.get("cache_write_tokens") or 0)
    # extra keeps what servers add (timings, system_fingerprint, prompt_filter_results)
    for key in ("timings", "prompt_filter_results", "system_fingerprint"):
        if key in body:
            assert resp.extra[key] == body[key]
    again = parse_chat_response(chat_response_to_openai(resp), provider="x")
    assert again == resp
    cached_resp = loads_response(dumps_response(resp))
    assert cached_resp == resp
    # Usage.estimated is modelbus's, not the wire's: parsed False, never sent, and kept by
    # cache values beside the body (which is the same with or without it)
    assert resp.usage.estimated is False
    counted = attrs.evolve(resp, usage=attrs.evolve(resp.usage, estimated=True))
    assert chat_response_to_openai(counted) == chat_response_to_openai(resp)
    assert json.loads(dumps_response(resp))["_modelbus"] == {"provider": "x", "cost_usd": None}
    assert loads_response(dumps_response(counted)) == counted


@pytest.mark.parametrize(
    "path", [*SSE_FILES, *CHUNK_LINES], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_stream_assembles(path: Path) -> None:
    if path.suffix == ".sse":
        events = _sse_events(path)
    else:
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    acc = StreamAccumulator()
    text = []
    args: dict[int, str] = {}
    usage = None
    for ev in events:
        chunk = parse_chat_chunk(ev)
        acc.add(chunk)
        for ch in ev.get("choices") or []:
            d = ch.get("delta") or {}
            text.append(d.get("content") or "")
            for tc in d.get("tool_calls") or []:
                args[tc["index"]] = args.get(tc["index"], "") + (
                    (tc.get("function") or {}).get("arguments") or ""
                )
        if ev.get("usage"):
            usage = ev["usage"]
    resp: ChatResponse = acc.response("x")
    assert (resp.content or "") == "".join(text)
    assert [tc.function.arguments for tc in resp.tool_calls] == [args[i] for i in sorted(args)]
    for tc in resp.tool_calls:
        assert tc.id and tc.function.name
        json.loads(tc.function.arguments)
    if usage is not None:
        assert resp.usage.prompt_tokens == usage["prompt_tokens"]
        assert resp.usage.completion_tokens == usage["completion_tokens"]
        details = usage.get("prompt_tokens_details") or {}
        assert resp.usage.cache_write_tokens == (details.get("cache_write_tokens") or 0)
    assert resp.id, "the id survives Azure's empty-id first chunk"
    assert resp.finish_reason is not None


@pytest.mark.parametrize("path", EMBEDDING_BODIES, ids=lambda p: p.name)
def test_embeddings_parse(path: Path) -> None:
    body = _json(path)
    resp = parse_embedding_response(body, provider="openai")
    assert len(resp.vectors) == len(body["data"])
    for vec, item in zip(resp.vectors, sorted(body["data"], key=lambda d: d["index"]), strict=True):
        emb = item["embedding"]
        n = len(base64.b64decode(emb)) // 4 if isinstance(emb, str) else len(emb)
        assert len(vec) == n > 0
        assert all(isinstance(x, float) for x in vec)
    assert resp.usage.prompt_tokens == body["usage"]["prompt_tokens"]


def test_vllm_batch_lines_parse() -> None:
    lines = (WIRE / "vllm" / "batch_results_chat_completions_docs_2024.jsonl").read_text()
    for line in filter(None, lines.splitlines()):
        out = json.loads(line)
        # vLLM's 2024 runner put the completion in "response"; OpenAI's in "response.body"
        body = out["response"].get("body", out["response"])
        resp = parse_chat_response(body)
        assert resp.content == body["choices"][0]["message"]["content"]
        assert "stop_reason" in resp.extra
        assert chat_response_to_openai(resp)["choices"][0]["stop_reason"] is None


def test_cached_tokens_fixture_values() -> None:
    resp = parse_chat_response(_json(WIRE / "openai" / "chat_completion_cached_tokens.json"))
    assert (resp.usage.prompt_tokens, resp.usage.cached_tokens) == (3663, 3584)


def test_ollama_reasoning_field_maps_to_reasoning_content() -> None:
    body = _json(WIRE / "ollama" / "chat_completion_json_schema_reasoning.json")
    resp = parse_chat_response(body)
    assert resp.message.reasoning_content == body["choices"][0]["message"]["reasoning"]
    json.loads(resp.content or "")


def test_vllm_stream_keeps_stop_reason() -> None:
    """vLLM's per-choice stop_reason (a stop token id) survives streaming aggregation."""
    acc = StreamAccumulator()
    for ev in _sse_events(WIRE / "vllm" / "chat_stream_tool_call_nim_continuous_usage.sse"):
        acc.add(parse_chat_chunk(ev))
    assert acc.response().extra["stop_reason"] == 128008
