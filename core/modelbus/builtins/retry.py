"""Built-in retry policies: ``exponential`` (backoff with jitter) and ``none``.

Both are pure decisions (see :class:`modelbus.protocols.RetryPolicy`): they never sleep
and never read a clock; the runner (``modelbus._retry.runner``) injects both.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable
from typing import Literal

import attrs

from .._retry.runner import DEFAULT_MAX_RETRY_AFTER_S, is_retryable
from ..hookspecs import hookimpl

__all__ = ["ExponentialBackoff", "ExponentialSettings", "NoRetry"]

Jitter = Literal["full", "equal", "decorrelated", "none"]


@attrs.frozen
class ExponentialSettings:
    """``[retry_policies.exponential]``; every duration is in seconds.

    - ``max_attempts``: attempts in total, the first one included (3 = 2 retries, as
      openai-python's ``max_retries=2``).
    - ``initial_delay_s``, ``multiplier``, ``max_delay_s``: the backoff ceiling before
      retry *n* (1-based) is ``min(max_delay_s, initial_delay_s * multiplier**(n-1))``.
      Defaults match openai-python (0.5 s initial, 8 s max).
    - ``jitter``: as defined in the AWS Architecture Blog post "Exponential Backoff and
      Jitter" (Marc Brooker, 2015), with ``base = initial_delay_s``, ``cap = max_delay_s``
      and ``ceiling`` the value above:

      - ``full``: ``random_between(0, ceiling)`` (the post's recommendation; default);
      - ``equal``: ``ceiling/2 + random_between(0, ceiling/2)``;
      - ``decorrelated``: ``min(cap, random_between(base, previous_sleep * 3))`` with
        ``previous_sleep = base`` before the first retry (ignores ``multiplier``);
      - ``none``: ``ceiling`` itself.
    - ``deadline_s``: a total time budget from the start of the first attempt, the
      attempt in flight included: each attempt may take only what is left of it (its
      timeout shrinks), and a retry is not made when its delay would end past it
      (``None``: no deadline).
    - ``max_retry_after_s``: a server's ``retry-after-ms`` / ``Retry-After`` hint of
      ``0 < value <= max_retry_after_s`` is used as the delay (it may exceed
      ``max_delay_s``); above it the call fails at once with a ``RateLimitError``
      carrying ``retry_after_s``.
    """

    max_attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    initial_delay_s: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    multiplier: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    max_delay_s: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    jitter: Jitter = attrs.field(
        default="full", validator=attrs.validators.in_(("full", "equal", "decorrelated", "none"))
    )
    deadline_s: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )
    max_retry_after_s: float = attrs.field(
        default=DEFAULT_MAX_RETRY_AFTER_S, validator=attrs.validators.ge(0)
    )


class ExponentialBackoff:
    """Exponential backoff with jitter, honouring server retry hints.

    ``random`` returns floats in ``[0, 1)`` (injectable, e.g. ``random.Random(0).random``).
    ``next_delay`` returns ``None`` (stop) when the error is not retryable
    (:func:`modelbus.is_retryable`), after ``max_attempts`` attempts, when the delay would
    end past ``deadline_s``, or when the server asks for more than ``max_retry_after_s``.
    """

    def __init__(
        self,
        settings: ExponentialSettings | None = None,
        *,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.settings = settings or ExponentialSettings()
        self._random = random

    @property
    def deadline_s(self) -> float | None:
        """The whole call's time budget in seconds (read by the runner, which cuts the
        attempt in flight to what is left of it), ``None``: none."""
        return self.settings.deadline_s

    @property
    def max_retry_after_s(self) -> float:
        """The largest server retry hint honoured, in seconds (read by the runner)."""
        return self.settings.max_retry_after_s

    def ceiling(self, attempt: int) -> float:
        """The delay before jitter after failed attempt ``attempt`` (1-based), in seconds:
        ``min(max_delay_s, initial_delay_s * multiplier**(attempt-1))``."""
        s = self.settings
        if s.initial_delay_s == 0:
            return 0.0
        try:
            grown = s.initial_delay_s * s.multiplier ** (attempt - 1)
        except OverflowError:  # far past max_delay_s anyway
            grown = math.inf
        return min(s.max_delay_s, grown)

    def next_delay(
        self,
        attempt: int,
        error: BaseException,
        elapsed_s: float,
        previous_delay_s: float | None = None,
    ) -> float | None:
        s = self.settings
        if attempt >= s.max_attempts or not is_retryable(error):
            return None
        hint = getattr(error, "retry_after_s", None)
        if hint is not None and hint > s.max_retry_after_s:
            return None
        if hint is not None and hint > 0:
            delay = float(hint)
        else:
            delay = self._backoff(attempt, previous_delay_s)
        if s.deadline_s is not None and elapsed_s + delay > s.deadline_s:
            return None
        return delay

    def _backoff(self, attempt: int, previous_delay_s: float | None) -> float:
        s = self.settings
        r = self._random()
        if s.jitter == "decorrelated":
            base = s.initial_delay_s
            prev = base if previous_delay_s is None else previous_delay_s
            high = max(base, prev * 3)
            return min(s.max_delay_s, base + (high - base) * r)
        ceiling = self.ceiling(attempt)
        if s.jitter == "full":
            return ceiling * r
        if s.jitter == "equal":
            return ceiling / 2 + ceiling / 2 * r
        return ceiling


class NoRetry:
    """Never retries: every error is raised after the first attempt."""

    def next_delay(
        self,
        attempt: int,
        error: BaseException,
        elapsed_s: float,
        previous_delay_s: float | None = None,
    ) -> float | None:
        return None


@hookimpl
def modelbus_register_retry_policies(register: Callable[..., None]) -> None:
    register(
        "exponential",
        ExponentialBackoff,
        settings=ExponentialSettings,
        description="Exponential backoff with AWS-style jitter, honouring Retry-After",
    )
    register("none", NoRetry, description="Never retry")
