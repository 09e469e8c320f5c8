"""Module attributes imported on first use (PEP 562), for modelbus and its plugins.

Plugin discovery imports every plugin package on each ``modelbus.Client()``, and
``import modelbus`` must stay cheap, so packages list their public names and load the
module behind each only when it is first read.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    module: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package ``module`` (pass ``__name__``).

    ``names`` maps each public name to the module that defines it, relative to
    ``module`` (``"._provider"``) or absolute (``"modelbus.errors"``); a name whose module
    *is* ``module.name`` is that submodule itself. A loaded value is stored on the
    package, so later reads skip ``__getattr__``. Reading any other name raises
    ``AttributeError`` naming the package; ``__dir__`` lists ``names``.
    """
    package = sys.modules[module]

    def __getattr__(name: str) -> Any:
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        loaded = importlib.import_module(target, module)
        value = loaded if loaded.__name__ == f"{module}.{name}" else getattr(loaded, name)
        setattr(package, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
