"""Long conversations sent again: their Message objects and what is derived from them, kept.

An application that keeps its history as OpenAI message dicts passes the same 1,000
dicts on every call. Building 1,000 :class:`~modelbus.Message` objects (a validator and a
converter each), turning them back into wire dicts, bounding their bytes and hashing them
for the token count then costs more than sending them. So:

- :func:`messages_of` returns the *same* tuple of Messages for a sequence holding the same
  dict objects with the same ``role`` and ``content`` values as a sequence seen before.
  Mutation is detected: the roles, contents and sizes of the dicts are compared (by
  identity first, as ``list.__eq__`` does, so a hit costs a few C-level passes and no
  Python code per message), and any change builds anew. Only plain messages are kept
  (``{"role": str, "content": str}``, ``type(d) is dict``): the rest is built every time.
- :func:`derived` remembers a value computed from such a tuple (the wire messages, the
  byte bound of the context check) by the tuple's identity, for the tuples
  :func:`messages_of` handed out only. The token counter's memo
  (``builtins/tokens.py``) then hits by identity too.

- :func:`prompt_of` does the same for a prompt string; the request built from such a
  tuple and plain parameters is one derived value (``_routing.build_request``) and its
  cache key another (``_cache_key.cache_key``, via :func:`shared`), so a cache hit
  builds nothing.

The memos hold at most :data:`SIZE` conversations (and prompts), first in first out; an
entry holds its dicts and Messages (that is what keeps the ids in its keys valid). A
conversation never sent again costs its check and one insertion.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Hashable, Sequence
from itertools import repeat
from typing import Any, TypeVar

from .types import Message

__all__ = ["MIN_MESSAGES", "SIZE", "clear", "derived", "messages_of", "prompt_of", "shared"]

MIN_MESSAGES = 1
SIZE = 64

T = TypeVar("T")

_Key = tuple[int, int, int]
# (dicts, roles, contents, lengths, messages): what was seen, and what was built of it.
_Entry = tuple[tuple[Any, ...], list[Any], list[Any], list[int], tuple[Message, ...]]

_lock = threading.Lock()
_conversations: dict[_Key, _Entry] = {}
# The tuples messages_of handed out (id -> tuple): only they have derived values, so a
# derived value never comes from (nor keeps alive) a tuple built for one call.
_handed: dict[int, tuple[Message, ...]] = {}
_derived: dict[tuple[int, Hashable], tuple[Any, Any]] = {}
# The values derived() handed out (id -> value), for shared(): bounded with _derived.
_values: dict[int, Any] = {}
_prompts: dict[str, tuple[Message, ...]] = {}


def _put(d: dict[Any, Any], key: Any, value: Any, size: int = SIZE) -> None:
    with _lock:
        d[key] = value
        while len(d) > size:
            del d[next(iter(d))]


def _get_all(dicts: Sequence[Any], name: str) -> list[Any]:
    return list(map(dict.get, dicts, repeat(name)))


def messages_of(
    seq: Sequence[Any], build: Callable[[Sequence[Any]], tuple[Message, ...]]
) -> tuple[Message, ...]:
    """``build(seq)``, or the tuple it returned for a sequence of the same, unchanged
    plain message dicts (module doc). ``build`` raises what it raises (bad messages)."""
    n = len(seq)
    if n < MIN_MESSAGES:
        return build(seq)
    first, last = seq[0], seq[-1]
    key = (n, id(first), id(last))
    e = _conversations.get(key)
    if e is not None:
        dicts, roles, contents, lengths, messages = e
        if n <= 4:  # a prompt: a plain loop costs less than making the lists below
            for i in range(n):  # (by index: a zip would be one more object per call)
                d = seq[i]
                if (
                    d is not dicts[i]
                    or len(d) != 2
                    or d.get("content") != contents[i]
                    or d.get("role") != roles[i]
                ):
                    break
            else:
                return messages
        elif (
            all(map(operator.is_, seq, dicts))
            and list(map(len, dicts)) == lengths
            and _get_all(dicts, "content") == contents
            and _get_all(dicts, "role") == roles
        ):
            return messages
    messages = build(seq)
    if all(type(d) is dict for d in seq):
        dicts = tuple(seq)
        contents = _get_all(dicts, "content")
        roles = _get_all(dicts, "role")
        lengths = list(map(len, dicts))
        plain = (
            lengths.count(2) == n
            and all(type(c) is str for c in contents)
            and all(type(r) is str for r in roles)
        )
        if plain:
            _put(_conversations, key, (dicts, roles, contents, lengths, messages))
            _put(_handed, id(messages), messages)
    return messages


def prompt_of(text: str) -> tuple[Message, ...]:
    """``(Message("user", text),)``, the same tuple for the same prompt text (strings
    are immutable: nothing to check)."""
    out = _prompts.get(text)
    if out is None:
        out = (Message("user", text),)
        _put(_prompts, text, out)
        _put(_handed, id(out), out)
    return out


def derived(source: Any, what: Hashable, compute: Callable[..., T], *args: Any) -> T:
    """``compute(*args)``, remembered under ``what`` when ``source`` is a tuple
    :func:`messages_of` / :func:`prompt_of` handed out (so: plain messages only) or a
    value this function handed out; the result must depend on nothing but ``source``
    and ``what`` (both immutable). A remembered value is shared: the caller copies what
    it hands on mutable. (Arguments rather than a closure: this runs several times per
    call, and a closure is a function and its cells made each time.)"""
    sid = id(source)
    if _handed.get(sid) is not source and _values.get(sid) is not source:
        return compute(*args)
    key = (sid, what)
    e = _derived.get(key)
    if e is not None and e[0] is source:
        return e[1]  # type: ignore[no-any-return]
    value = compute(*args)
    _put(_derived, key, (source, value), 4 * SIZE)
    _put(_values, id(value), value, 4 * SIZE)
    return value


def shared(value: object) -> bool:
    """Whether ``value`` is one :func:`derived` handed out (and may be handed out
    again): what is computed from it may be remembered by its identity too."""
    return _values.get(id(value)) is value


def clear() -> None:
    """Forget every conversation (tests and benchmarks measure cold paths with it)."""
    with _lock:
        _conversations.clear()
        _handed.clear()
        _derived.clear()
        _values.clear()
        _prompts.clear()
