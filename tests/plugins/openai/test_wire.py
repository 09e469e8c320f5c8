"""What the ``openai`` provider puts on the wire, as recorded by the WireServer."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

from modelbus import ChatRequest, Message, Secret, TextPart
from modelbus.errors import ConfigError
from modelbus.testing.server import Reply, WireServer
from modelbus_openai import OpenAICompatibleProvider, OpenAIProvider, OpenAISettings, image_part
from tests.plugins.openai.conftest import MakeClient

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "strict": True,
    },
}


def test_parameters_pass_through(srv: WireServer, make_client: MakeClient) -> None:
    client = make_client()
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": True},
    }
    client.chat(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        model="gpt-4o-mini",
        temperature=0.2,
        seed=7,
        logprobs=True,
        top_logprobs=3,
        response_format=schema,
        tools=[WEATHER],
        tool_choice="auto",
        parallel_tool_calls=False,
        max_completion_tokens=50,
        stop=["\n\n"],
        user="u-1",
        extra_body={"metadata": {"k": "v"}},
    )
    sent = srv.requests[0]
    assert sent.method == "POST" and sent.path == "/v1/chat/completions"
    assert sent.json == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "seed": 7,
        "logprobs": True,
        "top_logprobs": 3,
        "response_format": schema,
        "tools": [WEATHER],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "max_completion_tokens": 50,
        "stop": ["\n\n"],
        "user": "u-1",
        "metadata": {"k": "v"},
    }


def test_tool_round_trip_messages(srv: WireServer, make_client: MakeClient) -> None:
    """An assistant tool call and the tool result go back in OpenAI's shape."""
    srv.enqueue(Reply.fixture("openai/chat_completion_tool_calls"))
    client = make_client()
    first = client.chat("What is 1231 * 2331?", model="gpt-4o-mini", tools=[WEATHER])
    call = first.tool_calls[0]
    history = [
        Message("user", "What is 1231 * 2331?"),
        first.message,
        Message("tool", "2869461", tool_call_id=call.id),
    ]
    client.chat(history, model="gpt-4o-mini", tools=[WEATHER])
    msgs = srv.requests[1].json["messages"]
    assert msgs[1]["role"] == "assistant" and msgs[1]["content"] is None
    assert msgs[1]["tool_calls"] == [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.function.name, "arguments": call.function.arguments},
        }
    ]
    assert msgs[2] == {"role": "tool", "content": "2869461", "tool_call_id": call.id}


def test_stream_asks_for_usage(srv: WireServer, make_client: MakeClient) -> None:
    stream = make_client().stream("hi", model="gpt-4o-mini")
    chunks = list(stream)
    body = srv.requests[0].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert chunks[-1].usage is not None
    assert stream.response.usage == chunks[-1].usage


def test_headers(srv: WireServer, make_client: MakeClient) -> None:
    make_client(organization="org-1", project="proj_1", default_headers={"X-Trace": "abc"}).chat(
        "hi", model="gpt-4o-mini"
    )
    h = srv.requests[0].headers
    assert h["authorization"] == "Bearer sk-test"
    assert h["openai-organization"] == "org-1"
    assert h["openai-project"] == "proj_1"
    assert h["x-trace"] == "abc"
    assert h["x-stainless-retry-count"] == "0"  # the SDK does not retry on its own


def test_no_organization_or_project_header_by_default(
    srv: WireServer, make_client: MakeClient
) -> None:
    make_client().chat("hi", model="gpt-4o-mini")
    h = srv.requests[0].headers
    assert "openai-organization" not in h and "openai-project" not in h


def test_keyless_server_gets_no_authorization_and_no_env_key(
    srv: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The base class (reused for local servers) sends no key when it has none, and the
    SDK's fallback to $OPENAI_API_KEY never leaks the OpenAI key elsewhere."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    p = OpenAICompatibleProvider(name="local", base_url=srv.base_url)
    p.chat(ChatRequest(model="m", messages=(Message("user", "hi"),)))
    sent = srv.requests[0]
    assert "authorization" not in sent.headers
    assert all("sk-must-not-leak" not in v for _, v in sent.headers.raw)
    p.close()


def test_settings_read_the_environment(srv: WireServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
    p = OpenAIProvider(OpenAISettings())
    assert p.base_url == srv.base_url
    assert p.cache_identity.startswith(f"{srv.base_url}|credential=")
    p.chat(ChatRequest(model="gpt-4o-mini", messages=(Message("user", "hi"),)))
    assert srv.requests[0].headers["authorization"] == "Bearer sk-from-env"
    p.close()


def test_missing_key_for_api_openai_com_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        OpenAIProvider(OpenAISettings())
    assert "OPENAI_API_KEY" in str(info.value)
    assert info.value.key == "providers.openai.api_key"


def test_secret_is_not_in_repr_or_cache_identity(srv: WireServer) -> None:
    p = OpenAIProvider(OpenAISettings(api_key=Secret("sk-secret-1"), base_url=srv.base_url))
    assert "sk-secret-1" not in repr(p.settings)
    assert "sk-secret-1" not in p.cache_identity


def test_vision_local_file_and_url(
    tmp_path: Path, srv: WireServer, make_client: MakeClient
) -> None:
    png = tmp_path / "dot.png"
    # The smallest valid PNG: 1x1 pixel (signature, IHDR, IDAT, IEND).
    png.write_bytes(
        base64.b64decode(
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
        )
    )
    msg = Message(
        "user",
        (
            TextPart("What is this?"),
            image_part(png, detail="low"),
            image_part("https://example.com/cat.jpg"),
        ),
    )
    make_client().chat([msg], model="gpt-4o-mini")
    content = srv.requests[0].json["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "What is this?"}
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png.read_bytes()
    assert content[1]["image_url"]["detail"] == "low"
    assert content[2] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}


def test_image_part_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.png"):
        image_part(tmp_path / "nope.png")
    txt = tmp_path / "notes.txt"
    txt.write_text("x")
    with pytest.raises(ValueError, match="image/png"):
        image_part(txt)
    jpg = tmp_path / "p.JPEG"
    jpg.write_bytes(b"\xff\xd8\xff")
    assert image_part(jpg).image_url.url.startswith("data:image/jpeg;base64,")


def _vector_reply(values: list[float], count: int) -> Reply:
    """An embeddings body whose ``data`` comes in REVERSE index order; vector i of this
    batch is ``[values[i]] * 3`` as base64 float32."""
    data = []
    for i in reversed(range(count)):
        raw = struct.pack("<3f", *([values[i]] * 3))
        data.append(
            {"object": "embedding", "index": i, "embedding": base64.b64encode(raw).decode()}
        )
    return Reply.json(
        {
            "object": "list",
            "data": data,
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": count, "total_tokens": count},
        }
    )


def test_embeddings_batches_keep_order(srv: WireServer, make_client: MakeClient) -> None:
    client = make_client(embedding_batch_size=2)
    srv.enqueue(_vector_reply([0.0, 1.0], 2), _vector_reply([2.0, 3.0], 2), _vector_reply([4.0], 1))
    resp = client.embed([f"t{i}" for i in range(5)], model="text-embedding-3-small", dimensions=3)
    assert [v[0] for v in resp.vectors] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert resp.usage.prompt_tokens == 5 and resp.attempts == 1
    sent = [r.json for r in srv.requests]
    assert [b["input"] for b in sent] == [["t0", "t1"], ["t2", "t3"], ["t4"]]
    assert all(b["dimensions"] == 3 and b["encoding_format"] == "base64" for b in sent)


def test_embeddings_default_batch_is_2048(srv: WireServer, make_client: MakeClient) -> None:
    resp = make_client().embed(
        [f"t{i}" for i in range(2049)], model="text-embedding-3-small", dimensions=4
    )
    assert [len(r.json["input"]) for r in srv.requests] == [2048, 1]
    assert len(resp.vectors) == 2049 and all(len(v) == 4 for v in resp.vectors)


async def test_async_embeddings(srv: WireServer, make_client: MakeClient) -> None:
    client = make_client(embedding_batch_size=2)
    try:
        srv.enqueue(_vector_reply([5.0, 6.0], 2), _vector_reply([7.0], 1))
        resp = await client.aembed(["a", "b", "c"], model="text-embedding-3-small")
        assert [v[0] for v in resp.vectors] == [5.0, 6.0, 7.0]
    finally:
        await client.aclose()


def test_embeddings_count_mismatch_is_an_error(srv: WireServer, make_client: MakeClient) -> None:
    from modelbus.errors import ServerError

    srv.enqueue(_vector_reply([1.0], 1))
    with pytest.raises(ServerError, match="1 vectors for 2 inputs"):
        make_client(core={"retry_policy": "none"}).embed(["a", "b"], model="text-embedding-3-small")


def test_list_and_retrieve_models(srv: WireServer, make_client: MakeClient) -> None:
    p = make_client().provider("openai").inner
    assert [m["id"] for m in p.list_models()] == ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
    assert p.retrieve_model("gpt-4o")["id"] == "gpt-4o"
    assert [(r.method, r.path) for r in srv.requests] == [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/gpt-4o"),
    ]


async def test_async_list_models(srv: WireServer, make_client: MakeClient) -> None:
    client = make_client()
    try:
        models = await client.provider("openai").inner.alist_models()
        assert "gpt-4o" in [m["id"] for m in models]
    finally:
        await client.aclose()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_async_transports(transport: str, srv: WireServer, make_client: MakeClient) -> None:
    client = make_client(async_transport=transport)
    try:
        resp = await client.achat("hi", model="gpt-4o-mini")
        chunks = [c async for c in client.astream("hi", model="gpt-4o-mini")]
        assert resp.content == "YES" and chunks
        assert srv.requests[0].headers["x-stainless-async"].startswith("async:")
    finally:
        await client.aclose()


def test_sdk_clients_are_made_once(srv: WireServer, make_client: MakeClient) -> None:
    client = make_client()
    p = client.provider("openai").inner
    client.chat("a", model="gpt-4o-mini")
    first = p.sync_client
    client.chat("b", model="gpt-4o-mini")
    list(client.stream("c", model="gpt-4o-mini"))
    assert p.sync_client is first
    assert first.max_retries == 0


def test_embeddings_without_base64_for_servers_that_lack_it(srv: WireServer) -> None:
    """``embedding_encoding=None`` (for local servers) asks no encoding_format and reads
    float lists."""
    from modelbus import EmbeddingRequest

    p = OpenAICompatibleProvider(name="local", base_url=srv.base_url, embedding_encoding=None)
    resp = p.embed(EmbeddingRequest(model="m", input=("a", "b"), dimensions=5))
    assert "encoding_format" not in srv.requests[0].json
    assert srv.requests[0].json["dimensions"] == 5
    assert [len(v) for v in resp.vectors] == [5, 5]
    p.close()


def test_async_clients_per_event_loop(srv: WireServer) -> None:
    """Each event loop gets its own async client (a connection pool belongs to its loop);
    aclose closes the current loop's client, and a closed loop's client is dropped."""
    import asyncio

    p = OpenAICompatibleProvider(name="x", base_url=srv.base_url)
    req = ChatRequest(model="m", messages=(Message("user", "hi"),))
    seen: list[object] = []

    async def call(close: bool) -> str | None:
        resp = await p.achat(req)
        seen.append(p.async_client())
        if close:
            await p.aclose()
        return resp.content

    assert asyncio.run(call(close=True)) == "YES"
    assert asyncio.run(call(close=True)) == "YES"
    assert seen[0] is not seen[1]
    assert p._async == {}
    p.close()
