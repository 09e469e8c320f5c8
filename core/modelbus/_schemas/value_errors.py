"""Errors of the schema converter (``values.py``): :class:`StructureError` and
:func:`describe_error`, which makes any structuring error one readable line
(``$.city: expected str, got int 5``) to show a model or a user."""

from __future__ import annotations

from typing import Any

import cattrs

__all__ = ["StructureError", "at", "describe_error", "show"]


class StructureError(ValueError):
    """A JSON value that does not fit the expected type (the message says both)."""


def show(v: Any) -> str:
    """``v``'s type and a repr cut to 60 characters (an error message quotes the value
    a model sent, which may be long)."""
    r = repr(v)
    return f"{type(v).__name__} {r if len(r) <= 60 else r[:57] + '...'}"


def describe_error(exc: BaseException) -> str:
    """One line for a structuring error: ``$.a: ...; $.b[2]: ...``."""
    if isinstance(exc, cattrs.BaseValidationError):
        lines = cattrs.transform_error(exc, format_exception=_format)
        return "; ".join(at(p, m) for m, _, p in (ln.rpartition(" @ ") for ln in lines))
    return str(exc)


def at(path: str, message: str) -> str:
    """``message`` placed at ``path``; a message that holds paths of its own (a nested
    pydantic model's errors, ``$.qty: ...``) has them made absolute."""
    if not message.startswith("$"):
        return f"{path}: {message}"
    return "; ".join(path + part[1:] for part in message.split("; "))


def _format(exc: BaseException, tp: type | None) -> str:
    if isinstance(exc, StructureError):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown field(s) {', '.join(sorted(exc.extra_fields))}"
    name = getattr(tp, "__name__", None) or repr(tp)
    return f"invalid value for {name} ({type(exc).__name__}: {exc})"
