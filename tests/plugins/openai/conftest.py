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


@pytest.fixture
def srv(wire_server: WireServer) -> WireServer:
    """The shared WireServer of modelbus's pytest plugin, reset for this test."""
    return wire_server


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
