"""Context fitting: making messages fit a prompt-token limit (pure functions).

Two strategies, chosen by ``truncate``:

- ``"oldest"`` drops the oldest non-system messages until the prompt fits. System and
  developer messages always stay, and so does the newest message. An assistant message
  with ``tool_calls`` and the ``tool`` messages answering it are one unit: dropped together
  or kept together, so a tool call is never separated from its result.
- ``"middle"`` shortens the one non-system message with the longest text by cutting out
  its middle, putting :data:`MARKER` (with the number of characters cut) in its place.

Both take the prompt-token ``limit`` and a ``count`` function (``messages -> tokens``,
e.g. a :class:`~modelbus.protocols.TokenCounter`'s ``count_messages`` bound to a model and
tools), leave messages that already fit untouched, and return the new messages with their
count. When they cannot get under the limit they return their best attempt; the caller
compares the count to the limit (see ``_prepare.fit_context``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import attrs

from .._wire.types import Message, TextPart

__all__ = [
    "MARKER",
    "TRUNCATE_MODES",
    "Count",
    "TruncateMode",
    "TruncateOption",
    "check_truncate",
    "cut_middle",
    "drop_oldest",
    "fit_messages",
    "shorten_middle",
]

TruncateMode = Literal["oldest", "middle"]
TRUNCATE_MODES: tuple[TruncateMode, ...] = ("oldest", "middle")
#: A call's ``truncate=``: a strategy, ``False`` (raise, whatever the config says), or
#: ``None`` (the config's ``[modelbus] truncate``).
TruncateOption = Literal["oldest", "middle", False] | None
Count = Callable[[Sequence[Message]], int]
MARKER = "\n[... {n} characters cut to fit the context window ...]\n"
_PINNED = frozenset(("system", "developer"))


def check_truncate(truncate: object) -> None:
    """Raise ``ValueError`` naming the accepted values unless ``truncate`` is a
    :data:`TruncateOption`."""
    if truncate is not None and truncate is not False and truncate not in TRUNCATE_MODES:
        raise ValueError(
            f"truncate must be one of {TRUNCATE_MODES}, False or None, got {truncate!r}"
        )


def fit_messages(
    messages: Sequence[Message], limit: int, count: Count, strategy: TruncateMode
) -> tuple[tuple[Message, ...], int]:
    """``(messages, tokens)`` after applying ``strategy`` (see module doc); ``tokens`` may
    still exceed ``limit`` when the strategy could not do better. Raises ``ValueError``
    for an unknown strategy."""
    if strategy == "oldest":
        return drop_oldest(messages, limit, count)
    if strategy == "middle":
        return shorten_middle(messages, limit, count)
    raise ValueError(f"truncate must be one of {TRUNCATE_MODES}, got {strategy!r}")


def _units(messages: Sequence[Message]) -> list[list[int]]:
    """Indices of the droppable messages grouped into units, oldest first: each message is
    its own unit, except a ``tool`` message, which joins the unit of the assistant message
    whose ``tool_calls`` hold its ``tool_call_id``."""
    units: list[list[int]] = []
    owner: dict[str, list[int]] = {}
    for i, m in enumerate(messages):
        if m.role in _PINNED:
            continue
        if m.role == "tool" and m.tool_call_id is not None and m.tool_call_id in owner:
            owner[m.tool_call_id].append(i)
            continue
        unit = [i]
        units.append(unit)
        for tc in m.tool_calls or ():
            owner[tc.id] = unit
    return units


def drop_oldest(
    messages: Sequence[Message], limit: int, count: Count
) -> tuple[tuple[Message, ...], int]:
    """Drop the oldest droppable units (module doc) until ``count`` is at most ``limit``.

    Each unit's share is measured once (its count minus the count of no messages), so the
    drops are planned in one pass; the result is then counted for real and more units go
    if a counter is not additive."""
    msgs = tuple(messages)
    total = count(msgs)
    if total <= limit:
        return msgs, total
    units = _units(msgs)
    droppable = units[:-1]  # the newest unit (the question being asked) always stays
    base = count(())
    dropped: set[int] = set()
    estimate = total
    taken = 0
    for unit in droppable:
        if estimate <= limit:
            break
        estimate -= count([msgs[i] for i in unit]) - base
        dropped.update(unit)
        taken += 1
    kept = tuple(m for i, m in enumerate(msgs) if i not in dropped)
    tokens = count(kept)
    while tokens > limit and taken < len(droppable):
        dropped.update(droppable[taken])
        taken += 1
        kept = tuple(m for i, m in enumerate(msgs) if i not in dropped)
        tokens = count(kept)
    return kept, tokens


def _longest_text(m: Message) -> str:
    c = m.content
    if isinstance(c, str):
        return c
    if c is None:
        return ""
    return max((p.text for p in c if isinstance(p, TextPart)), key=len, default="")


def _with_text(m: Message, old: str, new: str) -> Message:
    c = m.content
    if isinstance(c, str):
        return attrs.evolve(m, content=new)
    assert c is not None
    parts = list(c)
    for i, p in enumerate(parts):
        if isinstance(p, TextPart) and p.text == old:
            parts[i] = attrs.evolve(p, text=new)
            break
    return attrs.evolve(m, content=tuple(parts))


def cut_middle(text: str, keep: int) -> str:
    """``text`` with all but ``keep`` characters cut from its middle and :data:`MARKER` in
    their place (the head gets the odd character); ``text`` itself when nothing is cut."""
    cut = len(text) - keep
    if cut <= 0:
        return text
    head = (keep + 1) // 2
    return text[:head] + MARKER.format(n=cut) + text[len(text) - (keep - head) :]


def shorten_middle(
    messages: Sequence[Message], limit: int, count: Count
) -> tuple[tuple[Message, ...], int]:
    """Shorten the droppable message with the longest text (one text part of a multi-part
    message) in its middle until ``count`` is at most ``limit``.

    Binary search on the number of characters kept (token counts grow with kept text);
    every other message is left as it is."""
    msgs = list(messages)
    total = count(msgs)
    if total <= limit:
        return tuple(msgs), total
    candidates = [i for i, m in enumerate(msgs) if m.role not in _PINNED]
    if not candidates:
        return tuple(msgs), total
    idx = max(candidates, key=lambda i: len(_longest_text(msgs[i])))
    original = msgs[idx]
    text = _longest_text(original)
    if not text:
        return tuple(msgs), total

    def trial(keep: int) -> tuple[tuple[Message, ...], int]:
        msgs[idx] = _with_text(original, text, cut_middle(text, keep))
        out = tuple(msgs)
        return out, count(out)

    best = trial(0)
    if best[1] > limit:
        return best  # even an empty middle does not fit
    lo, hi = 0, len(text) - 1  # keep=lo fits; keep=len(text) is the original, which does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        candidate = trial(mid)
        if candidate[1] <= limit:
            lo, best = mid, candidate
        else:
            hi = mid - 1
    return best
