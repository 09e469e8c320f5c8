"""The settings reference: every settings class of the core and of the installed plugins,
as tables of key / type / default / description, made from the attrs classes themselves.

Used by the documentation build (``docs/hooks.py``) and by the meta-tests, so a field
added to a settings class shows up in the docs without editing them. A field's
description is its attrs ``metadata["description"]`` when present, else the part of the
class docstring that documents the key (see :func:`docstring_descriptions` for the
shapes understood).
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from ._settings import settings_fields

__all__ = [
    "FieldDoc",
    "SettingsDoc",
    "docstring_descriptions",
    "field_docs",
    "rst_to_markdown",
    "settings_docs",
    "settings_markdown",
]

# ``key`` in a docstring: a config key when it names a field of the class.
_CODE_KEY = re.compile(r"``([A-Za-z_][A-Za-z0-9_]*)``")
# A key mentioned in passing: ``key`` or ``key = value``.
_MENTION = re.compile(r"``([A-Za-z_][A-Za-z0-9_]*)(?:``|\s*=[^`]*``)")
_SECTION_PREFIX = re.compile(r"^``\[[^\]]+\]``(?:\s+in\s+``modelbus\.toml``)?\s*:\s*")
_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):`~?([^`]+)`")
_AS_IN_CLASS = re.compile(r"^as (?:in|for) :class:`~?([\w.]+)`")
_AS_FOR_SECTION = re.compile(r"^:?\s*as (?:in|for) ``\[(\w+)\.([\w-]+)\]``")
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


def rst_to_markdown(text: str) -> str:
    """Docstring markup → Markdown: ````x```` → ```x```, ``:class:`~a.B``` → ```B```."""
    text = _ROLE.sub(lambda m: f"``{m.group(1).rsplit('.', 1)[-1]}``", text)
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _blocks(doc: str) -> list[str]:
    """Top-level bullet items and paragraphs of a docstring, each joined into one line."""
    blocks: list[list[str]] = []
    prev_blank = True
    for line in inspect.cleandoc(doc).splitlines():
        if not line.strip():
            prev_blank = True
            continue
        indented = line[0].isspace()
        if line.startswith("- ") or (prev_blank and not indented) or not blocks:
            blocks.append([line[2:] if line.startswith("- ") else line])
        else:
            blocks[-1].append(re.sub(r"^\s*- ", "", line).strip())
        prev_blank = False
    return [" ".join(b).strip() for b in blocks]


def _split_clauses(block: str, keys: set[str] | None, marks: str = ";.:") -> list[str]:
    """Split ``block`` before a ````key```` (any text when ``keys`` is ``None``) that
    follows one of ``marks`` and a space, outside parentheses and code: ``a``: x; ``b``: y
    → two clauses."""
    out: list[str] = []
    depth, start, i, n = 0, 0, 0, len(block)
    while i < n:
        if block.startswith("``", i):
            end = block.find("``", i + 2)
            i = n if end < 0 else end + 2
            continue
        c = block[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        elif c in marks and depth == 0 and block.startswith(" ", i + 1):
            m = _CODE_KEY.match(block, i + 2)
            if keys is None or (m and m.group(1) in keys):
                out.append(block[start : i + 1].strip())
                start = i + 2
        i += 1
    out.append(block[start:].strip())
    return [c for c in out if c]


def _leading_keys(clause: str) -> tuple[list[tuple[str, str]], str]:
    """The keys a clause starts with, each with its own ``(...)`` remark, and the rest:
    ``a`` (x), ``b`` and ``c``: text → [(a, x), (b, ""), (c, "")], ": text"."""
    keys: list[tuple[str, str]] = []
    pos = 0
    while True:
        m = _CODE_KEY.match(clause, pos)
        if not m:
            break
        pos = m.end()
        remark = ""
        pm = re.compile(r"\s*\(((?:[^()]|\([^()]*\))*)\)").match(clause, pos)
        if pm:
            remark, pos = pm.group(1), pm.end()
        keys.append((m.group(1), remark))
        sep = re.compile(r"\s*(?:,\s*(?:and|or)\s+|,|/|\band\b|\bor\b)\s*").match(clause, pos)
        if not sep or not _CODE_KEY.match(clause, sep.end()):
            break
        pos = sep.end()
    return keys, clause[pos:].strip()


def docstring_descriptions(
    cls: type,
    keys: Iterable[str],
    lookup: Callable[[str, str], type | None] | None = None,
) -> dict[str, str]:
    """Descriptions of ``keys`` parsed from ``cls``'s docstring (Markdown, one line each).

    Understood shapes, as the settings classes of modelbus write them: bullets or
    sentences starting with the key(s), ````a````: text; ````a````, ````b```` / ````c````: shared
    text; ````a```` (remark) and ````b```` (remark) ...; ``"as in :class:`Other`"`` or
    ``"as for ``[kind.name]``"`` (the other class's description, found through the
    module or ``lookup(kind, name)``). A key only mentioned in passing gets the clause
    that mentions it. Keys the docstring never names are left out.
    """
    wanted = set(keys)
    doc = inspect.getdoc(cls) or ""
    found: dict[str, str] = {}
    mentioned: dict[str, str] = {}
    for block in _blocks(doc):
        for raw in _split_clauses(block, wanted):
            clause = _SECTION_PREFIX.sub("", raw)
            for sentence in _split_clauses(clause, None, "."):
                for k in _MENTION.findall(sentence):
                    if k in wanted:
                        mentioned.setdefault(k, sentence)
            lead, rest = _leading_keys(clause)
            if not lead or not any(k in wanted for k, _ in lead):
                continue
            other = _other_class(cls, rest, lookup)
            for key, remark in lead:
                if key not in wanted or key in found:
                    continue
                if other is not None:
                    theirs = field_descriptions(other).get(key, "")
                    desc = f"{theirs} (as in ``{other.__name__}``)" if theirs else clause
                elif rest.startswith(":"):
                    tail = rest[1:].strip()
                    desc = f"{remark}: {tail}" if remark and tail else remark or tail
                else:
                    desc = clause
                found[key] = desc
    for k, clause in mentioned.items():
        found.setdefault(k, clause)
    return {k: _one_line(rst_to_markdown(v)) for k, v in found.items()}


def _other_class(
    cls: type, rest: str, lookup: Callable[[str, str], type | None] | None
) -> type | None:
    m = _AS_IN_CLASS.match(rest.lstrip(": "))
    if m:
        target = getattr(sys.modules.get(cls.__module__), m.group(1).rsplit(".", 1)[-1], None)
        return target if isinstance(target, type) and attrs.has(target) else None
    m = _AS_FOR_SECTION.match(rest)
    if m and lookup is not None:
        return lookup(m.group(1), m.group(2))
    return None


def _one_line(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip().rstrip(";,").rstrip()
    if text and text[-1] not in ".!?)`":
        text += "."
    return text[:1].upper() + text[1:] if text else text


def field_descriptions(
    cls: type, lookup: Callable[[str, str], type | None] | None = None
) -> dict[str, str]:
    """``{config key: description}`` for ``cls``: attrs ``metadata["description"]`` first,
    else :func:`docstring_descriptions`; a nested settings class says where its table is."""
    fields = settings_fields(cls)
    parsed = docstring_descriptions(cls, fields, lookup)
    out: dict[str, str] = {}
    for key, (attr, _tp) in fields.items():
        meta = attr.metadata.get("description")
        out[key] = _one_line(rst_to_markdown(meta)) if meta else parsed.get(key, "")
    return out


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
    from ._config import CoreSettings, ModelAlias, RateLimit

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
        from ._plugins import load_plugins

        registry = load_plugins().registry
    from ._registry import KINDS

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
    rest = _SECTION_PREFIX.sub("", first)
    rest = re.sub(r"^``\[[^\]]+\]``(?:\s+in\s+``modelbus\.toml``)?[.;,]?", "", rest).strip()
    return _one_line(rst_to_markdown(first)) if rest else ""


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
