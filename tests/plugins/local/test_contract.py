"""The ``local`` provider in server mode against ProviderContract, on the WireServer
(an OpenAI-compatible server such as vLLM's): the behaviour checks and the error paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelbus.testing.contracts_provider import ProviderContract
from modelbus.testing.faults import WireFaults
from modelbus.testing.server import WireServer
from modelbus_local._server import LocalServerProvider
from modelbus_local._settings import LocalSettings


class TestLocalServerContract(ProviderContract):
    embeddings = True

    @pytest.fixture
    def srv(self, wire_server: WireServer) -> WireServer:
        return wire_server

    @pytest.fixture
    def model(self) -> str:
        return "gpt-4o-mini"

    @pytest.fixture
    def provider(self, srv: WireServer) -> Iterator[Any]:
        # Its usual timeout: the contract gives the stalled attempt alone a short one, so a
        # loaded machine's slow loopback answers never time out.
        settings = LocalSettings(
            server="vllm", base_url=srv.base_url, model="gpt-4o-mini", timeout_s=30
        )
        p = LocalServerProvider(settings)
        yield p
        p.close()

    @pytest.fixture
    def faults(self, srv: WireServer) -> WireFaults:
        return WireFaults(srv)
