"""``RetryPolicyContract``: the properties every retry policy must have.

Subclass it in a test module and provide a ``policy`` fixture returning the policy under
test; the limits it promises are read from its ``settings`` (the
:class:`~modelbus.builtins.retry.ExponentialSettings` names: ``max_attempts``,
``max_delay_s``, ``deadline_s``, ``max_retry_after_s``, ``jitter``) unless the subclass
overrides the ``limits`` fixture with a :class:`RetryLimits`::

    from modelbus.testing.contracts_retry import RetryPolicyContract

    class TestMyPolicy(RetryPolicyContract):
        @pytest.fixture
        def policy(self):
            return MyPolicy(MySettings(max_attempts=4))

The properties (hypothesis, on a :class:`~modelbus.testing.FakeClock`, never sleeping).
:class:`RetryPolicyContract`, for every policy:

- attempts never exceed ``max_attempts``;
- each delay is in ``[0, max_delay_s]``, unless it is an honoured ``Retry-After``;
- a non-retryable error is never retried;
- a ``Retry-After`` above ``max_retry_after_s`` fails at once with ``RateLimitError``
  carrying ``retry_after_s``.

Subclass the one that fits instead when the policy has more to promise (a property that
does not apply is not skipped: pick the class whose properties all apply):

- :class:`RetryingPolicyContract`: a ``Retry-After`` in ``(0, max_retry_after_s]`` is the
  delay;
- :class:`DeadlineContract` (a retrying policy with ``deadline_s``): the sleeps never end
  past the deadline (so their sum stays within it);
- :class:`FullJitterContract` (a retrying policy with full jitter): each delay is in
  ``[0, min(max_delay_s, initial_delay_s * multiplier**(n-1))]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from .._retry.runner import DEFAULT_MAX_RETRY_AFTER_S, max_retry_after, retry_call
from ..errors import RateLimitError, RetryError, error_for_status
from ..protocols import RetryPolicy
from ._fake import FakeClock
from ._retry_strategies import non_retryable_errors, retryable_errors

__all__ = [
    "DeadlineContract",
    "FullJitterContract",
    "RetryLimits",
    "RetryPolicyContract",
    "RetryingPolicyContract",
    "limits_of",
]


@attrs.frozen
class RetryLimits:
    """What a policy promises: ``max_attempts`` (first attempt included),
    ``max_delay_s`` (the largest backoff delay), ``deadline_s`` (total time, or ``None``),
    ``max_retry_after_s`` (largest honoured server hint) and, for full jitter,
    ``full_jitter_ceiling(attempt)`` (the upper bound of the delay after that attempt)."""

    max_attempts: int
    max_delay_s: float
    deadline_s: float | None = None
    max_retry_after_s: float = DEFAULT_MAX_RETRY_AFTER_S
    full_jitter_ceiling: Callable[[int], float] | None = None


def limits_of(policy: RetryPolicy) -> RetryLimits:
    """The limits a policy's ``settings`` declare (a policy without settings is taken to
    never retry, like ``none``)."""
    s = getattr(policy, "settings", None)
    if s is None:
        return RetryLimits(1, 0.0, max_retry_after_s=max_retry_after(policy))
    ceiling = getattr(policy, "ceiling", None)
    full = getattr(s, "jitter", None) == "full" and callable(ceiling)
    return RetryLimits(
        s.max_attempts,
        s.max_delay_s,
        getattr(s, "deadline_s", None),
        max_retry_after(policy),
        ceiling if full else None,
    )


# The policy fixture is stateless and the tests keep nothing on ``self``, so sharing a
# fixture across examples and running one method from several subclasses is safe.
_fixtures = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    deadline=None,
)
_latencies = st.lists(st.floats(0, 5), min_size=1, max_size=8)


class _Script:
    """A call that raises ``errors`` in turn (cycling) and records each start time."""

    def __init__(
        self, errors: list[BaseException], latencies: list[float], clock: FakeClock
    ) -> None:
        self.errors, self.latencies, self.clock = errors, latencies, clock
        self.starts: list[float] = []

    def __call__(self) -> Any:
        n = len(self.starts)
        self.starts.append(self.clock.now)
        self.clock.advance(self.latencies[n % len(self.latencies)])
        raise self.errors[n % len(self.errors)]


class RetryPolicyContract:
    """Subclass with a ``policy`` fixture (see the module doc)."""

    @pytest.fixture
    def policy(self) -> RetryPolicy:
        raise NotImplementedError("a RetryPolicyContract subclass must define `policy`")

    @pytest.fixture
    def limits(self, policy: RetryPolicy) -> RetryLimits:
        return limits_of(policy)

    def _run(self, policy: RetryPolicy, script: _Script, clock: FakeClock) -> BaseException:
        with pytest.raises(Exception) as info:
            retry_call(script, policy, clock=clock.as_clock())
        return info.value

    @_fixtures
    @given(errors=st.lists(retryable_errors(), min_size=1, max_size=5), latencies=_latencies)
    def test_attempts_never_exceed_max_attempts(
        self,
        policy: RetryPolicy,
        limits: RetryLimits,
        errors: list[BaseException],
        latencies: list[float],
    ) -> None:
        clock = FakeClock()
        script = _Script(errors, latencies, clock)
        err = self._run(policy, script, clock)
        assert 1 <= len(script.starts) <= limits.max_attempts
        if isinstance(err, RetryError):
            assert len(err.attempts) == len(script.starts)

    @_fixtures
    @given(
        error=retryable_errors(),
        attempt=st.integers(1, 50),
        elapsed=st.floats(0, 1e4),
        previous=st.none() | st.floats(0, 1e3),
    )
    def test_delay_is_within_zero_and_max_delay(
        self,
        policy: RetryPolicy,
        limits: RetryLimits,
        error: BaseException,
        attempt: int,
        elapsed: float,
        previous: float | None,
    ) -> None:
        delay = policy.next_delay(attempt, error, elapsed, previous)
        if attempt >= limits.max_attempts:
            assert delay is None
        if delay is not None:
            assert 0.0 <= delay <= limits.max_delay_s

    @_fixtures
    @given(error=non_retryable_errors(), attempt=st.integers(1, 50), elapsed=st.floats(0, 1e4))
    def test_non_retryable_error_is_never_retried(
        self,
        policy: RetryPolicy,
        error: BaseException,
        attempt: int,
        elapsed: float,
    ) -> None:
        assert policy.next_delay(attempt, error, elapsed, None) is None
        clock = FakeClock()
        script = _Script([error], [0.0], clock)
        assert self._run(policy, script, clock) is error
        assert len(script.starts) == 1 and clock.sleeps == []

    @_fixtures
    @given(status=st.sampled_from((429, 503)), excess=st.floats(1e-3, 1e5))
    def test_retry_after_above_cap_fails_at_once_with_rate_limit_error(
        self,
        policy: RetryPolicy,
        limits: RetryLimits,
        status: int,
        excess: float,
    ) -> None:
        hint = limits.max_retry_after_s + excess
        err = error_for_status(status)("busy", status_code=status, retry_after_s=hint)
        assert policy.next_delay(1, err, 0.0, None) is None
        clock = FakeClock()
        script = _Script([err], [0.0], clock)
        raised = self._run(policy, script, clock)
        assert isinstance(raised, RateLimitError) and raised.retry_after_s == hint
        assert len(script.starts) == 1 and clock.sleeps == []


class RetryingPolicyContract(RetryPolicyContract):
    """For policies that retry (``max_attempts >= 2``): adds that an honoured
    ``Retry-After`` within the cap is exactly the delay."""

    @_fixtures
    @given(
        status=st.sampled_from((429, 503)),
        fraction=st.floats(0, 1, exclude_min=True),
        attempt=st.integers(1, 1000),
        at=st.floats(0, 1),
    )
    def test_retry_after_within_cap_is_the_delay(
        self,
        policy: RetryPolicy,
        limits: RetryLimits,
        status: int,
        fraction: float,
        attempt: int,
        at: float,
    ) -> None:
        assert limits.max_attempts >= 2 and limits.max_retry_after_s > 0, (
            "RetryingPolicyContract: the policy never retries (max_attempts < 2 or no "
            "Retry-After allowed); subclass RetryPolicyContract instead"
        )
        attempt = 1 + (attempt - 1) % (limits.max_attempts - 1)
        cap = limits.max_retry_after_s
        if limits.deadline_s is not None:
            cap = min(cap, limits.deadline_s)
        hint = cap * fraction
        assume(hint > 0)
        # Kept clear of the deadline (at < 1) so float rounding cannot cross it.
        room = 1e3 if limits.deadline_s is None else limits.deadline_s - hint
        elapsed = at * room * 0.99
        err = error_for_status(status)("busy", status_code=status, retry_after_s=hint)
        assert policy.next_delay(attempt, err, elapsed, None) == hint


class DeadlineContract(RetryingPolicyContract):
    """For policies with a ``deadline_s``: adds that no sleep ends past the deadline."""

    @_fixtures
    @given(errors=st.lists(retryable_errors(), min_size=1, max_size=5), latencies=_latencies)
    def test_sleeps_never_pass_the_deadline(
        self,
        policy: RetryPolicy,
        limits: RetryLimits,
        errors: list[BaseException],
        latencies: list[float],
    ) -> None:
        assert limits.deadline_s is not None, (
            "DeadlineContract: the policy's settings declare no deadline_s"
        )
        clock = FakeClock()
        script = _Script(errors, latencies, clock)
        self._run(policy, script, clock)
        assert sum(clock.sleeps) <= limits.deadline_s + 1e-9
        # Every retry starts (its sleep ends) within the deadline.
        assert all(t <= limits.deadline_s + 1e-9 for t in script.starts[1:])


class FullJitterContract(RetryingPolicyContract):
    """For policies with ``jitter = "full"``: adds that every delay stays within full
    jitter's bounds (AWS Architecture Blog, "Exponential Backoff and Jitter")."""

    @_fixtures
    @given(
        error=retryable_errors(), attempt=st.integers(1, 50), previous=st.none() | st.floats(0, 1e3)
    )
    def test_full_jitter_stays_within_its_bounds(
        self,
        policy: RetryPolicy,
        limits: RetryLimits,
        error: BaseException,
        attempt: int,
        previous: float | None,
    ) -> None:
        assert limits.full_jitter_ceiling is not None, (
            "FullJitterContract: the policy's settings do not say jitter = 'full'"
        )
        delay = policy.next_delay(attempt, error, 0.0, previous)
        if delay is not None:
            assert 0.0 <= delay <= limits.full_jitter_ceiling(attempt)
