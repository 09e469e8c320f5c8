"""Checks before sending, after the cache lookup and before the provider call.

Each step is its own function taking the client, the route and the shared
:class:`Estimate` (the request being prepared and its lazily counted prompt tokens):

0. :func:`fit_params` — the request fitted to its model's capability flags in the catalog
   (``max_tokens`` renamed, sampling parameters a reasoning model refuses dropped), see
   ``_adapt_params``.
1. :func:`fit_context` — estimated prompt tokens + ``max_tokens`` against the catalog's
   context window (and input limit): raise :class:`ContextLengthExceededError` locally, or
   truncate (``truncate="oldest"|"middle"``, see ``_context``).
2. the budgets (``_budgeting``) — reserve the worst-case cost on every budget that
   applies (``max_cost_usd``, ``[budgets.NAME]``), counting what calls in flight have
   reserved; the caller settles the reservation to the real cost afterwards.
3. rate limits (``_ratelimit``) — wait for ``[rate_limits]`` rpm/tpm on the client's
   clock; last, so a request refused above never takes a rate-limit slot (a refusal
   here gives the budget reservation back).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import attrs

from .._catalog import CatalogEntry
from .._limits.budgets import Hold, areserve, budgets_configured, reserve
from .._limits.rate_limits import arate_limit, rate_limit, rate_limits_configured
from .._routing.resolve import Route
from .._tokens.context_window import TruncateMode, TruncateOption, check_truncate, fit_messages
from .._wire.message_memo import derived, shared
from .._wire.types import ChatRequest, Message, TextPart
from ..errors import ContextLengthExceededError
from ..protocols import TokenCounter
from .adapt_params import adapt_request
from .param_support import supported_params

if TYPE_CHECKING:
    from collections.abc import Sequence

    from . import Engine

__all__ = [
    "Estimate",
    "aprepare",
    "fit_context",
    "fit_params",
    "fitted",
    "prepare",
    "prepare_awaits",
    "prompt_upper_bound",
    "resolve_truncate",
]


@attrs.define
class Estimate:
    """The request being prepared, its catalog entry and its prompt tokens (counted on
    first use with the client's counter for the model, then kept)."""

    client: Engine
    route: Route
    request: ChatRequest
    entry: CatalogEntry | None = None
    _counter: TokenCounter | None = None
    _prompt_tokens: int | None = None

    @classmethod
    def of(cls, c: Engine, route: Route, req: ChatRequest) -> Estimate:
        return cls(c, route, req, c.catalog.get(req.model))

    @property
    def counter(self) -> TokenCounter:
        if self._counter is None:
            self._counter = self.client.token_counter(self.request.model, self.route.provider)
        return self._counter

    @property
    def prompt_tokens(self) -> int:
        """Estimated ``usage.prompt_tokens`` of the request (messages and tools)."""
        if self._prompt_tokens is None:
            r = self.request
            self._prompt_tokens = self.counter.count_messages(r.messages, r.model, r.tools)
        return self._prompt_tokens

    @property
    def max_output_tokens(self) -> int:
        """The completion tokens the request reserves: ``max_completion_tokens`` or
        ``max_tokens``, 0 when neither is set."""
        r = self.request
        return r.max_completion_tokens or r.max_tokens or 0

    def count(self, messages: Sequence[Message]) -> int:
        r = self.request
        return self.counter.count_messages(messages, r.model, r.tools)

    def replace_messages(self, messages: tuple[Message, ...], prompt_tokens: int) -> None:
        self.request = attrs.evolve(self.request, messages=messages)
        self._prompt_tokens = prompt_tokens


# Tokens a chat template adds around one message, generously: OpenAI's format adds 3-4
# (cookbook, "How to count tokens with tiktoken"), ChatML and Llama 3 about 5.
_TEMPLATE_TOKENS = 32


def _max_bytes(s: str) -> int:
    # UTF-8 bytes of s, bounded in O(1): a non-ASCII code point takes at most 4.
    return len(s) if s.isascii() else 4 * len(s)


def prompt_upper_bound(req: ChatRequest) -> int | None:
    """Prompt tokens ``req`` cannot exceed: the UTF-8 bytes of its strings (a subword
    tokenizer's token stands for at least one byte: byte-level BPE as tiktoken,
    SentencePiece with byte fallback) plus :data:`_TEMPLATE_TOKENS` per message and for
    the reply. ``None`` with tools or non-text parts (an image's tokens do not follow
    from its URL's bytes). Lets :func:`fit_context` skip the exact count for the many
    requests far below the window."""
    if req.tools:
        return None
    msgs = req.messages
    return derived(msgs, "byte-bound", _messages_bound, msgs)


def _messages_bound(messages: Sequence[Message]) -> int | None:
    n = _TEMPLATE_TOKENS
    for m in messages:
        n += _TEMPLATE_TOKENS
        c = m.content
        if isinstance(c, str):
            n += _max_bytes(c)
        elif c is not None:
            for part in c:
                if not isinstance(part, TextPart):
                    return None
                n += _max_bytes(part.text)
        for s in (m.name, m.tool_call_id, m.refusal, m.reasoning_content):
            if s:
                n += _max_bytes(s)
        for tc in m.tool_calls or ():
            n += _TEMPLATE_TOKENS + _max_bytes(tc.id) + _max_bytes(tc.function.name)
            n += _max_bytes(tc.function.arguments)
    return n


def resolve_truncate(c: Engine, truncate: TruncateOption) -> TruncateMode | None:
    """The strategy in force: the call's ``truncate``, else the config's. Raises
    ``ValueError`` naming the accepted values for anything else."""
    if truncate is None:  # most calls: nothing to check
        return c.config.modelbus.truncate
    check_truncate(truncate)
    return truncate or None


def fit_context(c: Engine, route: Route, est: Estimate, truncate: TruncateMode | None) -> None:
    """Make the prompt fit the model's limits from the catalog, or raise.

    Limits: ``context_window - max_tokens`` and ``max_input_tokens``, where known; a
    model the catalog does not know (or without limits) is sent unchecked. Over the
    limit, without ``truncate``: :class:`ContextLengthExceededError` naming the prompt
    tokens, ``max_tokens`` and the window, raised without calling the provider. With
    ``truncate``: the messages are cut (``_context``); if that cannot get under the
    limit, the same error (with the tokens after cutting)."""
    entry = est.entry
    if entry is None or (entry.context_window is None and entry.max_input_tokens is None):
        return
    reserve = est.max_output_tokens
    window, max_input = entry.context_window, entry.max_input_tokens
    if window is None:
        limit = max_input
    else:
        limit = window - reserve if max_input is None else min(window - reserve, max_input)
    assert limit is not None  # one of the two is set (checked above)
    bound = prompt_upper_bound(est.request)
    if bound is not None and bound <= limit:
        return  # fits under any tokenizer: no exact count (tiktoken loads in ~0.3 s)
    prompt = est.prompt_tokens
    if prompt <= limit:
        return
    if truncate is not None and limit > 0:
        messages, prompt = fit_messages(est.request.messages, limit, est.count, truncate)
        if prompt <= limit:
            est.replace_messages(messages, prompt)
            return
    model = est.request.model
    if entry.context_window is not None and prompt + reserve > entry.context_window:
        how = f" after truncate={truncate!r}" if truncate else ""
        msg = (
            f"{prompt} prompt tokens{how} + {reserve} max_tokens exceed the context "
            f"window of {model} ({entry.context_window} tokens)"
        )
    else:
        msg = (
            f"{prompt} prompt tokens exceed the input limit of {model} "
            f"({entry.max_input_tokens} tokens)"
        )
    raise ContextLengthExceededError(
        msg,
        prompt_tokens=prompt,
        context_window=entry.context_window or entry.max_input_tokens,
        provider=route.provider,
    )


_noted_params: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()


def fit_params(c: Engine, route: Route, est: Estimate) -> None:
    """Adapt the request to its model's capability flags (``_adapt_params``), logging
    each kind of change once per client (``params_adapted``); raises
    :class:`BadRequestError` for what cannot be adapted or under
    ``unsupported_params = "error"``."""
    req, notes = adapt_request(
        est.request,
        est.entry,
        c.config.modelbus.unsupported_params,
        provider=route.provider,
        params=supported_params(c.provider(route.provider)),  # Capabilities.params
    )
    if not notes:
        return
    est.request = req
    noted = _noted_params.setdefault(c, set())
    for note in notes:
        if note not in noted:
            noted.add(note)
            c.log_warning("params_adapted", model=req.model, detail=note)


def prepare(
    c: Engine, route: Route, req: ChatRequest, truncate: TruncateOption = None
) -> tuple[ChatRequest, Hold | None]:
    """The request to send after every pre-send step (module doc), and its budget
    reservation (``None``: no budget applies), which the caller settles, refunds or
    releases (:class:`~modelbus._limits.budgets.Hold`). Raises
    :class:`ContextLengthExceededError` or :class:`BudgetExceededError` without calling
    the provider; ``ValueError`` for a bad ``truncate``."""
    if not prepare_awaits(c, route):
        return fitted(c, route, req, truncate), None
    est = _checked(c, route, req, truncate)
    hold = reserve(c, route, est) if budgets_configured(c) else None
    if not rate_limits_configured(c, route):
        return est.request, hold
    try:
        rate_limit(c, route, est.request, lambda: est.prompt_tokens + est.max_output_tokens)
    except BaseException:
        if hold is not None:
            hold.refund()  # nothing was sent
        raise
    return est.request, hold


def prepare_awaits(c: Engine, route: Route) -> bool:
    """Whether :func:`aprepare` has anything to await on ``route`` (a budget or a rate
    limit); when not, the async drivers call :func:`prepare`, which does the same work
    without a coroutine per call."""
    return budgets_configured(c) or rate_limits_configured(c, route)


async def aprepare(
    c: Engine, route: Route, req: ChatRequest, truncate: TruncateOption = None
) -> tuple[ChatRequest, Hold | None]:
    """The async twin of :func:`prepare` (rate limits awaited with ``clock.asleep``).
    The budget and rate-limit steps are awaited only when one is configured."""
    est = _checked(c, route, req, truncate)
    hold = await areserve(c, route, est) if budgets_configured(c) else None
    if not rate_limits_configured(c, route):
        return est.request, hold
    try:
        await arate_limit(c, route, est.request, lambda: est.prompt_tokens + est.max_output_tokens)
    except BaseException:
        if hold is not None:
            await hold.asettle(0.0)
        raise
    return est.request, hold


_FITTED_SIZE = 1024  # requests remembered per engine


def fitted(c: Engine, route: Route, req: ChatRequest, truncate: TruncateOption) -> ChatRequest:
    """The request after :func:`fit_params` and :func:`fit_context` (all of
    :func:`prepare` when no budget or rate limit applies), raising what they raise.
    Remembered per engine for a request :func:`~modelbus._wire.message_memo.derived`
    handed out (the same messages and parameters sent again): what it comes to depends
    only on the request, the provider, the truncate mode and the engine's catalog and
    config, all unchanging; an error is not remembered."""
    if not shared(req):
        return _checked(c, route, req, truncate).request
    mode = resolve_truncate(c, truncate)
    memo: dict[Any, tuple[ChatRequest, ChatRequest]] | None = c.step_state.get("fitted")
    if memo is None:
        memo = c.step_state.setdefault("fitted", {})
    key = (id(req), route.provider, mode)
    known = memo.get(key)
    if known is not None and known[0] is req:  # the reference held keeps the id
        return known[1]
    out = _checked(c, route, req, truncate).request
    if len(memo) >= _FITTED_SIZE:
        memo.clear()
    memo[key] = (req, out)
    return out


def _checked(c: Engine, route: Route, req: ChatRequest, truncate: TruncateOption) -> Estimate:
    est = Estimate.of(c, route, req)
    fit_params(c, route, est)
    fit_context(c, route, est, resolve_truncate(c, truncate))
    return est
