"""``modelbus new-plugin``: a new plugin distribution from the templates in
``modelbus/scaffold/`` (``string.Template`` files, ``$name`` placeholders).

The distribution has a ``pyproject.toml`` with the ``modelbus`` entry point, the plugin
module (registration, settings class, implementation), tests built on the contract
suites of :mod:`modelbus.testing` and a README; it installs and passes its own tests as
made.
"""

from __future__ import annotations

import keyword
import re
import string
from importlib import resources
from pathlib import Path

import attrs

__all__ = ["KINDS", "PluginKind", "scaffold_plugin"]


@attrs.frozen
class PluginKind:
    """A kind of plugin the scaffold makes: its hook, what the tests cover, the default
    description."""

    hook: str
    tests: str
    description: str


KINDS: dict[str, PluginKind] = {
    "provider": PluginKind(
        "modelbus_register_providers",
        "run the provider contract (`modelbus.testing.contracts_provider`) and use the "
        "provider through a client configured by a config dict.",
        "A chat provider for modelbus",
    ),
    "cache": PluginKind(
        "modelbus_register_caches",
        "run the cache contract (`modelbus.testing.contracts_cache`, with its hypothesis "
        "state machine) and a client configured to use the cache.",
        "A response cache for modelbus",
    ),
    "retry-policy": PluginKind(
        "modelbus_register_retry_policies",
        "run the retry-policy contracts (`modelbus.testing.contracts_retry`: retrying, "
        "with a deadline) and a client "
        "retrying on the policy's schedule against a scripted `FakeProvider`.",
        "A retry policy for modelbus",
    ),
    "token-counter": PluginKind(
        "modelbus_register_token_counters",
        "check properties of the counts with hypothesis and that a client picks the "
        "counter for the models it serves.",
        "A token counter for modelbus",
    ),
    "tools": PluginKind(
        "modelbus_register_tools",
        "check the functions, the schema the model sees and a client's tool loop calling "
        "them for a scripted `FakeProvider`.",
        "Tools for modelbus",
    ),
}

# A plugin name: lowercase words joined by hyphens (it becomes the registered name, the
# entry-point name, ``modelbus-NAME`` and the package ``modelbus_NAME``).
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def _template(*parts: str) -> string.Template:
    res = resources.files("modelbus").joinpath("scaffold", *parts)
    return string.Template(res.read_text(encoding="utf-8"))


def plugin_names(name: str) -> dict[str, str]:
    """The names derived from ``name`` (``"my-llm"`` or ``"modelbus-my-llm"``): ``name``
    ``my-llm``, ``dist`` ``modelbus-my-llm``, ``pkg`` ``modelbus_my_llm``, ``ident``
    ``my_llm``, ``Class`` ``MyLlm``, ``ENV`` ``MY_LLM``. Raises ``ValueError`` for a
    name that is not lowercase words joined by hyphens."""
    short = name.removeprefix("modelbus-")
    if not _NAME.match(short) or short == "modelbus":
        raise ValueError(
            f"plugin name {name!r} must be lowercase letters and digits in words joined by "
            "hyphens, starting with a letter (e.g. 'acme' or 'my-llm')"
        )
    ident = short.replace("-", "_")
    cls = "".join(w.capitalize() for w in short.split("-"))
    if keyword.iskeyword(ident):
        raise ValueError(f"plugin name {name!r} is a Python keyword")
    return {
        "name": short,
        "dist": f"modelbus-{short}",
        "pkg": f"modelbus_{ident}",
        "ident": ident,
        "Class": cls,
        "ENV": ident.upper(),
    }


def scaffold_plugin(
    name: str, kind: str, directory: Path, *, description: str | None = None
) -> list[Path]:
    """Write a new plugin distribution ``modelbus-NAME`` of ``kind`` (a key of
    :data:`KINDS`) into ``directory`` (its parent folder); returns the files written.

    Raises ``ValueError`` for a bad name or kind and ``FileExistsError`` when the
    distribution's folder exists (nothing is overwritten)."""
    if kind not in KINDS:
        raise ValueError(f"unknown plugin kind {kind!r}; one of: {', '.join(KINDS)}")
    from .. import __version__

    names = plugin_names(name)
    spec = KINDS[kind]
    values = {
        **names,
        "kind": kind,
        "description": (description or spec.description).replace('"', "'"),
        "modelbus_version": __version__,
        "tests_summary": spec.tests,
    }
    values["usage"] = _template(kind, "usage.md.tmpl").substitute(values).strip()
    root = directory / names["dist"]
    if root.exists():
        raise FileExistsError(f"{root} exists; choose another name or folder")
    files = {
        root / "pyproject.toml": _template("common", "pyproject.toml.tmpl"),
        root / "README.md": _template("common", "README.md.tmpl"),
        root / "src" / names["pkg"] / "__init__.py": _template(kind, "plugin.py.tmpl"),
        root / "tests" / f"test_{names['ident']}.py": _template(kind, "test_plugin.py.tmpl"),
    }
    written = []
    for path, tmpl in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tmpl.substitute(values), encoding="utf-8")
        written.append(path)
    typed = root / "src" / names["pkg"] / "py.typed"
    typed.write_text("")
    written.append(typed)
    return written
