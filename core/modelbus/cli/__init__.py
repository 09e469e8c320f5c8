"""The ``modelbus`` command line (click).

``main`` is the console script (``modelbus = "modelbus.cli:main"``); ``cli`` is the click
group, for embedding or for ``click.testing.CliRunner``. Commands: ``chat``, ``plugins``,
``config check|show``, ``models``, ``tokens``, ``doctor``, plus those plugins add through
``modelbus_register_commands``. Also runnable as ``python -m modelbus.cli``.
"""

from __future__ import annotations

from ._group import cli, main

__all__ = ["cli", "main"]
