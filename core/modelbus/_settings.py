"""Structuring config sections into attrs settings classes, with errors that say where.

Unknown keys are errors naming the dotted key, the file and the accepted keys; type errors
name the expected type. Scalars are strict: ``"5"`` is not an int and ``"yes"`` is not a
bool (TOML has real types, so a string there is a mistake worth reporting).
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs

from ._secrets import Secret, resolve_secret
from .errors import ConfigError

T = TypeVar("T")

__all__ = ["settings_fields", "structure_settings"]


def _strict(kind: type, accept: tuple[type, ...]) -> Any:
    def hook(value: Any, _t: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {kind.__name__}, got bool {value!r}")
        if not isinstance(value, accept):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return kind(value)

    return hook


_SEQUENCES: tuple[Any, ...] = (list, tuple, set, frozenset)


def _sequence(value: Any, tp: Any) -> Any:
    # cattrs would turn the string "abc" into ["a", "b", "c"]: a TOML string where an
    # array belongs is a mistake (block = "x" for block = ["x"]), so it is an error.
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise TypeError(f"expected an array, got {type(value).__name__} {value!r}")
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        if len(args) != len(value):
            raise TypeError(f"expected {len(args)} items, got {len(value)}")
        return tuple(_conv.structure(v, a) for v, a in zip(value, args, strict=True))
    item = args[0] if args else Any
    items = [_conv.structure(v, item) for v in value]
    return items if origin is list else origin(items)


_conv = cattrs.Converter()
_conv.register_structure_hook(str, _strict(str, (str,)))
_conv.register_structure_hook(int, _strict(int, (int,)))
_conv.register_structure_hook(float, _strict(float, (int, float)))
_conv.register_structure_hook(bool, _strict(bool, (bool,)))
_conv.register_structure_hook_func(lambda t: typing.get_origin(t) in _SEQUENCES, _sequence)


@functools.cache
def settings_fields(cls: type) -> dict[str, tuple[attrs.Attribute[Any], Any]]:
    """``{config key: (attribute, resolved type)}`` of an attrs settings class.

    The config key is the attribute's ``alias`` (attrs strips a leading underscore)."""
    hints = typing.get_type_hints(cls)
    return {a.alias or a.name: (a, hints.get(a.name, Any)) for a in attrs.fields(cls)}


def _is_secret_type(tp: Any) -> bool:
    return tp is Secret or Secret in typing.get_args(tp)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def structure_settings(
    cls: type[T],
    data: Mapping[str, Any] | None,
    *,
    dotted: str,
    source: str,
    base_dir: Path | None = None,
) -> T:
    """Build ``cls`` from the config section ``data`` found at ``dotted`` in ``source``.

    Raises :class:`ConfigError` naming the dotted key, the source and the accepted keys for
    an unknown key, a missing required key, a wrong type or a failing validator.
    """
    data = dict(data or {})
    fields = settings_fields(cls)  # type: ignore[arg-type]
    accepted = sorted(fields)
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"unknown key {key!r}", key=f"{dotted}.{key}", source=source, accepted=accepted
            )
    kwargs: dict[str, Any] = {}
    for key, (attr, tp) in fields.items():
        if key not in data:
            if attr.default is attrs.NOTHING:
                raise ConfigError(
                    f"missing required key {key!r} ({_type_name(tp)})",
                    key=f"{dotted}.{key}",
                    source=source,
                    accepted=accepted,
                )
            continue
        value = data[key]
        try:
            if _is_secret_type(tp):
                kwargs[attr.name.lstrip("_")] = resolve_secret(value, base_dir)
            elif attrs.has(tp) and isinstance(value, Mapping):
                kwargs[attr.name.lstrip("_")] = structure_settings(
                    tp, value, dotted=f"{dotted}.{key}", source=source, base_dir=base_dir
                )
            else:
                kwargs[attr.name.lstrip("_")] = _conv.structure(value, tp)
        except ConfigError:
            raise
        except Exception as exc:
            detail = _leaf_message(exc)
            raise ConfigError(
                f"invalid value for {key!r}: expected {_type_name(tp)} ({detail})",
                key=f"{dotted}.{key}",
                source=source,
            ) from exc
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"invalid settings: {exc}", key=dotted, source=source, accepted=accepted
        ) from exc


def _leaf_message(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        msgs = cattrs.transform_error(exc)
        return "; ".join(msgs)
    return str(exc)


def settings_to_dict(obj: Any) -> dict[str, Any]:
    """A settings object → plain dict for display, secrets masked as ``'**********'``."""

    def value(v: Any) -> Any:
        if isinstance(v, Secret):
            return "**********"
        if attrs.has(type(v)):
            return settings_to_dict(v)
        if isinstance(v, Mapping):
            return {k: value(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [value(x) for x in v]
        return v

    return {(a.alias or a.name): value(getattr(obj, a.name)) for a in attrs.fields(type(obj))}
