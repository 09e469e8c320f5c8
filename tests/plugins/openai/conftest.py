"""Fixtures of the modelbus-openai tests: the WireServer (a real HTTP server on a free
loopback port, replaying recorded OpenAI payloads) and real modelbus Clients whose
``openai`` provider, found through its entry point, talks to it with the real SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import modelbus
from modelbus.testing import FakeClock
from modelbus.testing.server import WireServer

ENV_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_ADMIN_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "OPENAI_API_VERSION",
    "MODELBUS_CONFIG",
    "MODELBUS_PROVIDER",
    "MODELBUS_MODEL",
    "MODELBUS_CACHE",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No real key, endpoint or config of the machine leaks into a test."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELBUS_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    with WireServer() as srv:
        yield srv


@pytest.fixture
def srv(server: WireServer) -> WireServer:
    server.reset()
    server.latency = 0.0
    return server


MakeClient = Callable[..., modelbus.Client]


@pytest.fixture
def make_client(srv: WireServer, fake_clock: FakeClock) -> Iterator[MakeClient]:
    """``make_client(**settings)``: a Client with ``[providers.openai]`` pointing at the
    WireServer (key ``sk-test``) plus ``settings``, no cache, the exponential retry policy
    and the FakeClock (retries never sleep). ``core=`` adds ``[modelbus]`` keys."""
    made: list[modelbus.Client] = []

    def make(core: dict[str, Any] | None = None, **settings: Any) -> modelbus.Client:
        cfg = {
            "modelbus": {"provider": "openai", "cache": "none", **(core or {})},
            "providers": {"openai": {"base_url": srv.base_url, "api_key": "sk-test", **settings}},
        }
        client = modelbus.Client(cfg, clock=fake_clock.as_clock())
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()
