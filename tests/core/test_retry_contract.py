"""The built-in retry policies pass RetryPolicyContract, and the contract rejects broken ones."""

from __future__ import annotations

import random

import hypothesis.errors
import pytest

from modelbus._retry.runner import is_retryable
from modelbus.builtins.retry import ExponentialBackoff, ExponentialSettings, NoRetry
from modelbus.errors import ServerError
from modelbus.testing.contracts_retry import (
    DeadlineContract,
    FullJitterContract,
    RetryingPolicyContract,
    RetryLimits,
    RetryPolicyContract,
)


class TestExponentialDefaults(FullJitterContract):
    @pytest.fixture
    def policy(self) -> ExponentialBackoff:
        return ExponentialBackoff(random=random.Random(1).random)


class TestExponentialEqualJitterWithDeadline(DeadlineContract):
    @pytest.fixture
    def policy(self) -> ExponentialBackoff:
        s = ExponentialSettings(
            max_attempts=50, jitter="equal", deadline_s=2.0, max_retry_after_s=30.0
        )
        return ExponentialBackoff(s, random=random.Random(2).random)


class TestExponentialDecorrelated(DeadlineContract):
    @pytest.fixture
    def policy(self) -> ExponentialBackoff:
        s = ExponentialSettings(
            max_attempts=8,
            jitter="decorrelated",
            initial_delay_s=0.2,
            max_delay_s=5.0,
            deadline_s=30.0,
        )
        return ExponentialBackoff(s, random=random.Random(3).random)


class TestExponentialNoJitter(RetryingPolicyContract):
    @pytest.fixture
    def policy(self) -> ExponentialBackoff:
        s = ExponentialSettings(max_attempts=6, jitter="none", multiplier=3.0)
        return ExponentialBackoff(s)


class TestFullJitterLongRun(FullJitterContract):
    @pytest.fixture
    def policy(self) -> ExponentialBackoff:
        s = ExponentialSettings(max_attempts=40, initial_delay_s=1.0, max_delay_s=60.0)
        return ExponentialBackoff(s, random=random.Random(4).random)


class TestNone(RetryPolicyContract):
    @pytest.fixture
    def policy(self) -> NoRetry:
        return NoRetry()


# --- the contract can fail ----------------------------------------------------------


class _IgnoresMaxAttempts:
    settings = ExponentialSettings(max_attempts=3)
    max_retry_after_s = 120.0

    def next_delay(self, attempt, error, elapsed_s, previous_delay_s=None):
        return 0.1 if is_retryable(error) and attempt < 10 else None


class _RetriesEverything:
    max_retry_after_s = 120.0

    def next_delay(self, attempt, error, elapsed_s, previous_delay_s=None):
        return 0.1 if attempt < 3 else None


class _IgnoresRetryAfter(ExponentialBackoff):
    def next_delay(self, attempt, error, elapsed_s, previous_delay_s=None):
        if attempt >= self.settings.max_attempts or not is_retryable(error):
            return None
        return self._backoff(attempt, previous_delay_s)


# Hypothesis would find these too (after a few seconds of shrinking); the inner tests with
# a failing example show the same in milliseconds.


def test_contract_catches_too_many_attempts() -> None:
    c = RetryPolicyContract()
    inner = c.test_attempts_never_exceed_max_attempts.hypothesis.inner_test
    with pytest.raises(AssertionError):
        inner(
            c,
            policy=_IgnoresMaxAttempts(),
            limits=RetryLimits(3, 8.0),
            errors=[ServerError("down", status_code=503)],
            latencies=[0.0],
        )


def test_contract_catches_retrying_a_400() -> None:
    c = RetryPolicyContract()
    with pytest.raises(AssertionError):
        c.test_non_retryable_error_is_never_retried(policy=_RetriesEverything())


def test_contract_catches_an_ignored_retry_after() -> None:
    c = RetryingPolicyContract()
    p = _IgnoresRetryAfter(ExponentialSettings(max_attempts=5))
    limits = RetryLimits(5, 8.0)
    with pytest.raises((AssertionError, hypothesis.errors.Flaky)):
        c.test_retry_after_within_cap_is_the_delay(policy=p, limits=limits)


def test_contract_catches_delays_above_max_delay() -> None:
    c = RetryPolicyContract()
    p = ExponentialBackoff(ExponentialSettings(initial_delay_s=2.0, jitter="none"))
    inner = c.test_delay_is_within_zero_and_max_delay.hypothesis.inner_test
    with pytest.raises(AssertionError):
        # A policy promising 1 s at most but waiting 2 s.
        inner(
            c,
            policy=p,
            limits=RetryLimits(3, 1.0),
            error=ServerError("down"),
            attempt=1,
            elapsed=0.0,
            previous=None,
        )


def test_a_property_that_does_not_apply_fails_instead_of_skipping() -> None:
    """Opting in to DeadlineContract for a policy without a deadline is a test error."""
    c = DeadlineContract()
    inner = c.test_sleeps_never_pass_the_deadline.hypothesis.inner_test
    with pytest.raises(AssertionError, match="declare no deadline_s"):
        inner(c, policy=NoRetry(), limits=RetryLimits(1, 0.0), errors=[], latencies=[])
