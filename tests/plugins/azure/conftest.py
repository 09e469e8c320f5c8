"""Fixtures of the modelbus-azure tests: the WireServer of the openai tests (its Azure
routes answer ``/openai/deployments/{deployment}/...?api-version=``) and real Clients whose
``azure`` provider, found through its entry point, talks to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import modelbus
from modelbus.testing import FakeClock
from modelbus.testing.server import WireServer
from tests.plugins.openai.conftest import srv

__all__ = ["MakeAzure", "srv"]

API_VERSION = "2024-10-21"
AZURE_KEY = "az-test-key"

MakeAzure = Callable[..., modelbus.Client]


@pytest.fixture
def make_client(srv: WireServer, fake_clock: FakeClock) -> Iterator[MakeAzure]:
    """``make_client(**settings)``: a Client whose default provider is ``azure`` with
    ``endpoint`` = the WireServer, ``api_key`` = AZURE_KEY and ``api_version`` =
    API_VERSION, plus ``settings``; no cache, exponential retries on the FakeClock."""
    made: list[modelbus.Client] = []

    def make(core: dict[str, Any] | None = None, **settings: Any) -> modelbus.Client:
        azure = {
            "endpoint": srv.origin,
            "api_key": AZURE_KEY,
            "api_version": API_VERSION,
            **settings,
        }
        cfg = {
            "modelbus": {"provider": "azure", "cache": "none", **(core or {})},
            "providers": {"azure": azure},
        }
        client = modelbus.Client(cfg, clock=fake_clock.as_clock())
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()
