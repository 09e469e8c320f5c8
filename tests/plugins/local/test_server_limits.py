"""The ``local`` provider's server backend keeps the time and size limits of
modelbus-openai (``modelbus_openai._limits``) in all four modes, and names the server
when one runs out. Real sleeps of a fraction of a second: wall time is under test."""

from __future__ import annotations

import time
from typing import Any

import pytest

import modelbus
from modelbus import errors
from modelbus.testing.server import Reply, WireServer
from tests.plugins.openai.test_faults import MODES
from tests.plugins.openai.test_time_bounds import call_with


@pytest.fixture
def srv(wire_server: WireServer) -> WireServer:
    return wire_server


def local_client(srv: WireServer, **settings: Any) -> modelbus.Client:
    cfg = {
        "modelbus": {"provider": "local", "cache": "none", "retry_policy": "none"},
        "providers": {
            "local": {"server": "vllm", "base_url": srv.base_url, "model": "m", **settings}
        },
    }
    client = modelbus.Client(cfg)
    assert client.provider("local").inner.sync_client is not None  # set-up is not timed
    return client


@pytest.mark.parametrize("mode", MODES)
async def test_a_per_call_timeout_is_honoured_and_names_the_server(
    mode: str, srv: WireServer
) -> None:
    srv.enqueue(Reply.stall(3.0))
    client = local_client(srv)
    t0 = time.monotonic()
    try:
        with pytest.raises(errors.APITimeoutError) as info:
            await call_with(client, mode, model="m", timeout=0.3)
    finally:
        await client.aclose()
    assert time.monotonic() - t0 <= 0.3 + 0.2
    if mode in ("sync", "stream"):  # the provider's own error (async: the pipeline's)
        assert srv.base_url in str(info.value)


@pytest.mark.parametrize("mode", MODES)
async def test_max_response_bytes_is_a_local_setting(mode: str, srv: WireServer) -> None:
    huge = b"data: " + b"x" * (256 * 1024)
    if mode in ("sync", "async"):
        srv.enqueue(Reply.raw(b"{" + b" " * (256 * 1024) + b"}"))
    else:
        srv.enqueue(
            Reply(status=200, headers={"Content-Type": "text/event-stream"}, events=(huge,))
        )
    client = local_client(srv, max_response_bytes=64 * 1024)
    try:
        with pytest.raises(errors.ProviderError) as info:
            await call_with(client, mode, model="m")
    finally:
        await client.aclose()
    assert info.value.code == "response_too_large"
