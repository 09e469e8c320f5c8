"""A call's own controls (:class:`CallOptions`) and the one value every call mode runs
through (:class:`Call`)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import attrs

from .._tokens.context_window import TruncateOption, check_truncate
from .timeouts import check_timeout

if TYPE_CHECKING:
    from .._routing.resolve import Route
    from .._wire.types import ChatRequest

CacheMode = Literal["use", "refresh", "bypass", "only"]
CACHE_MODES = ("use", "refresh", "bypass", "only")

__all__ = ["CACHE_MODES", "CacheMode", "Call", "CallOptions", "call_options", "check_cache_tags"]


def check_cache_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """``cache_tags`` as a tuple; ``TypeError`` for one string (it would be read as one
    tag per character) or a tag that is not a string."""
    if isinstance(tags, (str, bytes)):
        raise TypeError(
            f"cache_tags must be a list of str, not one {type(tags).__name__}: "
            f"cache_tags=[{tags!r}]"
        )
    out = tuple(tags)
    for t in out:
        if not isinstance(t, str):
            raise TypeError(f"each of cache_tags must be a str, got {t!r}")
    return out


@attrs.frozen
class CallOptions:
    """Per-call controls: ``cache`` mode (``use`` | ``refresh`` | ``bypass`` | ``only``),
    ``cache_ttl_s`` in seconds (``None``: the client's default), ``cache_tags``,
    ``truncate`` (``"oldest"`` | ``"middle"`` | ``False`` | ``None``: the config's),
    ``timeout_s`` (seconds per attempt; ``None``: the model's, else the provider's).
    Raises ``ValueError``/``TypeError`` naming the accepted values."""

    cache: CacheMode = "use"
    cache_ttl_s: float | None = None
    cache_tags: tuple[str, ...] = attrs.field(default=(), converter=check_cache_tags)
    truncate: TruncateOption = None
    timeout_s: float | None = attrs.field(default=None, converter=check_timeout)

    def __attrs_post_init__(self) -> None:
        if self.cache not in CACHE_MODES:
            raise ValueError(f"cache must be one of {CACHE_MODES}, got {self.cache!r}")
        ttl = self.cache_ttl_s
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float))):
            raise TypeError(f"cache_ttl_s must be a number of seconds or None, got {ttl!r}")
        check_truncate(self.truncate)


DEFAULT_OPTIONS = CallOptions()


def call_options(
    cache: CacheMode,
    cache_ttl_s: float | None,
    cache_tags: Iterable[str],
    truncate: TruncateOption,
    timeout: float | None = None,
) -> CallOptions:
    """The CallOptions of a call; the shared default one when nothing is set (checking
    and building them costs a microsecond, a tenth of a memory-cache hit)."""
    if (
        cache == "use"
        and cache_ttl_s is None
        and cache_tags == ()
        and truncate is None
        and timeout is None
    ):
        return DEFAULT_OPTIONS
    return CallOptions(cache, cache_ttl_s, cache_tags, truncate, timeout)


@attrs.define
class Call:
    """One chat call as the engine runs it, whatever the mode (chat, achat, stream,
    astream): where it goes (``route``), what is sent (``request``), its ``options``, and
    when the caller made it (``t0``, ``time.perf_counter()`` seconds: latency counts from
    here, across fallbacks).

    Never changed once made (a fallback makes another, :meth:`to`), but not frozen: a
    frozen class's ``__init__`` sets each field through ``object.__setattr__``, 0.6 µs
    against 0.2 µs, and one Call is made per call."""

    route: Route
    request: ChatRequest
    options: CallOptions = DEFAULT_OPTIONS
    t0: float = attrs.field(factory=time.perf_counter)

    def to(self, route: Route, request: ChatRequest) -> Call:
        """The same call aimed at another model (a fallback), keeping options and ``t0``."""
        return Call(route, request, self.options, self.t0)
