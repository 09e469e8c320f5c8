"""``modelbus.testing``: fakes, fixtures, strategies and contract suites for tests.

Loaded as a pytest plugin through the ``pytest11`` entry point, which provides the
fixtures ``fake_provider``, ``fake_clock`` and ``modelbus_client`` (a client whose
provider ``fake`` is a :class:`FakeProvider` and whose clock is a :class:`FakeClock`).
"""

from __future__ import annotations

from ._fake import FakeClock, FakeProvider, FakeReply, RandomFaults
from ._plugin import fake_plugin, make_client

__all__ = [
    "FakeClock",
    "FakeProvider",
    "FakeReply",
    "RandomFaults",
    "fake_plugin",
    "make_client",
]
