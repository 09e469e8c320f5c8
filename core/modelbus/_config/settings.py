"""Structuring config sections into attrs settings classes, with errors that say where.

Unknown keys are errors naming the dotted key, the file and the accepted keys; type errors
name the expected type; a failing attrs validator names the key it guards. Scalars are
strict: ``"5"`` is not an int, ``"yes"`` is not a bool (TOML has real types, so a string
there is a mistake worth reporting) and a float is finite (``nan`` and ``inf`` are
refused everywhere). A key ending in ``_s`` is a duration in seconds (the project names
units in keys) and is at most :data:`MAX_SECONDS` (ten years): a larger timeout overflows
the OS clocks (``socket.settimeout`` refuses about 9.2e9 s) and means "never", which is
written by leaving the key out where the key allows ``None``.
"""

from __future__ import annotations

import functools
import math
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs

from ..errors import ConfigError
from .secrets import Secret, resolve_secret

T = TypeVar("T")

__all__ = ["MAX_SECONDS", "settings_fields", "structure_settings"]

MAX_SECONDS = 10 * 365 * 86_400


def _strict(kind: type, accept: tuple[type, ...]) -> Any:
    def hook(value: Any, _t: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {kind.__name__}, got bool {value!r}")
        if not isinstance(value, accept):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            # TOML has nan and inf; no setting means anything by them (a timeout of inf
            # overflows a clock, a limit of nan compares false and switches itself off).
            raise ValueError(f"expected a finite number, got {value!r}")
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


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Literal


def _literal(value: Any, tp: Any) -> Any:
    options = typing.get_args(tp)
    if value not in options or type(value) not in {type(o) for o in options}:
        shown = ", ".join(repr(o) for o in options)
        raise ValueError(f"expected one of {shown}, got {value!r}")
    return value


_conv = cattrs.Converter()
_conv.register_structure_hook(str, _strict(str, (str,)))
_conv.register_structure_hook(int, _strict(int, (int,)))
_conv.register_structure_hook(float, _strict(float, (int, float)))
_conv.register_structure_hook(bool, _strict(bool, (bool,)))
_conv.register_structure_hook_func(lambda t: typing.get_origin(t) in _SEQUENCES, _sequence)
_conv.register_structure_hook_func(_is_literal, _literal)


@functools.cache
def settings_fields(cls: type) -> dict[str, tuple[attrs.Attribute[Any], Any]]:
    """``{config key: (attribute, resolved type)}`` of an attrs settings class.

    The config key is the attribute's ``alias`` (attrs strips a leading underscore)."""
    hints = typing.get_type_hints(cls)
    return {a.alias or a.name: (a, hints.get(a.name, Any)) for a in attrs.fields(cls)}


def _is_secret_type(tp: Any) -> bool:
    return tp is Secret or Secret in typing.get_args(tp)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is not None:  # Optional[...] is named "Optional": say more
        return str(tp).replace("typing.", "").replace("NoneType", "None")
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
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(
            f"[{dotted}] must be a table, got {type(data).__name__}", key=dotted, source=source
        )
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
                _check_duration(key, kwargs[attr.name.lstrip("_")])
        except ConfigError:
            raise
        except Exception as exc:
            detail = _leaf_message(exc)
            # A ValueError says what is wrong with a value of the right type.
            what = detail if type(exc) is ValueError else f"expected {_type_name(tp)} ({detail})"
            raise ConfigError(
                f"invalid value for {key!r}: {what}",
                key=f"{dotted}.{key}",
                source=source,
            ) from exc
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        field_key = _failing_field(cls, kwargs)
        if field_key is not None:
            raise ConfigError(
                f"invalid value for {field_key!r}: {_leaf_message(exc)}",
                key=f"{dotted}.{field_key}",
                source=source,
            ) from exc
        raise ConfigError(
            f"invalid settings: {exc}", key=dotted, source=source, accepted=accepted
        ) from exc


def _check_duration(key: str, value: Any) -> None:
    if (
        key.endswith("_s")
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value > MAX_SECONDS
    ):
        raise ValueError(f"a duration in seconds is at most {MAX_SECONDS} (ten years)")


def _failing_field(cls: type, kwargs: Mapping[str, Any]) -> str | None:
    """The config key whose own validator rejects its value in ``kwargs``, or ``None``
    (the class as a whole refused: a cross-field check). attrs' validators take the
    instance, which does not exist yet; field validators do not look at it."""
    for key, (attr, _tp) in settings_fields(cls).items():
        name = attr.name.lstrip("_")
        if attr.validator is None or name not in kwargs:
            continue
        try:
            attr.validator(None, attr, kwargs[name])
        except (TypeError, ValueError):
            return key
        except Exception:  # a validator that needs the instance: not this one's to judge
            continue
    return None


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
