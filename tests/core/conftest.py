"""Fixtures shared by the core tests."""

from __future__ import annotations

from tests.core.plugin_kit import fresh_plugins, parrot_on_path, parrot_venv

__all__ = ["fresh_plugins", "parrot_on_path", "parrot_venv"]
