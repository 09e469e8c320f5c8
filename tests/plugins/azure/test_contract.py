"""The ``azure`` provider against ProviderContract on the WireServer's Azure routes: the
behaviour checks and the error paths (OpenAI's error format, which Azure shares)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelbus.plugin import Secret
from modelbus.testing.contracts_provider import ProviderContract
from modelbus.testing.faults import WireFaults
from modelbus.testing.server import WireServer
from modelbus_azure import AzureOpenAIProvider, AzureSettings
from tests.plugins.azure.conftest import API_VERSION, AZURE_KEY


class TestAzureContract(ProviderContract):
    embeddings = True

    @pytest.fixture
    def model(self) -> str:
        return "gpt-4o-mini"

    @pytest.fixture
    def provider(self, srv: WireServer) -> Iterator[Any]:
        # Its usual timeout: the contract gives the stalled attempt alone a short one, so a
        # loaded machine's slow loopback answers never time out.
        settings = AzureSettings(
            endpoint=srv.origin,
            api_key=Secret(AZURE_KEY),
            api_version=API_VERSION,
            timeout_s=30,
        )
        p = AzureOpenAIProvider(settings)
        yield p
        p.close()

    @pytest.fixture
    def faults(self, srv: WireServer) -> WireFaults:
        return WireFaults(srv)
