"""``python -m modelbus.testing.campaign``: see :mod:`modelbus.testing.campaign`."""

from __future__ import annotations

import sys

from ._cli import main

sys.exit(main())
