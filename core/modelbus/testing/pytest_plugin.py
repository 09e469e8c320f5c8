"""The pytest plugin of modelbus (entry point ``pytest11``: ``modelbus``).

Fixtures:

- ``fake_clock``: a :class:`FakeClock` (time moves only when slept on).
- ``fake_provider``: a :class:`FakeProvider` named ``fake`` on that clock.
- ``modelbus_client``: a real :class:`modelbus.Client` whose default provider is
  ``fake_provider``, cache ``memory``, retry ``exponential``; closed after the test.
- ``wire_server``: a :class:`modelbus.testing.server.WireServer` (an OpenAI-compatible
  replay and fault-injection server on 127.0.0.1) shared by the tests of a module, reset
  (queue, rules, recorded requests, latency) before each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ._fake import FakeClock, FakeProvider
from ._plugin import make_client


@pytest.fixture(scope="module")
def _modelbus_wire_server() -> Iterator[Any]:
    from .server import WireServer

    with WireServer() as srv:
        yield srv


@pytest.fixture
def wire_server(_modelbus_wire_server: Any) -> Any:
    _modelbus_wire_server.reset()
    _modelbus_wire_server.latency = 0.0
    return _modelbus_wire_server


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_provider(fake_clock: FakeClock) -> FakeProvider:
    return FakeProvider("fake", clock=fake_clock)


@pytest.fixture
def modelbus_client(fake_provider: FakeProvider, fake_clock: FakeClock) -> Iterator[Any]:
    client = make_client(fake_provider, clock=fake_clock)
    try:
        yield client
    finally:
        client.close()
