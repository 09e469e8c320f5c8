"""A pytest plugin (``-p _mutant_inject``) that makes one module import as a mutant.

The runner sets ``MODELBUS_MUTANT=<module>:<path>:<index>``; before any test module or
conftest imports it, this puts a finder first on ``sys.meta_path`` that compiles mutant
``index`` of the file (``operators.build``) under the file's own name. The worktree is
never written, so several runs and normal editing can go on side by side. Subprocesses
that the tests start import the unmutated module (such a mutant can only be killed by a
test that runs the code in-process).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import CodeType

from operators import build

__all__: list[str] = []


class _MutantLoader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, index: int) -> None:
        super().__init__(fullname, path)
        self.index = index

    def get_code(self, fullname: str) -> CodeType:
        source = Path(self.path).read_text(encoding="utf-8")
        return compile(build(source, self.path, self.index), self.path, "exec", dont_inherit=True)


class _MutantFinder(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, path: str, index: int) -> None:
        self.module, self.path, self.index = module, path, index

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname != self.module:
            return None
        loader = _MutantLoader(fullname, self.path, self.index)
        return importlib.util.spec_from_file_location(fullname, self.path, loader=loader)


_spec = os.environ.get("MODELBUS_MUTANT")
if _spec:
    _module, _path, _index = _spec.rsplit(":", 2)
    if _module in sys.modules:
        raise RuntimeError(f"{_module} was imported before the mutant could be installed")
    if int(_index) >= 0:  # -1: the unmutated module (run.py --baseline)
        sys.meta_path.insert(0, _MutantFinder(_module, _path, int(_index)))
