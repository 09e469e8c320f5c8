"""attrs validators the core's settings classes share: seconds and US dollars."""

from __future__ import annotations

import math
from typing import Any

import attrs

from .._engine.timeouts import check_timeout

__all__ = ["seconds", "usd"]


def seconds(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A finite number of seconds > 0, or ``None`` (``inf``/``nan`` would disable the
    limit silently or crash the first call)."""
    check_timeout(value, attribute.name)


def usd(_inst: Any, attr: attrs.Attribute[Any], value: float) -> None:
    """A finite number of US dollars >= 0."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{attr.name} must be a finite number of US dollars >= 0, got {value!r}")
