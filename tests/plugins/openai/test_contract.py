"""The ``openai`` provider against ProviderContract, on the WireServer: the behaviour
checks and the error paths (429 with Retry-After, 5xx, reset, stall, stream errors
before and after content) injected in the OpenAI wire format."""

from __future__ import annotations

from typing import Any

import pytest

from modelbus.plugin import Secret
from modelbus.testing.contracts_provider import ProviderContract
from modelbus.testing.faults import WireFaults
from modelbus.testing.server import WireServer
from modelbus_openai import OpenAIProvider, OpenAISettings


class TestOpenAIContract(ProviderContract):
    embeddings = True

    @pytest.fixture
    def model(self) -> str:
        return "gpt-4o-mini"

    @pytest.fixture
    def provider(self, srv: WireServer) -> Any:
        # Its usual timeout: the contract gives the stalled attempt alone a short one, so a
        # loaded machine's slow loopback answers never time out.
        settings = OpenAISettings(base_url=srv.base_url, api_key=Secret("sk-test"), timeout_s=30)
        p = OpenAIProvider(settings)
        yield p
        p.close()

    @pytest.fixture
    def faults(self, srv: WireServer) -> WireFaults:
        return WireFaults(srv)
