"""The settings reference generator: descriptions read from docstrings in the shapes the
settings classes use, metadata first, defaults shown without reading the environment."""

from __future__ import annotations

from typing import Literal

import attrs

from modelbus import Secret, env_secret
from modelbus._config.reference import SettingsDoc, field_docs, settings_markdown
from modelbus._config.settings_docs import docstring_descriptions, field_descriptions


@attrs.frozen
class Base:
    """``[providers.base]`` in ``modelbus.toml``.

    - ``timeout_s``: seconds to wait; ``retries``: attempts after the first.
    - ``host`` / ``port``: where the server listens.
    - ``alpha``, ``beta`` and ``gamma``: three knobs
      sharing one description.
    - ``mode`` (``"fast"`` or ``"safe"``): how to run.
    """

    timeout_s: float = 5.0
    retries: int = 2
    host: str = "127.0.0.1"
    port: int = 8080
    alpha: int = 1
    beta: int = 2
    gamma: int = 3
    mode: Literal["fast", "safe"] = "fast"


@attrs.frozen
class Derived:
    """``[providers.derived]``: ``timeout_s`` and ``host`` as in :class:`Base`; at most
    ``limit`` items (``0``: none). ``enabled = false`` turns it off.

    - ``port`` (a number): as for ``[providers.base]``.
    """

    timeout_s: float = 1.0
    host: str = "localhost"
    limit: int = 10
    enabled: bool = True
    port: int = 1
    tagged: str = attrs.field(default="x", metadata={"description": "From ``metadata``."})
    api_key: Secret | None = attrs.field(factory=lambda: env_secret("DOCS_TEST_API_KEY"))
    extra: dict[str, str] = attrs.field(factory=dict)
    undocumented: int = 0


def lookup(kind: str, name: str) -> type | None:
    return Base if (kind, name) == ("providers", "base") else None


def test_the_shapes_of_a_docstring() -> None:
    d = docstring_descriptions(Base, [a.name for a in attrs.fields(Base)])
    assert d["timeout_s"] == "Seconds to wait."
    assert d["retries"] == "Attempts after the first."
    assert d["host"] == d["port"] == "Where the server listens."
    assert d["alpha"] == d["beta"] == d["gamma"] == "Three knobs sharing one description."
    assert d["mode"] == '`"fast"` or `"safe"`: how to run.'


def test_references_to_other_classes_mentions_and_metadata() -> None:
    d = field_descriptions(Derived, lookup)
    assert d["timeout_s"] == "Seconds to wait. (as in `Base`)"
    assert d["host"] == "Where the server listens. (as in `Base`)"
    assert d["port"] == "Where the server listens. (as in `Base`)"
    assert d["limit"] == "At most `limit` items (`0`: none)."
    assert d["enabled"] == "`enabled = false` turns it off."
    assert d["tagged"] == "From `metadata`."
    assert d["undocumented"] == ""


def test_defaults_never_read_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("DOCS_TEST_API_KEY", "sk-must-not-appear")
    rows = {r.key: r for r in field_docs(Derived, lookup)}
    assert rows["api_key"].default == "`$DOCS_TEST_API_KEY`"
    assert rows["extra"].default == "`{}`"
    assert rows["limit"].default == "`10`"
    assert rows["api_key"].type == "`Secret | None`"
    page = settings_markdown([SettingsDoc("[providers.derived]", Derived, "example")])
    assert "sk-must-not-appear" not in page


def test_the_markdown_table() -> None:
    page = settings_markdown(
        [SettingsDoc("[providers.base]", Base, "example-dist", "providers", "base")]
    )
    assert "## `example-dist`" in page
    assert "### `[providers.base]` { #providers-base }" in page
    # A pipe in a code span stays (Python-Markdown keeps it in the cell).
    assert '| `mode` | `"fast" | "safe"` | `"fast"` |' in page
    assert page.count("\n| `") == len(attrs.fields(Base))
