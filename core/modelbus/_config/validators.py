"""attrs validators the core's settings classes share: seconds, US dollars, paths."""

from __future__ import annotations

import math
from typing import Any

import attrs

from .._engine.timeouts import check_timeout
from .secrets import path_problem

__all__ = ["path", "seconds", "usd"]


def seconds(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A finite number of seconds > 0, or ``None`` (``inf``/``nan`` would disable the
    limit silently or crash the first call)."""
    check_timeout(value, attribute.name)


def usd(_inst: Any, attr: attrs.Attribute[Any], value: float) -> None:
    """A finite number of US dollars >= 0."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{attr.name} must be a finite number of US dollars >= 0, got {value!r}")


def path(_inst: Any, attr: attrs.Attribute[Any], value: str | None) -> None:
    """``None``, ``""`` or a path the file system can be asked about: no NUL character
    (no operating system accepts one), and a leading ``~user`` naming a user of this
    machine (``Path.expanduser`` raises ``RuntimeError`` otherwise). Checked with the
    config, so ``modelbus config check`` finds it, not a traceback at first use."""
    if value:
        problem = path_problem(value)
        if problem is not None:
            raise ValueError(f"{attr.name} {problem}")
