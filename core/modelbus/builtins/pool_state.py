"""The built-in ``memory`` pool state store (each client its own; see ``_pool_state``)."""

from __future__ import annotations

from collections.abc import Callable

from .._pools.state import MemoryPoolState
from ..hookspecs import hookimpl

__all__ = ["MemoryPoolState"]


@hookimpl
def modelbus_register_pool_states(register: Callable[..., None]) -> None:
    register(
        "memory",
        MemoryPoolState,
        description="deployment pools' cooldowns, calls in flight and usage, per client",
    )
