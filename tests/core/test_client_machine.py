"""The whole-client state machine of ``modelbus.testing.machines`` (cache, single-flight
in threads and tasks, retries, fallback against a reference model), run in CI."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from modelbus.testing.machines import ClientMachine

TestClientMachine = ClientMachine.TestCase
TestClientMachine.settings = settings(
    max_examples=40,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
