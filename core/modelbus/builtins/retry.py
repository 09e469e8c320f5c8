"""Built-in retry policies: ``exponential`` (with jitter) and ``none``."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

import attrs

from ..hookspecs import hookimpl

__all__ = ["ExponentialBackoff", "ExponentialSettings", "NoRetry"]


@attrs.frozen
class ExponentialSettings:
    """``[retry_policies.exponential]``. Delays in seconds: attempt *n* (1-based) waits
    ``min(max_delay_s, initial_delay_s * multiplier**(n-1))`` before jitter. Defaults match
    openai-python (0.5 s initial, 8 s max, 3 attempts). ``jitter`` as defined in the AWS
    Architecture Blog "Exponential Backoff and Jitter"; ``deadline_s`` caps the total time."""

    max_attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    initial_delay_s: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    multiplier: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    max_delay_s: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    jitter: Literal["full", "equal", "decorrelated", "none"] = "full"
    deadline_s: float | None = None
    max_retry_after_s: float = 120.0


class ExponentialBackoff:
    """Exponential backoff with jitter; ``random`` returns floats in [0, 1) (injectable)."""

    def __init__(self, settings: ExponentialSettings | None = None, *,
                 random: Callable[[], float] = random.random) -> None:
        self.settings = settings or ExponentialSettings()
        self._random = random

    def next_delay(self, attempt: int, error: BaseException, elapsed_s: float,
                   previous_delay_s: float | None = None) -> float | None:
        s = self.settings
        if attempt >= s.max_attempts:
            return None
        base = min(s.max_delay_s, s.initial_delay_s * s.multiplier ** (attempt - 1))
        r = self._random()
        if s.jitter == "full":
            delay = base * r
        elif s.jitter == "equal":
            delay = base / 2 + base / 2 * r
        elif s.jitter == "decorrelated":
            prev = previous_delay_s or s.initial_delay_s
            low = s.initial_delay_s
            delay = min(s.max_delay_s, low + (prev * 3 - low) * r)
        else:
            delay = base
        if s.deadline_s is not None and elapsed_s + delay > s.deadline_s:
            return None
        return delay


class NoRetry:
    """Never retries."""

    def next_delay(self, attempt: int, error: BaseException, elapsed_s: float,
                   previous_delay_s: float | None = None) -> float | None:
        return None


@hookimpl
def modelbus_register_retry_policies(register: Callable[..., None]) -> None:
    register("exponential", ExponentialBackoff, settings=ExponentialSettings,
             description="Exponential backoff with jitter, honouring Retry-After")
    register("none", NoRetry, description="Never retry")
