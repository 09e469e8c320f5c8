"""WireServer: the OpenAI-compatible test server, checked with httpx and the real SDK."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from modelbus.testing import _server_recorded as recorded
from modelbus.testing.server import (
    FixtureFile,
    Reply,
    WireServer,
    find_fixture,
    fixtures_root,
    wire_fixtures,
)

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
FRAMING = {"content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive"}


@pytest.fixture
def srv(wire_server: WireServer) -> WireServer:
    """The shared WireServer of modelbus's pytest plugin, reset for this test."""
    return wire_server


@pytest.fixture
def client(srv: WireServer) -> Iterator[openai.OpenAI]:
    # Closed after the test: its pooled sockets are otherwise left to the garbage
    # collector (a ResourceWarning in a later test).
    with openai.OpenAI(
        base_url=srv.base_url, api_key="sk-test", max_retries=0, timeout=5
    ) as client:
        yield client


def _events(body: bytes) -> list[Any]:
    """JSON payloads of the `data:` events of an SSE body, [DONE] excluded."""
    out = []
    for block in body.decode().split("\n\n"):
        data = block.strip().removeprefix("data: ")
        if data and data != "[DONE]":
            out.append(json.loads(data))
    return out


def _recorded_chunks(f: FixtureFile) -> list[Any]:
    if f.kind == "chunks":
        return [json.loads(line) for line in f.read_bytes().splitlines() if line.strip()]
    return _events(f.read_bytes())


def _floats(b64: str) -> list[float]:
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


# -- embedded defaults are real recordings -----------------------------------------------
def test_embedded_defaults_are_byte_exact_copies_of_the_recordings() -> None:
    root = fixtures_root()
    for constant, name in recorded.SOURCES.items():
        text = (root / name).read_text("utf-8")
        value = getattr(recorded, constant)
        if constant == "OPENAI_CHAT_HEADERS":
            headers = json.loads(text)["response_headers"]
            assert value and all(headers[k] == v for k, v in value)
        elif constant == "EMBEDDING_VECTORS_BASE64":
            assert list(value) == [d["embedding"] for d in json.loads(text)["data"]]
        else:
            assert value == text, constant


# -- every recorded fixture, over httpx ------------------------------------------------
@pytest.mark.parametrize("fixture", wire_fixtures(), ids=lambda f: f.name)
def test_every_fixture_is_replayed_with_status_headers_and_body(
    srv: WireServer, fixture: FixtureFile
) -> None:
    srv.enqueue(Reply.fixture(fixture.name))
    r = httpx.post(f"{srv.base_url}/chat/completions", json={"model": "m", "messages": USER})
    assert r.status_code == fixture.status_code
    assert "content-encoding" not in r.headers
    for name, value in fixture.response_headers:
        if name.lower() not in FRAMING:
            assert value in r.headers.get_list(name), name
    if fixture.kind in ("sse", "chunks"):
        assert r.headers["transfer-encoding"] == "chunked"
        assert r.headers["content-type"].startswith("text/event-stream")
        assert _events(r.content) == _recorded_chunks(fixture)
        assert r.content.endswith(b"data: [DONE]\n\n")
        if fixture.kind == "sse":
            assert r.content == fixture.read_bytes()
    else:
        assert r.content == fixture.read_bytes()
        assert r.headers["content-length"] == str(len(fixture.read_bytes()))
    assert srv.pending == 0


# -- every JSON fixture, through the openai SDK -----------------------------------------
@pytest.mark.parametrize("fixture", wire_fixtures("json"), ids=lambda f: f.name)
def test_json_fixtures_parse_with_the_openai_sdk(
    srv: WireServer, client: openai.OpenAI, fixture: FixtureFile
) -> None:
    body = json.loads(fixture.read_bytes())
    srv.enqueue(Reply.fixture(fixture.name))
    if fixture.status_code >= 400:
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="m", messages=USER)
        assert info.value.status_code == fixture.status_code
        assert info.value.body == body["error"]
        return
    if "embeddings" in fixture.name:
        emb = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
        for item, raw in zip(emb.data, body["data"], strict=True):
            expected = (
                _floats(raw["embedding"]) if isinstance(raw["embedding"], str) else raw["embedding"]
            )
            assert item.embedding == pytest.approx(expected)
        return
    completion = client.chat.completions.create(model="m", messages=USER)
    assert completion.to_dict() == body
    recorded_id = dict(fixture.response_headers).get("x-request-id")
    if recorded_id:
        assert completion._request_id == recorded_id


@pytest.mark.parametrize(
    "fixture", wire_fixtures("sse") + wire_fixtures("chunks"), ids=lambda f: f.name
)
def test_stream_fixtures_stream_through_the_sdk(
    srv: WireServer, client: openai.OpenAI, fixture: FixtureFile
) -> None:
    srv.enqueue(Reply.fixture(fixture.name))
    stream = client.chat.completions.create(model="m", messages=USER, stream=True)
    assert [chunk.to_dict() for chunk in stream] == _recorded_chunks(fixture)


def test_jsonl_fixture_served_as_file_content(srv: WireServer, client: openai.OpenAI) -> None:
    (fixture,) = wire_fixtures("jsonl")
    srv.enqueue(Reply.fixture(fixture))
    content = client.files.content("file-batch-output")
    lines = [json.loads(line) for line in content.text.splitlines()]
    assert lines and all(line["response"]["object"] == "chat.completion" for line in lines)
    assert srv.requests[-1].path == "/v1/files/file-batch-output/content"


def test_headers_only_fixture_gives_status_error_with_recorded_headers(
    srv: WireServer, client: openai.OpenAI
) -> None:
    (fixture,) = wire_fixtures("headers")
    srv.enqueue(Reply.fixture(fixture.name))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert info.value.response.headers["cf-cache-status"] == "DYNAMIC"
    assert "retry-after" not in info.value.response.headers


# -- default routes ---------------------------------------------------------------------
def test_default_chat_completion_and_streams(srv: WireServer, client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert completion.choices[0].message.content == "YES"
    assert completion._request_id and completion._request_id.startswith("req_")
    with_usage = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    plain = list(client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    assert len(plain) == len(with_usage) - 1
    assert all(c.usage is None and "usage" not in c.to_dict() for c in plain)
    text = "".join(c.choices[0].delta.content or "" for c in plain)
    assert text == "".join(c.choices[0].delta.content or "" for c in with_usage if c.choices)
    assert plain[-1].choices[0].finish_reason == "stop"


def test_stream_chunks_resizes_the_default_stream() -> None:
    with (
        WireServer(stream_chunks=7) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0) as client,
    ):
        chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True))
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) == 7
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_bad_chat_requests_get_openai_400s(srv: WireServer) -> None:
    r = httpx.post(f"{srv.base_url}/chat/completions", content=b"{not json")
    assert r.status_code == 400 and "could not parse the JSON body" in r.json()["error"]["message"]
    r = httpx.post(f"{srv.base_url}/chat/completions", json={"model": "m"})
    assert r.json()["error"]["code"] == "missing_required_parameter"
    assert r.json()["error"]["param"] == "messages"


def test_default_embeddings_one_recorded_vector_per_input(
    srv: WireServer, client: openai.OpenAI
) -> None:
    vectors = [_floats(v) for v in recorded.EMBEDDING_VECTORS_BASE64]
    emb = client.embeddings.create(model="text-embedding-3-small", input=["a", "b c", "d"])
    assert [d.index for d in emb.data] == [0, 1, 2]
    assert emb.data[0].embedding == vectors[0] and emb.data[2].embedding == vectors[0]
    assert emb.data[1].embedding == vectors[1]
    assert emb.usage.prompt_tokens == 4
    assert srv.requests[-1].json["encoding_format"] == "base64"  # the SDK's default
    floats = client.embeddings.create(
        model="text-embedding-3-small", input="x", encoding_format="float", dimensions=256
    )
    (item,) = floats.data
    assert len(item.embedding) == 256
    assert math.fsum(v * v for v in item.embedding) == pytest.approx(1.0, abs=1e-6)
    assert item.embedding[0] / item.embedding[1] == pytest.approx(vectors[0][0] / vectors[0][1])


def test_models_and_unknown_routes(srv: WireServer, client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in ids and "text-embedding-3-small" in ids
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("nope")
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError, match=r"Invalid URL \(POST /v1/completions\)"):
        client.completions.create(model="m", prompt="x")


def test_azure_routes_with_azure_sdk_client(srv: WireServer) -> None:
    with openai.AzureOpenAI(
        azure_endpoint=srv.origin, api_version="2024-10-21", api_key="k", max_retries=0
    ) as azure:
        completion = azure.chat.completions.create(model="my-deployment", messages=USER)
        assert completion.choices[0].message.content == "The capital of France is **Paris**."
        filters = completion.to_dict()["prompt_filter_results"]
        assert isinstance(filters, list) and filters[0]["prompt_index"] == 0
        req = srv.requests[-1]
        assert req.path == "/openai/deployments/my-deployment/chat/completions"
        assert req.query == {"api-version": "2024-10-21"}
        assert req.headers["API-KEY"] == "k"
        chunks = list(
            azure.chat.completions.create(model="my-deployment", messages=USER, stream=True)
        )
        assert chunks[0].choices == [] and chunks[0].id == ""
        assert all(c.usage is None for c in chunks)
        emb = azure.embeddings.create(model="emb-deployment", input=["a"])
        assert len(emb.data[0].embedding) == 1536
        assert srv.requests[-1].path == "/openai/deployments/emb-deployment/embeddings"
        r = httpx.post(f"{srv.origin}/openai/deployments/d/chat/completions", json={})
        assert r.status_code == 404 and "api-version" in r.text


def test_files_and_fine_tuning_jobs_keep_state(srv: WireServer, client: openai.OpenAI) -> None:
    data = b'{"messages": [{"role": "user", "content": "\xc3\xa9"}]}\n'
    uploaded = client.files.create(file=("train.jsonl", data), purpose="fine-tune")
    assert (uploaded.filename, uploaded.bytes, uploaded.purpose) == (
        "train.jsonl",
        len(data),
        "fine-tune",
    )
    assert srv.file_content(uploaded.id) == data
    assert client.files.content(uploaded.id).content == data
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=uploaded.id)
    assert job.status == "validating_files" and job.training_file == uploaded.id
    second = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=uploaded.id, suffix="s"
    )
    page = client.fine_tuning.jobs.list(limit=1)
    assert [j.id for j in page.data] == [second.id] and page.has_more
    assert [j.id for j in client.fine_tuning.jobs.list(after=second.id).data] == [job.id]
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)
    srv.update_fine_tuning_job(second.id, status="succeeded", fine_tuned_model="ft:gpt-4o-mini:x")
    done = client.fine_tuning.jobs.retrieve(second.id)
    assert (done.status, done.fine_tuned_model) == ("succeeded", "ft:gpt-4o-mini:x")
    with pytest.raises(openai.BadRequestError, match="invalid training_file"):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-missing")
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-missing")
    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(KeyError, match="ftjob-nope"):
        srv.update_fine_tuning_job("ftjob-nope", status="failed")
    with pytest.raises(ValueError, match="model"):
        srv.update_fine_tuning_job(second.id, model="other")


# -- faults -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        (Reply.reset(), "Connection reset"),
        (Reply.close(), "without sending a response"),
        (Reply.truncated(), "without sending complete message body"),
    ],
    ids=["reset", "close", "truncated"],
)
def test_connection_faults_raise_api_connection_error(
    srv: WireServer, client: openai.OpenAI, reply: Reply, cause: str
) -> None:
    srv.enqueue(reply)
    with pytest.raises(openai.APIConnectionError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert not isinstance(info.value, openai.APITimeoutError)
    assert cause in str(info.value.__cause__)
    # The next request on a fresh connection gets the default reply again.
    assert client.chat.completions.create(model="m", messages=USER).choices


def test_stall_and_latency_exceed_a_short_client_timeout(
    srv: WireServer, client: openai.OpenAI
) -> None:
    short = client.with_options(timeout=0.05)
    srv.enqueue(Reply.stall(0.5), Reply.default(latency=0.5))
    for _ in range(2):
        with pytest.raises(openai.APITimeoutError):
            short.chat.completions.create(model="m", messages=USER)
    srv.latency = 0.5
    with pytest.raises(openai.APITimeoutError):
        short.embeddings.create(model="e", input="x")


def test_stop_interrupts_a_stall() -> None:
    srv = WireServer().start()
    srv.enqueue(Reply.stall(60))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(f"{srv.base_url}/chat/completions", json={}, timeout=30)
        except httpx.HTTPError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 10
    while not srv.requests and time.monotonic() < deadline:
        time.sleep(0.005)
    srv.stop()
    caller.join(timeout=10)
    assert not caller.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], httpx.RemoteProtocolError)


def test_invalid_json_with_200_fails_to_parse(srv: WireServer, client: openai.OpenAI) -> None:
    srv.enqueue(Reply.invalid_json())
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="m", messages=USER)


@pytest.mark.parametrize("source", [None, "openai/chat_stream_tool_call_include_usage"])
def test_sse_cut_mid_stream(srv: WireServer, client: openai.OpenAI, source: str | None) -> None:
    srv.enqueue(Reply.sse_cut(3, Reply.fixture(source) if source else None))
    received = []
    with pytest.raises(openai.APIConnectionError) as info:
        for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
            received.append(chunk)
    assert len(received) == 3
    assert "incomplete chunked read" in str(info.value.__cause__)


def test_slow_events_trip_the_read_timeout(srv: WireServer, client: openai.OpenAI) -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [],
    }
    srv.enqueue(Reply.sse([chunk] * 3, event_delay=0.5))
    stream = client.with_options(timeout=0.1).chat.completions.create(
        model="m", messages=USER, stream=True
    )
    received = []
    with pytest.raises(openai.APITimeoutError):
        for c in stream:
            received.append(c)
    assert [c.id for c in received] == ["c"]  # the first event comes at once


def test_status_errors_carry_their_headers(srv: WireServer, client: openai.OpenAI) -> None:
    srv.enqueue(
        Reply.error(429, "Rate limit reached", type="requests", headers={"Retry-After": "2"}),
        Reply.error(503, headers={"x-should-retry": "false", "x-request-id": "req_abc"}),
    )
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model="m", messages=USER)
    assert rate.value.response.headers["retry-after"] == "2"
    assert rate.value.body == {
        "message": "Rate limit reached",
        "type": "requests",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.InternalServerError) as unavailable:
        client.chat.completions.create(model="m", messages=USER)
    assert unavailable.value.status_code == 503
    assert unavailable.value.response.headers["x-should-retry"] == "false"
    assert unavailable.value.request_id == "req_abc"


def test_sdk_retries_follow_scripted_headers(srv: WireServer) -> None:
    with openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=2) as retrying:
        srv.enqueue(Reply.error(503, headers={"retry-after-ms": "1"}))
        assert retrying.chat.completions.create(model="m", messages=USER).choices
        assert [r.headers["x-stainless-retry-count"] for r in srv.requests] == ["0", "1"]
        srv.clear()
        srv.enqueue(Reply.error(503, headers={"x-should-retry": "false"}))
        with pytest.raises(openai.InternalServerError):
            retrying.chat.completions.create(model="m", messages=USER)
        assert len(srv.requests) == 1


def test_path_rules_apply_until_cleared(srv: WireServer, client: openai.OpenAI) -> None:
    srv.set_default(Reply.error(503), path="/v1/chat/*")
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=USER)
    assert client.embeddings.create(model="e", input="x").data  # other paths unaffected
    srv.enqueue(Reply.json({"id": "queued"}))  # the queue goes before rules
    assert httpx.post(f"{srv.base_url}/chat/completions", json={}).json() == {"id": "queued"}
    srv.set_default(Reply.default(headers={"x-extra": "1"}), path="/v1/embeddings", method="POST")
    r = httpx.post(f"{srv.base_url}/embeddings", json={"input": "x", "model": "e"})
    assert r.headers["x-extra"] == "1" and r.json()["data"][0]["index"] == 0
    srv.clear_defaults()
    assert client.chat.completions.create(model="m", messages=USER).choices


def test_sse_reply_from_chunk_dicts(srv: WireServer, client: openai.OpenAI) -> None:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    srv.enqueue(
        Reply.sse(
            [
                {**chunk, "choices": [{"index": 0, "delta": {"content": "hé"}}]},
                {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            ]
        )
    )
    chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True))
    assert [c.choices[0].delta.content for c in chunks] == ["hé", None]


# -- recording --------------------------------------------------------------------------
def test_recording_captures_method_path_query_headers_body(srv: WireServer) -> None:
    with httpx.Client() as http:
        http.post(
            f"{srv.origin}/v1/chat/completions?a=1&b=x%20y&a=2",
            json={"model": "m", "messages": USER},
            headers={"X-Custom": "v1", "Authorization": "Bearer sk-test"},
        )
        http.get(f"{srv.base_url}/models")
        http.post(f"{srv.base_url}/files", content=iter([b"not ", b"json"]))  # chunked upload
    post, get, chunked = srv.requests
    assert (post.method, post.path, post.query) == (
        "POST",
        "/v1/chat/completions",
        {"a": "2", "b": "x y"},
    )
    assert post.headers["x-custom"] == post.headers["X-CUSTOM"] == "v1"
    assert "authorization" in post.headers and post.headers.get("missing") is None
    assert post.json == {"model": "m", "messages": USER}
    assert json.loads(post.body) == post.json
    assert (get.method, get.body, get.json) == ("GET", b"", None)
    assert chunked.headers["transfer-encoding"] == "chunked"
    assert (chunked.body, chunked.json, chunked.text) == (b"not json", None, "not json")
    srv.clear()
    assert srv.requests == []


def test_requests_recorded_from_concurrent_threads(srv: WireServer) -> None:
    def burst(n: int) -> None:
        with httpx.Client() as http:
            for i in range(25):
                http.post(f"{srv.base_url}/embeddings", json={"input": f"{n}-{i}", "model": "e"})

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    inputs = sorted(r.json["input"] for r in srv.requests)
    assert inputs == sorted(f"{n}-{i}" for n in range(4) for i in range(25))


async def test_async_client_concurrent_requests(srv: WireServer) -> None:
    srv.latency = 0.01
    client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    async with client:
        results = await asyncio.gather(
            *(client.chat.completions.create(model=f"m{i}", messages=USER) for i in range(20))
        )
    assert all(r.choices[0].message.content == "YES" for r in results)
    assert sorted(r.json["model"] for r in srv.requests) == sorted(f"m{i}" for i in range(20))


# -- raw HTTP/1.1 behaviour -----------------------------------------------------------------
def _read_response(sock: socket.socket, buf: bytearray) -> tuple[bytes, bytes]:
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    length = int(
        next(
            ln.split(b":")[1]
            for ln in head.split(b"\r\n")
            if ln.lower().startswith(b"content-length")
        )
    )
    while len(rest) < length:
        more = sock.recv(65536)
        assert more, "connection closed mid-body"
        rest += more
    buf[:] = rest[length:]
    return head, rest[:length]


def test_keep_alive_pipelining_and_connection_close(srv: WireServer) -> None:
    get = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(get + get)  # two pipelined requests on one connection
        buf = bytearray()
        for _ in range(2):
            head, body = _read_response(sock, buf)
            assert head.startswith(b"HTTP/1.1 200 OK") and json.loads(body)["object"] == "list"
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _ = _read_response(sock, buf)
        assert b"Connection: close" in head
        assert sock.recv(1) == b""  # server closed
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.0\r\n\r\n")  # HTTP/1.0 closes by default
        _read_response(sock, bytearray())
        assert sock.recv(1) == b""
    assert len(srv.requests) == 4


def test_expect_continue_and_malformed_requests(srv: WireServer) -> None:
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(
            b"POST /v1/files HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        head, _ = _read_response(sock, bytearray())
        assert head.startswith(b"HTTP/1.1 400")  # no multipart file field
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        head, body = _read_response(sock, bytearray())
        assert head.startswith(b"HTTP/1.1 400") and b"bad request line" in body
        assert sock.recv(1) == b""


# -- lifecycle, discovery, validation ---------------------------------------------------
def test_lifecycle_and_addresses() -> None:
    srv = WireServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = srv.base_url
    with srv:
        assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
        with pytest.raises(RuntimeError, match="already started"):
            srv.start()
        with pytest.raises(OSError), WireServer(port=srv.port):
            pass
    srv.stop()  # idempotent
    with pytest.raises(ValueError, match="latency"):
        WireServer(latency=-1)


def test_process_mode_serves_requests() -> None:
    cmd = [
        sys.executable,
        "-m",
        "modelbus.testing.server",
        "--port",
        "0",
        "--latency-ms",
        "1",
        "--stream-chunks",
        "3",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        with openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0, timeout=10) as client:
            assert (
                client.chat.completions.create(model="m", messages=USER).choices[0].message.content
                == "YES"
            )
            chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True))
            assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 3
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()  # else left to the garbage collector: a ResourceWarning


def test_wire_fixtures_discovery(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    names = {f.name for f in wire_fixtures()}
    assert {"openai/chat_completion_tool_calls", "azure/chat_stream_model_router"} <= names
    assert all(f.kind == "sse" for f in wire_fixtures("sse"))
    assert {f.provider for f in wire_fixtures(provider="azure")} == {"azure"}
    # every file but PROVENANCE.md is a fixture body or a fixture's headers file
    covered = {f.path for f in wire_fixtures()} | {f.headers_path for f in wire_fixtures()}
    files = {p for p in fixtures_root().rglob("*") if p.is_file() and p.name != "PROVENANCE.md"}
    assert covered - {None} == files
    with pytest.raises(ValueError, match="kind"):
        wire_fixtures("yaml")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="openai/nope"):
        find_fixture("openai/nope")
    assert find_fixture("openai/chat_stream_refusal.sse").kind == "sse"
    own = tmp_path / "mine"
    own.mkdir()
    (own / "error_418_teapot.json").write_text('{"error": {"message": "short and stout"}}')
    monkeypatch.setenv("MODELBUS_WIRE_FIXTURES", str(tmp_path))
    assert fixtures_root() == tmp_path
    (mine,) = wire_fixtures()
    assert (mine.name, mine.status_code, mine.kind) == ("mine/error_418_teapot", 418, "json")
    assert Reply.fixture("mine/error_418_teapot").status == 418
    monkeypatch.setenv("MODELBUS_WIRE_FIXTURES", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="MODELBUS_WIRE_FIXTURES"):
        fixtures_root()


def test_reply_validation() -> None:
    with pytest.raises(ValueError, match="status"):
        Reply(status=700)
    with pytest.raises(ValueError, match="not both"):
        Reply(body=b"", events=())
    with pytest.raises(ValueError, match="line break"):
        Reply.json({}, headers={"x": "a\r\nb"})
    with pytest.raises(ValueError, match="latency"):
        Reply.stall(-1)
    with pytest.raises(TypeError, match="Reply"):
        WireServer().enqueue({"status": 200})  # type: ignore[arg-type]
    reply = Reply.fixture("openai/chat_completion_tool_calls")
    names = {k.lower() for k, _ in reply.headers}
    assert not names & FRAMING and "x-request-id" in names
    assert reply.with_headers({"X-REQUEST-ID": "mine"}).headers[-1] == ("X-REQUEST-ID", "mine")
    assert os.fspath(find_fixture("openai/chat_completion_tool_calls").path).endswith(".json")


# --- other wire formats ----------------------------------------------------------------
def _messages(req: Any) -> Reply:
    if req.json.get("stream"):
        start = {"type": "message_start", "message": {"id": "msg_1"}}
        return Reply.sse(
            [("message_start", start), ("message_stop", {"type": "message_stop"})],
            done=False,
            headers={"request-id": "req_own"},
        )
    return Reply.json({"id": "msg_1", "content": []}, headers={"request-id": "req_own"})


def test_a_route_for_another_wire_format_takes_the_scripted_faults(srv: WireServer) -> None:
    srv.route("POST", "/v1/messages", _messages)
    url = srv.origin + "/v1/messages"
    r = httpx.post(url, json={})
    assert r.json()["id"] == "msg_1" and r.headers["request-id"] == "req_own"
    assert "x-request-id" not in r.headers  # the reply carries its own request id
    stream = httpx.post(url, json={"stream": True})
    assert stream.text == (
        'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1"}}\n\n'
        'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    # A content-less scripted reply modifies the added route's reply, as for built-ins.
    srv.enqueue(Reply.default(headers={"retry-after": "3"}), Reply.sse_cut(1))
    assert httpx.post(url, json={}).headers["retry-after"] == "3"
    with (
        httpx.stream("POST", url, json={"stream": True}) as cut,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        cut.read()
    assert cut.headers["request-id"] == "req_own"
    # Other paths keep their built-in routes; reset removes the added one.
    assert httpx.get(srv.base_url + "/models").status_code == 200
    srv.reset()
    assert httpx.post(url, json={}).status_code == 404


def test_a_route_handler_must_be_callable_and_event_names_one_line(srv: WireServer) -> None:
    with pytest.raises(TypeError, match="callable"):
        srv.route("POST", "/x", Reply.json({}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one non-empty line"):
        Reply.sse([("bad\nname", {})])


def test_stall_after_pauses_a_stream_mid_way_then_finishes(
    srv: WireServer, client: openai.OpenAI
) -> None:
    srv.enqueue(Reply.stall_after(2, 0.4))
    stream = client.chat.completions.create(model="m", messages=USER, stream=True)
    gaps, last = [], time.monotonic()
    received = []
    for chunk in stream:
        now = time.monotonic()
        gaps.append(now - last)
        last = now
        received.append(chunk)
    assert len(received) > 3  # the whole default stream arrives in the end
    # The pause falls after 2 events (a loaded machine may add gaps elsewhere, never
    # take this one away).
    assert gaps[2] >= 0.35


def test_stall_after_pauses_a_body_after_its_first_bytes(srv: WireServer) -> None:
    srv.enqueue(Reply.stall_after(10, 0.4, Reply.raw(b'{"object": "list", "data": []}')))
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        assert bytes(buf).partition(b"\r\n\r\n")[2] == b'{"object":'
        t0 = time.monotonic()
        _, body = _read_response(sock, buf)  # the rest, after the pause
        assert time.monotonic() - t0 >= 0.35
    assert json.loads(body) == {"object": "list", "data": []}
