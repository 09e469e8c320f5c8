"""modelbus-local: the ``local`` provider (local OpenAI-compatible servers, or a GGUF file
run in-process by llama-cpp-python) and a tiny random GGUF model for tests.

Importing this package imports neither llama-cpp-python nor numpy/gguf; names below load
on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelbus.plugin import lazy_exports

__all__ = [
    "LocalServerProvider",
    "LocalSettings",
    "build_tiny_model",
    "default_model_path",
    "ensure_tiny_model",
]

_LAZY = {
    "LocalServerProvider": "._server",
    "LocalSettings": "._settings",
    "build_tiny_model": ".tiny_model",
    "default_model_path": ".tiny_model",
    "ensure_tiny_model": ".tiny_model",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


if TYPE_CHECKING:
    from ._server import LocalServerProvider as LocalServerProvider
    from ._settings import LocalSettings as LocalSettings
    from .tiny_model import build_tiny_model as build_tiny_model
    from .tiny_model import default_model_path as default_model_path
    from .tiny_model import ensure_tiny_model as ensure_tiny_model
