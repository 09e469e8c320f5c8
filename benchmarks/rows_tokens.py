"""``Client.count_tokens`` on a 100-message chat beside raw tiktoken ``encode`` of the same
texts (the chat of ``bench_tokens.py``, which stays as a script with its growth case)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from ._context import Context
from ._harness import Check, Row, interleave, measures, row, single

TARGET = 0.9
MODEL = "gpt-4o"


@row("tokens", "count_tokens on a 100-message chat")
def tokens_row(ctx: Context) -> list[Row]:
    from modelbus.builtins import tokens as tk
    from modelbus.builtins._encodings import get_encoding

    from .bench_tokens import chat

    url = ctx.server()
    mb = ctx.client(url)
    # What an application passes: OpenAI message dicts.
    messages = [{"role": m.role, "content": m.text} for m in chat(random.Random(1), 100)]
    texts = [m["content"] for m in messages]
    enc = get_encoding("o200k_base")  # = tiktoken.get_encoding, its cache filled offline
    assert tk.encoding_name_for(MODEL) == "o200k_base"

    def raw() -> int:
        return sum(len(enc.encode(t)) for t in texts)

    def cold() -> int:
        tk.clear_caches()  # from scratch: the per-message memo emptied
        return mb.count_tokens(messages, model=MODEL)

    cases: dict[str, Callable[[], float]] = {
        "raw tiktoken encode": single(raw),
        "modelbus count_tokens": single(cold),
        "modelbus count_tokens, memoized": single(lambda: mb.count_tokens(messages, model=MODEL)),
    }
    absent: dict[str, str] = {}
    ll = ctx.litellm()
    if ll is not None:
        cases["LiteLLM token_counter"] = single(
            lambda: ll.token_counter(model=MODEL, messages=messages)
        )
    else:
        absent["LiteLLM token_counter"] = ctx.litellm_absent
    tokens = cold()
    samples = interleave(cases, ctx.scale(400, 40), warmup=5, every={"LiteLLM token_counter": 4})
    roles: dict[str, Any] = {
        "raw tiktoken encode": "baseline",
        "modelbus count_tokens": "subject",
        "modelbus count_tokens, memoized": "reference",
        "LiteLLM token_counter": "reference",
    }
    found = measures(samples, roles, absent)
    r = Row(
        "tokens",
        "count_tokens on a 100-message chat",
        "s",
        "per count",
        "raw tiktoken encode",
        found,
    )
    ratio = r.ratio("modelbus count_tokens")
    assert ratio is not None
    r.checks.append(
        Check("≥ 0.9x raw tiktoken encode throughput", f"{1 / ratio:.2f}x", 1 / ratio >= TARGET)
    )
    r.notes.append(
        f"{tokens:,} prompt tokens on {MODEL} (o200k_base); count_tokens from scratch "
        "(memo cleared each call); ratio column: time"
    )
    return [r]
