"""The settings reference: every settings class of the core and of the installed plugins,
as tables of key / type / default / description, made from the attrs classes themselves.

Used by the documentation build (``docs/hooks.py``) and by the meta-tests, so a field
added to a settings class shows up in the docs without editing them. A field's
description is its attrs ``metadata["description"]`` when present, else the part of the
class docstring that documents the key (see ``modelbus._config.settings_docs`` for the shapes
understood).
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from .settings import settings_fields
from .settings_docs import SECTION_PREFIX, field_descriptions, one_line, rst_to_markdown

__all__ = [
    "FieldDoc",
    "SettingsDoc",
    "core_settings_docs",
    "field_docs",
    "nested_settings",
    "settings_docs",
    "settings_markdown",
]

# attrs' stubs type ``attrs.Factory`` as a function; this is its class.
_FACTORY: type = type(attrs.Factory(list))
_ENV_NAME = re.compile(r"[\"']([A-Z][A-Z0-9_]{2,})[\"']")


@attrs.frozen
class FieldDoc:
    """One row of a settings table: the config ``key``, its ``type`` and ``default`` as
    shown (Markdown), and its ``description`` (Markdown, one line; empty if undocumented)."""

    key: str
    type: str
    default: str
    description: str


@attrs.frozen
class SettingsDoc:
    """A settings class and where it lives in ``modelbus.toml``: ``section`` is the table
    header (``[providers.openai]``), ``origin`` the distribution that registered it."""

    section: str
    cls: type
    origin: str
    kind: str = ""
    name: str = ""


def _type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        return " | ".join(_type_name(a) for a in args)
    if origin is not None and args:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]"
    if tp is type(None):
        return "None"
    if tp is Any:
        return "Any"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _toml_value(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e6:
        return f"{int(value):_}.0"
    if isinstance(value, int) and abs(value) >= 1_000_000:
        return f"{value:_}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _default(attr: attrs.Attribute[Any]) -> str:
    """The default as Markdown. Factories are called only when they cannot read the
    environment (containers, nested settings classes): an env-reading factory would put
    this machine's values, or a secret, into the docs; its variable names are shown."""
    d: Any = attr.default
    if d is attrs.NOTHING:
        return "**required**"
    factory: Any = getattr(d, "factory", None) if isinstance(d, _FACTORY) else None
    if factory is None:
        shown = _toml_value(d)
        return shown if shown == "unset" else f"`{shown}`"
    if factory in (list, dict, set, tuple, frozenset):
        return f"`{_toml_value(factory())}`"
    if isinstance(factory, type) and attrs.has(factory):
        return "see its table"
    try:
        source = inspect.getsource(factory)
    except (OSError, TypeError):
        return "computed"
    names = list(dict.fromkeys(_ENV_NAME.findall(source)))
    return ", else ".join(f"`${n}`" for n in names) if names else "computed"


def field_docs(
    cls: type, lookup: Callable[[str, str], type | None] | None = None
) -> list[FieldDoc]:
    """The rows of ``cls``'s settings table, in field order."""
    descriptions = field_descriptions(cls, lookup)
    return [
        FieldDoc(key, f"`{_type_name(tp)}`", _default(attr), descriptions[key])
        for key, (attr, tp) in settings_fields(cls).items()
    ]


def nested_settings(cls: type) -> list[tuple[str, type]]:
    """``(key, class)`` of the fields of ``cls`` that are settings classes themselves."""
    return [
        (key, tp)
        for key, (_attr, tp) in settings_fields(cls).items()
        if isinstance(tp, type) and attrs.has(tp)
    ]


def core_settings_docs() -> list[SettingsDoc]:
    """The core's settings tables: ``[modelbus]`` with its nested tables, ``[models.NAME]``
    and ``[rate_limits."provider"]``."""
    from .config import CoreSettings, ModelAlias, RateLimit

    docs = [SettingsDoc("[modelbus]", CoreSettings, "modelbus")]
    docs += [
        SettingsDoc(f"[modelbus.{key}]", tp, "modelbus")
        for key, tp in nested_settings(CoreSettings)
    ]
    docs.append(SettingsDoc("[models.NAME]", ModelAlias, "modelbus"))
    docs.append(
        SettingsDoc(
            '[rate_limits."provider"] / [rate_limits."provider/model"]', RateLimit, "modelbus"
        )
    )
    return docs


def settings_docs(
    registry: Any = None, exclude_distributions: Iterable[str] = ()
) -> list[SettingsDoc]:
    """Every settings class: the core's, then each registration's ``settings`` in
    ``registry`` (default: :func:`modelbus.load_plugins`'s), skipping those of
    ``exclude_distributions``. Nested settings classes get their own entry."""
    if registry is None:
        from .._plugins.loading import load_plugins

        registry = load_plugins().registry
    from .._plugins.registry import KINDS

    skip = set(exclude_distributions)
    docs = core_settings_docs()
    for kind in KINDS:
        for reg in registry.of_kind(kind):
            if reg.settings is None or (reg.distribution or reg.plugin) in skip:
                continue
            section = f"[{kind}.{reg.name}]"
            docs.append(SettingsDoc(section, reg.settings, reg.origin, kind, reg.name))
            docs += [
                SettingsDoc(f"[{kind}.{reg.name}.{key}]", tp, reg.origin, kind, reg.name)
                for key, tp in nested_settings(reg.settings)
            ]
    return docs


def _cell(text: str) -> str:
    # A pipe splits table cells, except inside a code span (Python-Markdown's tables).
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(p if p.startswith("`") else p.replace("|", "\\|") for p in parts)


def _anchor(section: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", section.lower()).strip("-")


def _summary(cls: type) -> str:
    """The class docstring's first paragraph, unless it only names the section."""
    first = (inspect.getdoc(cls) or "").split("\n\n")[0].strip()
    if first.startswith("-"):
        return ""
    rest = SECTION_PREFIX.sub("", first)
    rest = re.sub(r"^``\[[^\]]+\]``(?:\s+in\s+``modelbus\.toml``)?[.;,]?", "", rest).strip()
    return one_line(rst_to_markdown(first)) if rest else ""


def settings_markdown(docs: list[SettingsDoc]) -> str:
    """The Markdown of the settings reference: one table per settings class, grouped by
    the distribution that provides it (the core first)."""
    by_section = {d.section.split(" / ")[0]: d.cls for d in docs}

    def lookup(kind: str, name: str) -> type | None:
        return by_section.get(f"[{kind}.{name}]")

    groups: dict[str, list[SettingsDoc]] = {}
    for d in docs:
        groups.setdefault(d.origin, []).append(d)
    out: list[str] = []
    for origin, group in groups.items():
        title = "core (`modelbus`)" if origin == "modelbus" else f"`{origin}`"
        out += [f"## {title}", ""]
        for d in group:
            head = d.section.split(" / ")[0]
            out += [
                f"### `{d.section}` {{ #{_anchor(head)} }}",
                "",
                f"Settings class: `{d.cls.__module__}.{d.cls.__qualname__}`.",
                "",
            ]
            summary = _summary(d.cls)
            if summary:
                out += [summary, ""]
            out += ["| key | type | default | description |", "|---|---|---|---|"]
            nested = dict(nested_settings(d.cls))
            for f in field_docs(d.cls, lookup):
                desc = f.description
                if f.key in nested:
                    sub = f"{head[:-1]}.{f.key}]"
                    desc = f"{desc} A table: see [`{sub}`](#{_anchor(sub)}).".strip()
                out.append(f"| `{f.key}` | {_cell(f.type)} | {_cell(f.default)} | {_cell(desc)} |")
            out.append("")
    return "\n".join(out)
