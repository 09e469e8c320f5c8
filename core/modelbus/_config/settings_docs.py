"""Descriptions of settings keys, read from attrs ``metadata`` or the class docstring.

The settings classes of modelbus document their keys in the class docstring, as bullets
or sentences starting with the key (see :func:`docstring_descriptions`); a field's
``metadata={"description": ...}`` wins over the docstring. Used by the generated settings
reference (``modelbus._config.reference``).
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterable

import attrs

from .settings import settings_fields

__all__ = [
    "SECTION_PREFIX",
    "docstring_descriptions",
    "field_descriptions",
    "one_line",
    "rst_to_markdown",
]

# ``key`` in a docstring: a config key when it names a field of the class.
_CODE_KEY = re.compile(r"``([A-Za-z_][A-Za-z0-9_]*)``")
# A key mentioned in passing: ``key`` or ``key = value``.
_MENTION = re.compile(r"``([A-Za-z_][A-Za-z0-9_]*)(?:``|\s*=[^`]*``)")
# A clause's leading table name: ``[caches.memory]``: or ``[x]`` in ``modelbus.toml``:
SECTION_PREFIX = re.compile(r"^``\[[^\]]+\]``(?:\s+in\s+``modelbus\.toml``)?\s*:\s*")
_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):`~?([^`]+)`")
_AS_IN_CLASS = re.compile(r"^as (?:in|for) :class:`~?([\w.]+)`")
_AS_FOR_SECTION = re.compile(r"^:?\s*as (?:in|for) ``\[(\w+)\.([\w-]+)\]``")


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
            clause = SECTION_PREFIX.sub("", raw)
            for sentence in _split_clauses(clause, None, ".;"):
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
    return {k: one_line(rst_to_markdown(v)) for k, v in found.items()}


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


def one_line(text: str) -> str:
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
        out[key] = one_line(rst_to_markdown(meta)) if meta else parsed.get(key, "")
    return out
