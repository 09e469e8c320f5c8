"""Which deployment of a pool the next attempt goes to: a pure decision.

:func:`choose` gets a :class:`DeploymentView` of each deployment (its weight, the
seconds left of its cooldown, its calls in flight, its recent latency and its rpm/tpm
head-room) and one number drawn from ``[0, 1)`` by the caller, and returns the index of
the deployment to use. It reads no clock and draws no randomness itself, so tests drive
it with a fake clock and a seeded or fixed sequence (``tests/core/test_router.py``).
:func:`cools_down` says which failures take a deployment out of the draw for a while.

Rules, the same for every strategy:

1. a deployment cooling down is never chosen while another one is not;
2. when every deployment is cooling down the one whose cooldown ends first is chosen
   (the call goes out as it would without a pool, and the retry policy's delays
   apply), so a pool of one always uses its deployment;
3. among the candidates left, the strategy narrows them down (``least-busy``: fewest
   calls in flight; ``latency``: lowest latency, a deployment not measured yet counting
   as the fastest so that it gets measured; ``usage``: most head-room), then a weighted
   draw picks one of the ties (``weighted``: of all candidates), so in the long run each
   deployment gets its weight's share of the calls it ties for.

:func:`after_failure` says what a failed attempt does to its deployment and to the call:
a transient failure (:func:`cools_down`) cools the deployment for its ``Retry-After``,
else the pool's ``cooldown_s``; an *account* failure (:func:`account_failure`: out of
credit, key refused) cools it for the pool's ``account_cooldown_s`` and, while another
deployment is healthy, makes the error retryable so the call moves on within its retries;
with none healthy the error stays as it was (not retryable), so the call ends with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ..errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
)

__all__ = [
    "DeploymentView",
    "Failure",
    "account_failure",
    "after_failure",
    "choose",
    "cools_down",
    "retry_hint",
]


@attrs.frozen
class DeploymentView:
    """What the router knows of one deployment: ``weight`` (> 0), ``cooldown_s`` (seconds
    left, 0: healthy), ``in_flight`` (calls sent and not answered, in every process
    sharing the pool state), ``latency_s`` (recent seconds to answer, ``None``: not
    measured) and ``headroom`` (the smallest fraction of its rpm and tpm limits left
    this minute, 0..1; ``None``: no limit)."""

    weight: float = 1.0
    cooldown_s: float = 0.0
    in_flight: int = 0
    latency_s: float | None = None
    headroom: float | None = None


def _weighted(candidates: Sequence[int], views: Sequence[DeploymentView], draw: float) -> int:
    total = sum(views[i].weight for i in candidates)
    target = draw * total
    acc = 0.0
    for i in candidates:
        acc += views[i].weight
        if target < acc:
            return i
    return candidates[-1]  # draw * total rounded up to total


def _best(candidates: list[int], key: list[float]) -> list[int]:
    low = min(key[i] for i in candidates)
    return [i for i in candidates if key[i] == low]


def choose(strategy: str, views: Sequence[DeploymentView], draw: float) -> int:
    """The index in ``views`` of the deployment to use (module doc); ``draw`` is a number
    in ``[0, 1)``. Raises ``ValueError`` for no views or an unknown strategy."""
    if not views:
        raise ValueError("a pool has at least one deployment")
    healthy = [i for i, v in enumerate(views) if v.cooldown_s <= 0]
    if not healthy:
        soonest = min(v.cooldown_s for v in views)
        return next(i for i, v in enumerate(views) if v.cooldown_s == soonest)
    if strategy == "weighted":
        return _weighted(healthy, views, draw)
    key: list[float]
    if strategy == "least-busy":
        key = [float(v.in_flight) for v in views]
    elif strategy == "latency":
        key = [v.latency_s or 0.0 for v in views]
    elif strategy == "usage":
        key = [-(1.0 if v.headroom is None else v.headroom) for v in views]
    else:
        raise ValueError(f"unknown pool strategy {strategy!r}")
    return _weighted(_best(healthy, key), views, draw)


def retry_hint(views: Sequence[DeploymentView], failed: int, hint: float | None) -> float | None:
    """The ``Retry-After`` (seconds) to give the retry runner after deployment ``failed``
    answered with ``hint``: ``None`` when another deployment is healthy (the next attempt
    goes there after the retry policy's own backoff, not after this deployment's wait),
    else ``hint`` unchanged."""
    if any(v.cooldown_s <= 0 for i, v in enumerate(views) if i != failed):
        return None
    return hint


def cools_down(error: BaseException) -> bool:
    """Whether ``error`` says the deployment cannot answer now (429, 408, 409, >= 500,
    timeout, connection error), so the next attempts should go elsewhere."""
    if isinstance(error, (RateLimitError, ServerError, APITimeoutError, APIConnectionError)):
        return True
    if isinstance(error, ProviderError):
        s = error.status_code
        return s is not None and (s >= 500 or s in (408, 409, 429))
    return isinstance(error, (TimeoutError, ConnectionError))


def account_failure(error: BaseException) -> bool:
    """Whether ``error`` says the deployment's account cannot serve any request until a
    person acts: a 429 with code ``insufficient_quota`` (out of credit or over its
    monthly budget; OpenAI's "Error codes" page), a 401 (key missing, wrong or revoked)
    or a 403 (the key may not use this model, project or region). Another deployment,
    with another account or key, can still answer the same request."""
    if not isinstance(error, ProviderError):
        return False
    if error.code == "insufficient_quota":
        return True
    if isinstance(error, (AuthenticationError, PermissionDeniedError)):
        return True
    return error.status_code in (401, 403)


@attrs.frozen
class Failure:
    """What a failed attempt does: ``cooldown_s`` (seconds its deployment is skipped, 0:
    none), ``retry_after_s`` (the hint to leave on the error for the retry runner) and
    ``move_on`` (``True``: the error must be made retryable, since the call can go on at
    another, healthy deployment although retrying this one cannot help)."""

    cooldown_s: float
    retry_after_s: float | None
    move_on: bool = False


def after_failure(
    views: Sequence[DeploymentView],
    failed: int,
    error: BaseException,
    *,
    cooldown_s: float,
    account_cooldown_s: float,
) -> Failure:
    """The :class:`Failure` of deployment ``failed`` answering ``error`` (module doc):
    ``cooldown_s`` and ``account_cooldown_s`` are the pool's (seconds); a ``Retry-After``
    longer than the account cooldown is honoured."""
    hint = getattr(error, "retry_after_s", None)
    if account_failure(error):
        seconds = max(account_cooldown_s, float(hint or 0.0))
    elif cools_down(error):
        seconds = float(hint) if hint is not None and hint > 0 else cooldown_s
    else:
        return Failure(0.0, hint)
    others = any(v.cooldown_s <= 0 for i, v in enumerate(views) if i != failed)
    return Failure(seconds, None if others else hint, others and account_failure(error))
