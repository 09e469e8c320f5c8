"""Built-in token counter ``tiktoken`` (OpenAI models).

The counting rules are those of the OpenAI cookbook notebook "How to count tokens with
tiktoken" (openai/openai-cookbook, ``examples/How_to_count_tokens_with_tiktoken.ipynb``):

- messages (``num_tokens_from_messages``): 3 tokens per message, the tokens of every
  field's value (``role``, ``content``, ``name``), +1 per ``name``, and +3 to prime the
  reply (``<|start|>assistant<|message|>``); ``gpt-3.5-turbo-0301`` used 4 per message
  and -1 per ``name``;
- tools (``num_tokens_for_tools``): per function ``func_init`` + the tokens of
  ``"name:description"`` (a final ``.`` dropped); when it has properties, ``prop_init``,
  then per property ``prop_key`` + the tokens of ``"key:type:description"``, and for an
  ``enum`` ``enum_init`` + ``enum_item`` and the item's tokens per item; ``func_end`` once.
  The constants are 7/3/3/-3/3/12 for gpt-4o and gpt-4o-mini and 10/3/3/-3/3/12 for
  gpt-3.5-turbo and gpt-4; other o200k models (gpt-4.1, gpt-5, o-series) use the gpt-4o
  set, which the notebook did not measure.

Beyond the notebook (estimates): images follow OpenAI's vision pricing rule (see
``modelbus._tokens.images``); an assistant's ``tool_calls`` count the tokens of each function
name and arguments; a property without ``type`` counts its schema as JSON.

Speed: encoders load once per process; each message's count is memoized in a bounded LRU
keyed by (counting profile, message) — :class:`~modelbus.Message` is frozen and hashable —
and the last conversations counted are remembered, so counting a conversation that grew
by a few messages costs about those messages.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from .._tokens.images import image_tokens
from .._wire.types import ImagePart, Message, TextPart, ToolSpec
from ..hookspecs import hookimpl

__all__ = ["TiktokenCounter", "encoding_name_for", "profile_for"]

_O200K = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")
_CL100K = ("gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada-002")
FALLBACK_ENCODING = "o200k_base"


def encoding_name_for(model: str) -> str | None:
    """The tiktoken encoding of an OpenAI model name (prefix match, dated snapshots and
    ``ft:`` fine-tunes included): ``o200k_base`` for gpt-4o, gpt-4.1, gpt-4.5, gpt-5 and
    the o-series; ``cl100k_base`` for gpt-4, gpt-3.5-turbo, text-embedding-3-* and
    text-embedding-ada-002; ``None`` for models it does not serve."""
    if model.startswith("ft:"):
        model = model[3:]
    for p in _O200K:
        if model.startswith(p):
            return "o200k_base"
    for p in _CL100K:
        if model.startswith(p):
            return "cl100k_base"
    return None


@functools.cache
def _encoding(name: str) -> Any:
    # Loads the BPE file once per process: tiktoken's cache, else the bundled copy
    # (modelbus[offline]), else tiktoken's download; TokenizerUnavailableError otherwise.
    from ._encodings import get_encoding

    return get_encoding(name)


# eq=False: profiles are a handful of module constants, hashed by identity in LRU keys.
@attrs.frozen(eq=False)
class Profile:
    """How a model family is counted: its encoding, the per-message and per-name tokens,
    and the cookbook's tool constants."""

    encoding: str
    per_message: int = 3
    per_name: int = 1
    func_init: int = 7
    prop_init: int = 3
    prop_key: int = 3
    enum_init: int = -3
    enum_item: int = 3
    func_end: int = 12

    def count(self, text: str) -> int:
        # encode_ordinary: text that looks like a special token counts as plain text.
        return len(_encoding(self.encoding).encode_ordinary(text))


_O200K_PROFILE = Profile("o200k_base")
_CL100K_PROFILE = Profile("cl100k_base", func_init=10)
_GPT35_0301 = Profile("cl100k_base", per_message=4, per_name=-1, func_init=10)


@functools.lru_cache(maxsize=1024)
def profile_for(model: str) -> Profile:
    """The counting profile of ``model``; models it does not serve get the o200k_base
    profile (the cookbook's fallback, "Using o200k_base encoding")."""
    name = encoding_name_for(model) or FALLBACK_ENCODING
    if name == "o200k_base":
        return _O200K_PROFILE
    if model.removeprefix("ft:").startswith("gpt-3.5-turbo-0301"):
        return _GPT35_0301
    return _CL100K_PROFILE


@functools.lru_cache(maxsize=16384)
def _message_tokens(p: Profile, m: Message) -> int:
    n = p.per_message + _short(p, m.role)
    c = m.content
    if isinstance(c, str):
        n += p.count(c)
    elif c is not None:
        for part in c:
            if isinstance(part, TextPart):
                n += p.count(part.text)
            elif isinstance(part, ImagePart):
                n += image_tokens(part.image_url.url, part.image_url.detail)
    if m.name is not None:
        n += _short(p, m.name) + p.per_name
    for tc in m.tool_calls or ():
        n += _short(p, tc.function.name) + p.count(tc.function.arguments)
    return n


@functools.lru_cache(maxsize=4096)
def _short(p: Profile, text: str) -> int:
    # Roles, names and schema lines repeat across calls: remember their counts.
    return p.count(text)


class _ConversationMemo:
    """The last conversations counted, keyed by (profile, length, last message object).

    A conversation that grew at the end finds its longest remembered prefix by probing
    the last few lengths; ``prev == msgs[:k]`` confirms the hit and compares mostly by
    identity, as a growing conversation reuses its Message objects. Holding the tuples
    keeps the ids in the keys valid."""

    PROBE = 8

    def __init__(self, size: int = 128) -> None:
        self._size = size
        self._d: OrderedDict[tuple[int, int, int], tuple[tuple[Message, ...], int]] = OrderedDict()
        self._lock = threading.Lock()

    def longest_prefix(self, p: Profile, msgs: tuple[Message, ...]) -> tuple[int, int]:
        """(number of leading messages already counted, their tokens) — (0, 0) if none."""
        n = len(msgs)
        pid = id(p)
        with self._lock:
            for k in range(n, max(0, n - self.PROBE), -1):
                hit = self._d.get((pid, k, id(msgs[k - 1])))
                if hit is not None and (hit[0] is msgs or hit[0] == msgs[:k]):
                    self._d.move_to_end((pid, k, id(msgs[k - 1])))
                    return k, hit[1]
        return 0, 0

    def remember(self, p: Profile, msgs: tuple[Message, ...], tokens: int) -> None:
        key = (id(p), len(msgs), id(msgs[-1]))
        with self._lock:
            self._d[key] = (msgs, tokens)
            self._d.move_to_end(key)
            while len(self._d) > self._size:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


_MEMO = _ConversationMemo()


def clear_caches() -> None:
    """Forget memoized counts (benchmarks measure cold counting with it)."""
    _message_tokens.cache_clear()
    _short.cache_clear()
    _MEMO.clear()


def _schema_type(schema: Mapping[str, Any]) -> str:
    t = schema.get("type")
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        return "|".join(map(str, t))
    rest = {k: v for k, v in schema.items() if k not in ("description", "enum")}
    return json.dumps(rest, separators=(",", ":"), sort_keys=True)


def _strip_dot(s: str) -> str:
    return s[:-1] if s.endswith(".") else s


def tools_tokens(p: Profile, tools: Sequence[ToolSpec]) -> int:
    """Tokens the ``tools`` definitions add to a prompt (cookbook ``num_tokens_for_tools``,
    see module doc); 0 for no tools."""
    if not tools:
        return 0
    n = 0
    for t in tools:
        f = t.function
        n += p.func_init + _short(p, f"{f.name}:{_strip_dot(f.description or '')}")
        props = (f.parameters or {}).get("properties") or {}
        if props:
            n += p.prop_init
            for key, schema in props.items():
                n += p.prop_key
                if not isinstance(schema, Mapping):
                    schema = {}
                if "enum" in schema:
                    n += p.enum_init
                    for item in schema["enum"]:
                        n += p.enum_item + _short(p, str(item))
                desc = _strip_dot(str(schema.get("description") or ""))
                n += _short(p, f"{key}:{_schema_type(schema)}:{desc}")
    return n + p.func_end


class TiktokenCounter:
    """Counts OpenAI prompts as the cookbook does (see module doc). ``exact`` is True: the
    counts of the notebook's chat and tool examples equal the ``prompt_tokens`` the API
    reported there for gpt-3.5-turbo, gpt-4, gpt-4o and gpt-4o-mini; images, tool calls in
    the history and nested tool schemas are estimates by documented rules."""

    exact = True

    def serves(self, model: str) -> bool:
        return encoding_name_for(model) is not None

    def count_text(self, text: str, model: str) -> int:
        """Tokens of ``text`` alone (no message overhead)."""
        return profile_for(model).count(text)

    def count_messages(
        self, messages: Sequence[Message], model: str, tools: Sequence[ToolSpec] | None = None
    ) -> int:
        """Prompt tokens of ``messages`` (and ``tools``) as ``usage.prompt_tokens`` bills
        them."""
        p = profile_for(model)
        msgs = messages if isinstance(messages, tuple) else tuple(messages)
        known, total = _MEMO.longest_prefix(p, msgs) if msgs else (0, 0)
        if known < len(msgs):
            mt = _message_tokens
            for i in range(known, len(msgs)):
                total += mt(p, msgs[i])
            _MEMO.remember(p, msgs, total)
        return total + 3 + (tools_tokens(p, tools) if tools else 0)


@hookimpl
def modelbus_register_token_counters(register: Callable[..., None]) -> None:
    register("tiktoken", TiktokenCounter, description="OpenAI models via tiktoken")
