"""Fixtures of the modelbus-structured-output tests: FakeProvider clients, the WireServer
replaying recorded OpenAI payloads to the real ``openai`` provider, and the tiny llama.cpp
model (embedded and behind llama-cpp-python's server, the local plugin's fixtures)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import modelbus
from modelbus.testing import FakeClock, FakeProvider, make_client
from modelbus.testing.server import WireServer

# The local plugin's session fixtures (tiny model file, llama_cpp.server process), shared
# rather than copied: pytest registers fixtures imported into a conftest.
from tests.plugins.local.conftest import (  # noqa: F401
    SERVER_MODEL,
    _close_models,
    llama_server,
    tiny_model_path,
)


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[modelbus.Client]:
    """A real Client (installed plugins, so this handler) whose provider is ``fake``; no
    cache unless a test asks for one."""
    with make_client(fake, {"modelbus": {"cache": "none"}}) as c:
        yield c


@pytest.fixture
def srv(wire_server: WireServer) -> WireServer:
    """The shared WireServer of modelbus's pytest plugin, reset for this test."""
    return wire_server


MakeClient = Callable[..., modelbus.Client]


@pytest.fixture
def openai_client(srv: WireServer) -> Iterator[modelbus.Client]:
    """A Client whose ``openai`` provider (the real SDK) talks to the WireServer."""
    cfg = {
        "modelbus": {"provider": "openai", "cache": "none"},
        "providers": {"openai": {"base_url": srv.base_url, "api_key": "sk-test"}},
    }
    with modelbus.Client(cfg, clock=FakeClock().as_clock()) as c:
        yield c
