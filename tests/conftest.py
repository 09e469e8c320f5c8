"""Shared test set-up: where the recorded wire payloads live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def wire_dir() -> Path:
    """``$MODELBUS_WIRE_FIXTURES`` or ``../shared/fixtures/wire`` beside the checkout."""
    env = os.environ.get("MODELBUS_WIRE_FIXTURES")
    return Path(env) if env else ROOT.parent / "shared" / "fixtures" / "wire"


@pytest.fixture(scope="session")
def wire() -> Path:
    d = wire_dir()
    if not d.is_dir():
        pytest.fail(f"recorded wire fixtures not found at {d} (set MODELBUS_WIRE_FIXTURES)")
    return d
