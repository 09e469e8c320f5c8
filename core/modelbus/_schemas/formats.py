"""Response-format handlers: which installed handler takes a non-dict ``response_format``
(an attrs class, a pydantic model, a dataclass, a TypedDict...), built once per client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._plugins.registry import start_each

if TYPE_CHECKING:
    from .._config.config import Config
    from .._plugins.registry import Registry
    from ..protocols import ResponseFormatHandler

__all__ = ["ResponseFormats", "needs_handler"]


def needs_handler(params: Mapping[str, Any]) -> bool:
    """A ``response_format`` that is not an OpenAI dict goes to a response-format handler."""
    fmt = params.get("response_format")
    return fmt is not None and not isinstance(fmt, Mapping)


class ResponseFormats:
    """The ``response_formats`` plugins of a registry, started on first use."""

    def __init__(self, registry: Callable[[], Registry], config: Config) -> None:
        self._registry = registry  # read when first needed: the client's, as it is then
        self._config = config
        self._handlers: list[tuple[str, ResponseFormatHandler]] | None = None
        self._lock = threading.Lock()

    def handler(self, response_format: Any) -> ResponseFormatHandler:
        """The first registered handler that ``matches`` the format; ``TypeError`` naming
        the installed ones when none does."""
        handlers = self._handlers
        if handlers is None:
            with self._lock:
                if self._handlers is None:
                    self._handlers = start_each(self._registry(), "response_formats", self._config)
                handlers = self._handlers
        for _name, h in handlers:
            if h.matches(response_format):
                return h
        installed = ", ".join(name for name, _ in handlers) or "none"
        raise TypeError(
            f"response_format={response_format!r} is not an OpenAI dict and no installed "
            f"response-format handler accepts it (installed handlers: {installed}); for "
            "attrs classes, list[X] and Literal: pip install modelbus-structured-output"
        )
